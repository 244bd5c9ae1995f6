//! Connecting through MCP authorization discovery (spec §5.1–§5.3): catalog entries with
//! `"discovery": true`, and custom servers given by URL.
//!
//! probe → protected resource metadata → authorization server metadata → client identity →
//! authorization URL. Nothing is stored until every step has succeeded, so a failure leaves no
//! pending connection behind; a server that needs no authorization is connected at once.

use std::collections::BTreeMap;

use domain::{
    AuthMethod, AuthSpec, Connection, Label, NewConnection, OAuthGrant, OAuthSpec, Owner, RegistrationMode, Scopes,
    ServerName, Transport,
};
use ports::{
    AuditKind, AuthorizationDiscovery, Clock, ConnectionStore, DiscoveredAuthorization, DiscoveryErrorKind,
    DiscoveryStep, IdSource, PendingFlow, ProtectedResource, RegistrationStore, ResourceAccess, StoredSecrets,
};

use super::flow_parts::{ConnectOutcome, CustomServer, FlowSpec, Minting, Target, from_discovery};
use super::identity_assertion::UserAssertion;
use super::own_client::GivenClient;
use crate::{CatalogEntry, Deps, Directory, Error, issuer_key};

/// Longest custom URL or display name accepted.
const MAX_URL_LEN: usize = 2048;
const MAX_DISPLAY_NAME_LEN: usize = 200;

/// The canonical form of a custom server's URL: absolute http(s), a host, no credentials, no
/// fragment; scheme and host lowercase as the URL standard writes them.
fn canonical_url(raw: &str) -> Result<String, Error> {
    let invalid = || Error::validation("server_config.url", "must be an absolute https URL of the MCP endpoint");
    if raw.len() > MAX_URL_LEN {
        return Err(invalid());
    }
    let mut url = url::Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "https" | "http") || !url.has_host() || !url.username().is_empty() {
        return Err(invalid());
    }
    if url.password().is_some() {
        return Err(invalid());
    }
    url.set_fragment(None);
    Ok(url.into())
}

/// Scopes as spec §5.3 chooses them: the challenge's, else the resource's `scopes_supported`,
/// else the catalog's; `offline_access` added when the authorization server lists it.
fn choose_scopes(
    challenge: Option<Scopes>,
    supported: Option<Scopes>,
    catalog: Scopes,
    server: Option<&Scopes>,
) -> Scopes {
    let scopes = challenge.or(supported).unwrap_or(catalog);
    if server.is_some_and(|s| s.contains("offline_access")) { scopes.with("offline_access") } else { scopes }
}

