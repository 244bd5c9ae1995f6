//! The pieces of an OAuth flow that several use cases share, so that `connect`, `discover`,
//! `identity`, `callback` and `credentials` import this module and never one another.
//!
//! What a connect asks for and ends in, which server a discovery targets, what an authorization
//! request is made of and how it becomes a pending flow, where a static entry's token calls go,
//! how a token set is sealed, and how discovery failures and token lifetimes are read.

use std::collections::BTreeMap;

use domain::{AuthSpec, Connection, Label, OAuthSpec, Owner, RefId, Scopes, ServerName, Timestamp, Transport};
use ports::{
    AuthorizationRequest, Cipher, ClientCredentials, Clock, DiscoveryError, IdSource, PendingFlow, SecretsUpdate,
    TokenEndpoint, TokenSet,
};
use secrecy::{ExposeSecret, SecretString};

use super::{connection_aad, flow_aad};
use crate::{CatalogEntry, Deps, Directory, Error, flow};

/// A user-supplied MCP server that is not in the catalog (custom server).
#[derive(Debug, Clone, Default)]
pub struct CustomServer {
    pub url: String,
    pub transport: Option<Transport>,
    pub display_name: Option<String>,
    /// `server_config.client_registration` (issue 18 §2).
    pub registration: domain::RegistrationMode,
    /// `server_config.grant_type` (issue 18 §3): a user at a browser, or the client alone.
    pub grant: domain::OAuthGrant,
    /// `server_config.client_id` and its secret or key: a client its user registered at the
    /// server's authorization server, used ahead of a metadata document or a registration.
    pub client: super::own_client::GivenClientParts,
}

/// What `POST /assets/connect` asks for, already parsed.
#[derive(Debug)]
pub struct ConnectRequest {
    /// Whose connection it will be.
    pub owner: Owner,
    pub server_name: ServerName,
    /// The caller's name for the new connection (several accounts on one server).
    pub label: Option<Label>,
    pub api_key: Option<SecretString>,
    pub custom: Option<CustomServer>,
    pub return_to: Option<String>,
    /// The nonce of the browser an OAuth flow must complete in (one started on the hosted
    /// connect page, whose cookie holds it); `None`: any browser (the engine's flows).
    pub browser: Option<SecretString>,
    /// `server_config.identity_assertion`: the user's ID token and their identity provider
    /// (issue 18 §4).
    pub identity_assertion: Option<super::identity_assertion::IdentityAssertionParts>,
    /// `exportable` of the connect body (`None`: `CREDENTIALS_EXPORTABLE`); issue 16.
    pub exportable: Option<bool>,
}

/// How a connection with no browser gets its tokens (`without_browser.rs`).
pub(crate) enum Minting {
    ClientCredentials,
    IdentityAssertion(super::identity_assertion::UserAssertion),
}

/// The result of a connect.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Usable at once (API key or no auth).
    Connected { ref_id: RefId },
    /// The user must visit `auth_url` to grant access.
    PendingOAuth { ref_id: RefId, auth_url: String },
}

/// A server to connect to through discovery.
pub(crate) struct Target<'a> {
    /// Whether the new connection's `…/credentials` may hand out its secret (issue 16).
    pub exportable: bool,
    pub owner: Owner,
    pub server_name: ServerName,
    pub label: Option<Label>,
    pub display_name: Option<String>,
    /// The canonical MCP URL: what is probed, stored and handed to the engine.
    pub url: String,
    pub transport: Transport,
    /// The catalog entry, for its scopes, extra parameters and pre-registered client.
    pub entry: Option<&'a CatalogEntry>,
    /// Hex SHA-256 of the browser nonce the flow is bound to (see [`ConnectRequest::browser`]).
    pub browser_hash: Option<String>,
    /// How the client is found at the authorization server (issue 18 §2).
    pub registration: domain::RegistrationMode,
    /// A custom server's own client, when its user gave one.
    pub given: Option<super::own_client::GivenClient>,
    /// How the connection is authorized.
    pub grant: domain::OAuthGrant,
    /// The user's identity assertion, when the connect brought one.
    pub assertion: Option<super::identity_assertion::UserAssertion>,
}

/// What an authorization request is made of, however its server was found.
#[derive(Debug)]
pub(crate) struct FlowSpec {
    pub authorization_endpoint: String,
    pub client_id: String,
    pub scopes: Scopes,
    pub resource: Option<String>,
    pub extra_params: BTreeMap<String, String>,
    /// The issuer the callback's `iss` is checked against (RFC 9207).
    pub issuer: Option<String>,
    /// Whether the server promised `iss` on the callback.
    pub iss_required: bool,
    /// Where the browser comes back: the only place the flow can complete (RFC 9700 §4.4.2).
    pub redirect_uri: String,
}

impl<D: Deps> Directory<D> {
    /// Refuses a `return_to` that is not in `RETURN_URL_ALLOWLIST`, or whose query already
    /// carries a parameter the callback adds (named, never with its value).
    pub(crate) fn check_return_to(&self, return_to: Option<&str>) -> Result<(), Error> {
        let Some(r) = return_to else { return Ok(()) };
        if !flow::return_to_allowed(r, &self.settings().return_url_allowlist) {
            return Err(Error::validation("return_to", "is not in RETURN_URL_ALLOWLIST"));
        }
        let carried = flow::outcome_params_in(r);
        if !carried.is_empty() {
            let names = carried.join(", ");
            return Err(Error::validation(
                "return_to",
                format!("must not carry {names} in its query: the service adds them when the flow ends"),
            ));
        }
        Ok(())
    }

    /// Builds the pending flow and authorization URL for a static (pre-registered) OAuth entry.
    pub(crate) fn start_flow(
        &self,
        entry: &CatalogEntry,
        oauth: &OAuthSpec,
        ref_id: &RefId,
        return_to: Option<String>,
        scopes: Option<&Scopes>,
    ) -> Result<(PendingFlow, String), Error> {
        let (Some(endpoint), Some(client_id)) = (&oauth.authorization_endpoint, &oauth.client_id) else {
            return Err(Error::internal("an available OAuth entry lacks its endpoint or client id"));
        };
        let spec = FlowSpec {
            authorization_endpoint: endpoint.clone(),
            client_id: client_id.clone(),
            scopes: scopes.unwrap_or(&oauth.scopes).clone(),
            resource: if oauth.send_resource { entry.spec.url.clone() } else { None },
            extra_params: oauth.extra_authorize_params.clone(),
            issuer: oauth.issuer.clone(),
            iss_required: false,
            redirect_uri: self.settings().redirect_uri(),
        };
        self.build_flow(spec, ref_id, return_to)
    }

    /// A pending flow (state, PKCE verifier sealed) and its authorization URL.
    pub(crate) fn build_flow(
        &self,
        spec: FlowSpec,
        ref_id: &RefId,
        return_to: Option<String>,
    ) -> Result<(PendingFlow, String), Error> {
        let ports = self.ports();
        let state = ports.ids.secret_token();
        let verifier = ports.ids.secret_token();
        let state_hash = flow::state_hash(state.expose_secret());
        let now = ports.clock.now();
        let request = AuthorizationRequest {
            authorization_endpoint: spec.authorization_endpoint,
            client_id: spec.client_id,
            redirect_uri: spec.redirect_uri,
            scopes: spec.scopes,
            code_challenge: flow::pkce_challenge(&verifier),
            state,
            resource: spec.resource.clone(),
            extra_params: spec.extra_params,
        };
        let auth_url = flow::authorization_url(&request)
            .map_err(|e| Error::internal(format!("the authorization endpoint is not a URL: {e}")))?;
        let pkce_verifier = ports.cipher.seal(&verifier, &flow_aad(&state_hash));
        let flow = PendingFlow {
            state_hash,
            ref_id: ref_id.clone(),
            issuer: spec.issuer,
            iss_required: spec.iss_required,
            pkce_verifier,
            redirect_uri: request.redirect_uri,
            scopes: request.scopes,
            resource: spec.resource,
            return_to,
            created_at: now,
            expires_at: now.plus_seconds(self.settings().flow_ttl_seconds),
            browser_hash: None,
        };
        Ok((flow, auth_url))
    }

    /// A token set sealed for `connection`, as a store update.
    pub(crate) fn seal_tokens(&self, connection: &Connection, tokens: &TokenSet) -> SecretsUpdate {
        let cipher = &self.ports().cipher;
        SecretsUpdate::Tokens {
            access_token: cipher.seal(&tokens.access_token, &connection_aad(&connection.ref_id, "access_token")),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| cipher.seal(t, &connection_aad(&connection.ref_id, "refresh_token"))),
        }
    }
}

/// The token endpoint of a static catalog entry, with its client credentials.
pub(crate) fn token_endpoint(entry: &CatalogEntry) -> Result<TokenEndpoint, Error> {
    let AuthSpec::OAuth(OAuthSpec {
        token_endpoint: Some(url),
        client_id: Some(client_id),
        token_endpoint_auth_method,
        issuer,
        ..
    }) = &entry.spec.auth
    else {
        return Err(Error::Provider { step: "client lookup", message: "no token endpoint is configured".into() });
    };
    Ok(TokenEndpoint {
        url: url.clone(),
        auth: *token_endpoint_auth_method,
        client: ClientCredentials::with_secret(client_id.clone(), entry.client_secret.clone()),
        audience: Some(issuer.clone().unwrap_or_else(|| url.clone())),
    })
}

/// The life given a client credentials token whose response states none (RFC 6749 §5.1 makes
/// `expires_in` optional): renewed before then, so it is never held for ever.
pub(crate) const UNSTATED_LIFETIME_SECONDS: u64 = 3_600;

/// When a token that lives `expires_in` seconds from `now` expires.
pub(crate) fn expiry(now: Timestamp, expires_in: Option<u64>) -> Option<Timestamp> {
    expires_in.map(|s| now.plus_seconds(i64::try_from(s).unwrap_or(i64::MAX)))
}

/// A discovery failure as a use-case error (the step is the error's own).
pub(crate) fn from_discovery(e: DiscoveryError) -> Error {
    Error::Provider { step: e.step.as_str(), message: e.message }
}