impl<D: Deps> Directory<D> {
    /// `POST /assets/connect` for a name that is not in the catalog, with `server_config.url`.
    pub(crate) async fn connect_custom(
        &self,
        (owner, server_name, label, exportable): (Owner, ServerName, Option<Label>, bool),
        custom: CustomServer,
        assertion: Option<UserAssertion>,
        return_to: Option<String>,
    ) -> Result<ConnectOutcome, Error> {
        let url = canonical_url(&custom.url)?;
        let transport = custom.transport.unwrap_or(Transport::StreamableHttp);
        if transport == Transport::Stdio {
            return Err(Error::validation("server_config.transport", "a custom server is reached over HTTP"));
        }
        let display_name = custom.display_name.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
        if display_name
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DISPLAY_NAME_LEN || d.chars().any(char::is_control))
        {
            return Err(Error::validation("server_config.display_name", "must be 1 to 200 printable characters"));
        }
        let given = GivenClient::parse(custom.client)?;
        match &given {
            Some(given) => self.check_given(given, custom.registration)?,
            None if custom.registration == RegistrationMode::Preregistered => {
                return Err(Error::validation(
                    "server_config.client_registration",
                    "preregistered needs the client: give server_config.client_id with its secret or key",
                ));
            }
            None if custom.grant.renews_alone() || assertion.is_some() => {
                return Err(Error::validation(
                    "server_config.client_id",
                    "a connection with no browser needs the client registered at the server's authorization \
                     server: give client_id with its secret or key",
                ));
            }
            None => {}
        }
        self.check_return_to(return_to.as_deref())?;
        let target = Target {
            exportable,
            owner,
            server_name,
            label,
            display_name,
            url,
            transport,
            entry: None,
            browser_hash: None,
            registration: custom.registration,
            given,
            grant: custom.grant,
            assertion,
        };
        self.connect_discovered(target, return_to).await
    }

    /// Discovers the server's authorization and starts the flow (or connects an open server).
    pub(crate) async fn connect_discovered(
        &self,
        target: Target<'_>,
        return_to: Option<String>,
    ) -> Result<ConnectOutcome, Error> {
        let ports = self.ports();
        let access = ports.discovery.probe(&target.url, target.transport).await.map_err(|e| {
            let refused_url = e.step == DiscoveryStep::Probe && e.kind == DiscoveryErrorKind::Blocked;
            if refused_url && target.entry.is_none() {
                Error::Validation { field: "server_config.url", message: e.to_string() }
            } else {
                from_discovery(e)
            }
        })?;
        let mut new = NewConnection {
            ref_id: ports.ids.ref_id(),
            owner: target.owner.clone(),
            server_name: target.server_name.clone(),
            label: target.label.clone(),
            display_name: target.display_name.clone(),
            url: Some(target.url.clone()),
            transport: target.transport,
            auth_method: AuthMethod::OAuth,
            exportable: target.exportable,
        };
        let guarded = match Guarded::of(&target.url, access)? {
            Some(guarded) => guarded,
            None if target.given.is_some() || target.assertion.is_some() || target.grant.renews_alone() => {
                // Refused rather than dropped: what the caller gave would be used for nothing.
                let field = match (&target.given, &target.assertion) {
                    (Some(_), _) => "server_config.client_id",
                    (None, Some(_)) => "server_config.identity_assertion",
                    (None, None) => "server_config.grant_type",
                };
                return Err(Error::validation(
                    field,
                    "the MCP server asks for no authorization: connect it without a client, grant_type or \
                     identity_assertion",
                ));
            }
            None => {
                new.auth_method = AuthMethod::None;
                let connection = Connection::connected(new, ports.clock.now());
                let events = self.created_connected(&connection);
                ports.connections.insert(&connection, &StoredSecrets::default(), None, &events).await?;
                return Ok(ConnectOutcome::Connected { ref_id: connection.ref_id });
            }
        };
        let found = self.authorization_for(&target, guarded, &new.ref_id).await?;
        let scopes = found.scopes.clone().without("offline_access");
        match (found.grant, target.assertion) {
            (OAuthGrant::ClientCredentials, _) => {
                return self
                    .connect_without_browser(new, scopes, Some(found.binding), Minting::ClientCredentials)
                    .await;
            }
            (OAuthGrant::IdentityAssertion, Some(assertion)) => {
                let minting = Minting::IdentityAssertion(assertion);
                return self.connect_without_browser(new, scopes, Some(found.binding), minting).await;
            }
            _ => {}
        }
        let connection = Connection::pending(new, ports.clock.now());
        let binding = found.binding;
        let (mut flow, auth_url) = self.build_flow(code_flow(found.spec)?, &connection.ref_id, return_to)?;
        flow.browser_hash = target.browser_hash.clone();
        let created = self.event(&connection, AuditKind::Created, None);
        ports.connections.insert(&connection, &StoredSecrets::default(), Some(flow), &[created]).await?;
        if let Err(e) = ports.registrations.bind_authorization(&binding).await {
            // Without its binding the callback could not find the token endpoint: undo.
            let reason = "undone: the authorization server binding could not be stored".to_owned();
            let undone = self.event(&connection, AuditKind::Disconnected, Some(reason));
            if let Err(undo) = self.store_delete(&connection.owner, &connection.ref_id, &undone).await {
                tracing::warn!(ref_id = %connection.ref_id, error = %undo, "could not remove an unbound connection");
            }
            return Err(e.into());
        }
        self.metrics().oauth_flow(ports::FlowEvent::Started, &connection.owner.tenant);
        Ok(ConnectOutcome::PendingOAuth { ref_id: connection.ref_id, auth_url })
    }

    /// The authorization server a protected resource names, who the service is there, and the
    /// authorization request to make (spec §5.1–§5.3).
    async fn authorization_for(
        &self,
        target: &Target<'_>,
        guarded: Guarded,
        ref_id: &domain::RefId,
    ) -> Result<Discovered, Error> {
        let Guarded { resource, at_origin } = guarded;
        let (issuer, pinned) = choose_issuer(target, &resource.authorization_servers)?;
        let metadata = self.server_metadata(&issuer, at_origin).await?;
        // A server chosen by the resource gets its own redirect URI (RFC 9700 §4.4.2); a pinned
        // one keeps the shared URI its operator registered.
        let key = (!pinned).then(|| issuer_key(&issuer));
        let grant = grant_for(target, &metadata)?;
        // An ID-JAG names the client: only one registered beforehand can present it.
        let registration = match grant {
            OAuthGrant::IdentityAssertion => RegistrationMode::Preregistered,
            _ => target.registration,
        };
        let (client_id, own_client) = match &target.given {
            Some(given) => (given.client_id.clone(), Some(self.seal_given(given, &metadata, ref_id))),
            None => (self.client_identity(target.entry, &metadata, key.as_deref(), registration).await?, None),
        };
        let (catalog_scopes, extra_params) = match target.entry.map(|e| &e.spec.auth) {
            Some(AuthSpec::OAuth(o)) => (o.scopes.clone(), o.extra_authorize_params.clone()),
            _ => (Scopes::empty(), BTreeMap::new()),
        };
        let scopes = choose_scopes(
            resource.challenge_scope,
            resource.scopes_supported,
            catalog_scopes,
            metadata.scopes_supported.as_ref(),
        );
        // Only a user at a browser goes to the authorization endpoint; a server that mints for
        // clients alone need not have one (nor PKCE).
        let spec = match grant {
            OAuthGrant::AuthorizationCode => Some(FlowSpec {
                authorization_endpoint: metadata
                    .code_flow()
                    .map_err(|why| Error::Provider {
                        step: DiscoveryStep::ServerMetadata.as_str(),
                        message: why.into(),
                    })?
                    .to_owned(),
                client_id: client_id.clone(),
                scopes: scopes.clone(),
                resource: Some(resource.resource.clone()),
                extra_params,
                issuer: Some(metadata.issuer.clone()),
                iss_required: metadata.iss_parameter_supported,
                redirect_uri: self.settings().callback_uri(key.as_deref()),
            }),
            OAuthGrant::ClientCredentials | OAuthGrant::IdentityAssertion => None,
        };
        let binding = DiscoveredAuthorization {
            ref_id: ref_id.clone(),
            issuer,
            client_id,
            resource: resource.resource,
            at_origin,
            own_client,
            identity_provider: None,
        };
        Ok(Discovered { spec, scopes, binding, grant })
    }

    /// A new authorization for a discovered connection that is reconnected in place (issue 6):
    /// discovery again from its URL, so it may land at another authorization server. Returns
    /// the flow, its authorization URL and the binding to record; stores nothing.
    pub(crate) async fn rediscover(
        &self,
        connection: &Connection,
        entry: Option<&CatalogEntry>,
        return_to: Option<String>,
        scopes: Option<&Scopes>,
    ) -> Result<(PendingFlow, String, DiscoveredAuthorization), Error> {
        let url = connection.url.clone().ok_or_else(|| Error::internal("a discovered connection has no URL"))?;
        let target = Target {
            exportable: connection.exportable,
            owner: connection.owner.clone(),
            server_name: connection.server_name.clone(),
            label: connection.label.clone(),
            display_name: connection.display_name.clone(),
            url,
            transport: connection.transport,
            entry,
            browser_hash: None,
            // A custom server's own setting is not kept: a reconnect in place uses `auto`, or
            // the client its user gave, which is kept.
            registration: match entry.map(|e| &e.spec.auth) {
                Some(AuthSpec::OAuth(oauth)) => oauth.registration,
                _ => RegistrationMode::Auto,
            },
            // Kept, and pinned to the issuer it was first bound to.
            given: match self.ports().registrations.authorization_of(&connection.ref_id).await? {
                Some(binding) => self.open_given(&binding)?,
                None => None,
            },
            grant: OAuthGrant::AuthorizationCode,
            assertion: None,
        };
        let access = self.ports().discovery.probe(&target.url, target.transport).await.map_err(from_discovery)?;
        let Some(guarded) = Guarded::of(&target.url, access)? else {
            return Err(Error::validation(
                "server_config.ref_id",
                "the server no longer asks for authorization; connect it anew",
            ));
        };
        let found = self.authorization_for(&target, guarded, &connection.ref_id).await?;
        let mut spec = code_flow(found.spec)?;
        if let Some(scopes) = scopes {
            spec.scopes = scopes.clone();
        }
        let (flow, auth_url) = self.build_flow(spec, &connection.ref_id, return_to)?;
        Ok((flow, auth_url, found.binding))
    }
}

/// The authorization server to use of those a protected resource lists. A catalog entry that
/// pins its `oauth.issuer` (as it must when it names a pre-registered client, whose secret would
/// otherwise go to whichever server the resource names) gets that one or none: a resource that
/// does not list it fails before anything is sent anywhere. So does a client its user gave, pinned
/// to the issuer they named (`server_config.issuer`) or, on a reconnect, to the one it was first
/// bound to: an MCP server that later names another server never gets that client's secret sent
/// there. Given with no issuer named, it needs a resource that lists exactly one. Otherwise RFC
/// 9728 §7.6 leaves the choice to the client: the first listed. Returns the issuer and whether a
/// catalog entry pinned it (which keeps the shared redirect URI its operator registered).
fn choose_issuer(target: &Target<'_>, listed: &[String]) -> Result<(String, bool), Error> {
    let refused =
        |message: &str| Error::Provider { step: DiscoveryStep::ServerMetadata.as_str(), message: message.to_owned() };
    let catalog_pin = match target.entry.map(|e| &e.spec.auth) {
        Some(AuthSpec::OAuth(OAuthSpec { issuer: Some(pinned), .. })) => Some(pinned),
        _ => None,
    };
    let given = target.given.as_ref();
    match (catalog_pin, given.and_then(|g| g.issuer.as_ref())) {
        (Some(pinned), _) if listed.contains(pinned) => Ok((pinned.clone(), true)),
        (Some(_), _) => Err(refused(
            "the MCP server does not name the authorization server this catalog entry is pinned to \
             (`oauth.issuer`), so nothing was sent to the server it names",
        )),
        (None, Some(pinned)) if listed.contains(pinned) => Ok((pinned.clone(), false)),
        (None, Some(_)) => Err(refused(
            "the MCP server does not name the authorization server the client was given for, so its \
             credentials were sent nowhere",
        )),
        (None, None) if given.is_some() && listed.len() != 1 => Err(refused(
            "the MCP server names several authorization servers: say which one the client is registered \
             at with server_config.issuer",
        )),
        (None, None) => listed
            .first()
            .map(|issuer| (issuer.clone(), false))
            .ok_or_else(|| Error::internal("a protected resource lists no server")),
    }
}

/// The field an identity assertion comes in.
const ASSERTION: &str = "server_config.identity_assertion";

/// How a discovered connection is authorized: the grant its target asks for, or, for a connect
/// that brings an identity assertion, the identity assertion grant when the authorization server
/// lists `jwt-bearer` among its grants (or the catalog entry or custom server says so).
pub(crate) fn grant_for(target: &Target<'_>, metadata: &ports::AuthServerMetadata) -> Result<OAuthGrant, Error> {
    match (target.grant, target.assertion.is_some()) {
        (OAuthGrant::IdentityAssertion, false) => Err(Error::validation(
            ASSERTION,
            "this server is connected with the user's identity assertion: give identity_assertion",
        )),
        (OAuthGrant::ClientCredentials, true) => {
            Err(Error::validation(ASSERTION, "the client credentials grant takes no identity assertion"))
        }
        (OAuthGrant::AuthorizationCode, true) if !metadata.takes_jwt_bearer() => Err(Error::validation(
            ASSERTION,
            "the authorization server does not list the jwt-bearer grant: it takes no identity assertion",
        )),
        (OAuthGrant::AuthorizationCode, true) => Ok(OAuthGrant::IdentityAssertion),
        (grant, _) => Ok(grant),
    }
    .and_then(|grant| match grant {
        // An ID-JAG names the client: only one registered beforehand can present it.
        OAuthGrant::IdentityAssertion if target.given.is_none() && !names_a_client(target) => Err(Error::validation(
            ASSERTION,
            "the identity assertion grant needs the client registered at the authorization server beforehand, \
             and this server names none",
        )),
        grant => Ok(grant),
    })
}

/// Whether the catalog entry of `target` names a pre-registered client.
fn names_a_client(target: &Target<'_>) -> bool {
    matches!(target.entry.map(|e| &e.spec.auth), Some(AuthSpec::OAuth(o)) if o.client_id.is_some())
}

/// What a server that asks for authorization published about it.
struct Guarded {
    resource: ProtectedResource,
    /// It published no protected resource metadata (a server of the 2025-03-26 revision): its
    /// origin is the authorization server, and the resource is its URL.
    at_origin: bool,
}

impl Guarded {
    /// `None` for a server that needs no authorization.
    fn of(url: &str, access: ResourceAccess) -> Result<Option<Self>, Error> {
        Ok(match access {
            ResourceAccess::Open => None,
            ResourceAccess::Protected(resource) => Some(Self { resource, at_origin: false }),
            ResourceAccess::ProtectedWithoutMetadata { challenge_scope } => {
                let mut parsed =
                    url::Url::parse(url).map_err(|_| Error::internal("a discovered server's URL does not parse"))?;
                let origin = parsed.origin().ascii_serialization();
                // RFC 8707 §2: a resource without a query (which could hold a secret, and would
                // travel in the authorization URL).
                parsed.set_query(None);
                Some(Self {
                    resource: ProtectedResource {
                        resource: parsed.into(),
                        authorization_servers: vec![origin],
                        scopes_supported: None,
                        challenge_scope,
                    },
                    at_origin: true,
                })
            }
        })
    }
}

/// How to authorize at a discovered server: the request, and what the connection is bound to.
struct Discovered {
    /// The authorization request, for a code flow.
    spec: Option<FlowSpec>,
    scopes: Scopes,
    binding: DiscoveredAuthorization,
    /// How the connection is authorized ([`grant_for`]).
    grant: OAuthGrant,
}

/// The authorization request of a code flow ([`Discovered::spec`]).
fn code_flow(spec: Option<FlowSpec>) -> Result<FlowSpec, Error> {
    spec.ok_or_else(|| Error::internal("a code flow without its authorization request"))
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod connect_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> Scopes {
        Scopes::parse_delimited(s).unwrap()
    }

    #[test]
    fn the_challenge_scope_wins_then_the_resource_then_the_catalog() {
        let catalog = scopes("c");
        assert_eq!(choose_scopes(Some(scopes("a")), Some(scopes("b")), catalog.clone(), None), scopes("a"));
        assert_eq!(choose_scopes(None, Some(scopes("b")), catalog.clone(), None), scopes("b"));
        assert_eq!(choose_scopes(None, None, catalog.clone(), None), catalog);
    }

    #[test]
    fn offline_access_is_added_only_when_the_authorization_server_lists_it() {
        let listed = scopes("read offline_access");
        assert_eq!(choose_scopes(Some(scopes("a")), None, Scopes::empty(), Some(&listed)), scopes("a offline_access"));
        assert_eq!(choose_scopes(Some(scopes("a")), None, Scopes::empty(), Some(&scopes("read"))), scopes("a"));
    }

    #[test]
    fn custom_urls_are_canonical_http_urls_without_credentials_or_fragments() {
        assert_eq!(canonical_url("HTTPS://MCP.Example.COM:443/Mcp#frag").unwrap(), "https://mcp.example.com/Mcp");
        for bad in
            ["ftp://x.example/", "mcp.example.com/mcp", "https://user:pw@x.example/", "https://user@x.example/", ""]
        {
            assert!(canonical_url(bad).is_err(), "{bad}");
        }
        assert!(canonical_url(&format!("https://x.example/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    fn assertion_parts() -> crate::IdentityAssertionParts {
        crate::IdentityAssertionParts {
            id_token: Some(secrecy::SecretString::from("eyJ.id.token")),
            idp_issuer: Some("https://idp.example".into()),
            idp_token_endpoint: Some("https://idp.example/token".into()),
            idp_client_id: Some("directory".into()),
            idp_client_secret: None,
        }
    }

    fn target(grant: OAuthGrant, assertion: bool, given: bool) -> Target<'static> {
        let given_parts = crate::GivenClientParts {
            client_id: Some("c".into()),
            client_secret: Some(secrecy::SecretString::from("s")),
            ..Default::default()
        };
        Target {
            exportable: true,
            owner: crate::test_support::owner(),
            server_name: ServerName::parse("s").unwrap(),
            label: None,
            display_name: None,
            url: "https://mcp.example/mcp".into(),
            transport: Transport::StreamableHttp,
            entry: None,
            browser_hash: None,
            registration: RegistrationMode::Auto,
            given: given.then(|| GivenClient::parse(given_parts).unwrap().unwrap()),
            grant,
            assertion: assertion.then(|| UserAssertion::parse(assertion_parts(), None).unwrap()),
        }
    }

    #[test]
    fn the_grant_is_the_one_asked_for_or_the_assertion_the_server_takes_with_a_client_registered_beforehand() {
        let takes = ports::AuthServerMetadata {
            grant_types_supported: Some(vec![ports::AuthServerMetadata::JWT_BEARER.into()]),
            ..crate::test_support::server_metadata("https://as.example", true)
        };
        let takes_none = crate::test_support::server_metadata("https://as.example", true);
        use OAuthGrant::{AuthorizationCode as Code, ClientCredentials as Machine, IdentityAssertion as Assertion};
        let ok = |grant, assertion, given, metadata: &ports::AuthServerMetadata| {
            grant_for(&target(grant, assertion, given), metadata).ok()
        };
        assert_eq!(ok(Code, false, false, &takes), Some(Code), "no assertion: a browser");
        assert_eq!(ok(Code, true, true, &takes), Some(Assertion), "the server lists jwt-bearer");
        assert_eq!(ok(Code, true, true, &takes_none), None, "it does not");
        assert_eq!(ok(Assertion, true, true, &takes_none), Some(Assertion), "asked for: tried");
        assert_eq!(ok(Assertion, false, true, &takes), None, "asked for without one");
        assert_eq!(ok(Machine, true, true, &takes), None, "client credentials take none");
        assert_eq!(ok(Machine, false, true, &takes), Some(Machine));
        assert_eq!(ok(Code, true, false, &takes), None, "no client registered beforehand");
    }
}
