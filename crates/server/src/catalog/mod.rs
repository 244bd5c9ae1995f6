//! The catalog file (spec §6): JSON decoded, then validated into domain values. A bad file stops
//! start-up with the entry and the field at fault.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use app::{Catalog, CatalogEntry};

use crate::config::check_url;
use domain::{
    ApiKeySpec, AuthMethod, AuthSpec, OAuthGrant, OAuthSpec, RegistrationMode, Scopes, ServerName, ServerSpec,
    TokenEndpointAuth, Transport,
};
use serde::Deserialize;

/// The catalog compiled into the binary: real remote MCP servers (documented in `docs/catalog.md`).
pub const BUILT_IN: &str = include_str!("../../catalog/default.json");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("catalog {source_name}: cannot be read: {reason}")]
    Unreadable { source_name: String, reason: String },
    #[error("catalog {source_name}: not a valid catalog document: {reason}")]
    Malformed { source_name: String, reason: String },
    #[error("catalog {source_name}: entry #{index} (`{name}`), field `{field}`: {reason}")]
    Entry { source_name: String, index: usize, name: String, field: String, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    servers: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    server_name: String,
    display_name: String,
    transport: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    description: Option<String>,
    auth_method: String,
    #[serde(default)]
    oauth: Option<FileOAuth>,
    #[serde(default)]
    api_key: Option<FileApiKey>,
    /// Extension (issue 16): `false` makes every connection of this server non-exportable, its
    /// secret reachable only through the MCP proxy.
    #[serde(default = "exportable_by_default")]
    exportable: bool,
}

fn exportable_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOAuth {
    #[serde(default)]
    discovery: bool,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    /// Extension: the variable that holds the client id, for the built-in catalog's entries.
    #[serde(default)]
    client_id_env: Option<String>,
    #[serde(default)]
    client_secret_env: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    extra_authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    send_resource: Option<bool>,
    /// `auto` (the default), `preregistered`, `cimd` or `dcr` (issue 18 §2).
    #[serde(default)]
    client_registration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApiKey {
    header: String,
    #[serde(default)]
    scheme: Option<String>,
}

/// Reads and validates the catalog at `path`, or the built-in one.
pub fn load(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Catalog, CatalogError> {
    match path {
        Some(path) => {
            let source_name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| CatalogError::Unreadable { source_name: source_name.clone(), reason: e.to_string() })?;
            parse(&text, &source_name, env)
        }
        None => parse(BUILT_IN, "(built-in)", env),
    }
}

/// Validates a catalog document. `env` reads the variables entries name (client id, secret).
pub fn parse(text: &str, source_name: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Catalog, CatalogError> {
    let doc: FileDoc = serde_json::from_str(text).map_err(|e| CatalogError::Malformed {
        source_name: source_name.to_owned(),
        reason: format!("{} at line {} column {}", short_reason(&e), e.line(), e.column()),
    })?;
    let mut seen = HashSet::new();
    let mut entries = Vec::with_capacity(doc.servers.len());
    for (i, entry) in doc.servers.into_iter().enumerate() {
        let name = entry.server_name.clone();
        let at = |field: &str, reason: String| CatalogError::Entry {
            source_name: source_name.to_owned(),
            index: i + 1,
            name: name.clone(),
            field: field.to_owned(),
            reason,
        };
        let spec = validate(entry, env).map_err(|(field, reason)| at(field, reason))?;
        if !seen.insert(spec.name.clone()) {
            return Err(at("server_name", "appears twice in the catalog".into()));
        }
        entries.push(CatalogEntry::resolve(spec, |var| env(var)));
    }
    Ok(Catalog::new(entries))
}

fn short_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    msg.split(" at line ").next().unwrap_or(&msg).to_owned()
}

type FieldError = (&'static str, String);

fn validate(e: FileEntry, env: &dyn Fn(&str) -> Option<String>) -> Result<ServerSpec, FieldError> {
    let name = ServerName::parse(&e.server_name).map_err(|err| ("server_name", err.reason))?;
    if e.display_name.trim().is_empty() {
        return Err(("display_name", "must not be empty".into()));
    }
    let transport = Transport::parse(&e.transport).map_err(|err| ("transport", err.reason))?;
    // `oauth_client_credentials` is OAuth with the client credentials grant (issue 18 §3),
    // `oauth_identity_assertion` with the identity assertion grant (§4).
    let (method, grant) = match e.auth_method.as_str() {
        CLIENT_CREDENTIALS => (AuthMethod::OAuth, OAuthGrant::ClientCredentials),
        IDENTITY_ASSERTION => (AuthMethod::OAuth, OAuthGrant::IdentityAssertion),
        other => (
            AuthMethod::parse(other).map_err(|_| {
                (
                    "auth_method",
                    format!("must be one of oauth, {CLIENT_CREDENTIALS}, {IDENTITY_ASSERTION}, api_key, none"),
                )
            })?,
            OAuthGrant::AuthorizationCode,
        ),
    };
    if let Some(url) = &e.url {
        check_url(url).map_err(|r| ("url", r))?;
    } else if transport != Transport::Stdio {
        return Err(("url", format!("is required for the {} transport", transport.as_str())));
    }
    let auth = match method {
        AuthMethod::None => AuthSpec::None,
        AuthMethod::ApiKey => {
            let key = e.api_key.ok_or(("api_key", "is required when auth_method is api_key".to_owned()))?;
            // RFC 9110 `token` characters.
            let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if key.header.is_empty() || !key.header.bytes().all(token_char) {
                return Err(("api_key.header", "must be an HTTP header name".into()));
            }
            AuthSpec::ApiKey(ApiKeySpec { header: key.header, scheme: key.scheme.filter(|s| !s.is_empty()) })
        }
        AuthMethod::OAuth => {
            let o = e.oauth.ok_or(("oauth", format!("is required when auth_method is {}", e.auth_method)))?;
            AuthSpec::OAuth(check_grant(validate_oauth(o, env, grant)?)?)
        }
    };
    Ok(ServerSpec {
        name,
        display_name: e.display_name,
        transport,
        url: e.url,
        description: e.description,
        auth,
        exportable: e.exportable,
    })
}

fn validate_oauth(
    o: FileOAuth,
    env: &dyn Fn(&str) -> Option<String>,
    grant: OAuthGrant,
) -> Result<OAuthSpec, FieldError> {
    for (field, url) in [
        ("oauth.issuer", &o.issuer),
        ("oauth.authorization_endpoint", &o.authorization_endpoint),
        ("oauth.token_endpoint", &o.token_endpoint),
        ("oauth.revocation_endpoint", &o.revocation_endpoint),
    ] {
        if let Some(url) = url {
            check_url(url).map_err(|r| (field, r))?;
        }
    }
    if o.discovery && o.issuer.is_none() && (o.client_id.is_some() || o.client_id_env.is_some()) {
        // The client's secret would go to whichever authorization server the MCP server names.
        return Err((
            "oauth.issuer",
            "is required when a discovery entry names a pre-registered client (client_id or client_id_env): \
             it pins the authorization server the client's secret is sent to"
                .into(),
        ));
    }
    let needs_authorization = grant == OAuthGrant::AuthorizationCode;
    if !o.discovery && ((needs_authorization && o.authorization_endpoint.is_none()) || o.token_endpoint.is_none()) {
        return Err((
            "oauth.token_endpoint",
            "authorization_endpoint and token_endpoint are required when discovery is false".into(),
        ));
    }
    let auth_method = o
        .token_endpoint_auth_method
        .as_deref()
        .map(TokenEndpointAuth::parse)
        .transpose()
        .map_err(|err| ("oauth.token_endpoint_auth_method", err.reason))?
        .unwrap_or_default();
    let scopes = Scopes::from_tokens(&o.scopes).map_err(|err| ("oauth.scopes", err.reason))?;
    let registration = registration_mode(&o)?;
    let client_id = o.client_id.or_else(|| o.client_id_env.as_deref().and_then(env)).filter(|c| !c.is_empty());
    Ok(OAuthSpec {
        discovery: o.discovery,
        issuer: o.issuer,
        authorization_endpoint: o.authorization_endpoint,
        token_endpoint: o.token_endpoint,
        revocation_endpoint: o.revocation_endpoint,
        client_id,
        client_secret_env: o.client_secret_env,
        token_endpoint_auth_method: auth_method,
        scopes,
        extra_authorize_params: o.extra_authorize_params,
        send_resource: o.send_resource.unwrap_or(o.discovery),
        registration,
        grant,
    })
}

/// The catalog's name for OAuth with the client credentials grant.
const CLIENT_CREDENTIALS: &str = "oauth_client_credentials";
/// The catalog's name for OAuth with the identity assertion grant.
const IDENTITY_ASSERTION: &str = "oauth_identity_assertion";

/// A client credentials entry needs a confidential client of its own: there is no browser to
/// register one through, and a public client has no credentials. An identity assertion entry
/// needs discovery (the ID-JAG's audience and resource) and its pre-registered client (the
/// identity provider names it in the ID-JAG).
fn check_grant(oauth: OAuthSpec) -> Result<OAuthSpec, FieldError> {
    if oauth.grant == OAuthGrant::IdentityAssertion {
        // The ID-JAG's audience and resource are what discovery finds, and it names the client.
        if !oauth.discovery {
            return Err(("oauth.discovery", format!("must be true for {IDENTITY_ASSERTION}")));
        }
        if oauth.client_id.is_none() {
            return Err((
                "oauth.client_id",
                format!("is required for {IDENTITY_ASSERTION}: the client registered at the authorization server"),
            ));
        }
        return Ok(oauth);
    }
    if oauth.grant != OAuthGrant::ClientCredentials {
        return Ok(oauth);
    }
    if oauth.discovery {
        return Err((
            "oauth.discovery",
            "must be false for oauth_client_credentials (with its token_endpoint): discovered client credentials \
             are not supported yet"
                .into(),
        ));
    }
    let proves_itself = match oauth.token_endpoint_auth_method {
        TokenEndpointAuth::PrivateKeyJwt => true,
        TokenEndpointAuth::None => false,
        _ => oauth.client_secret_env.is_some(),
    };
    if !proves_itself {
        return Err((
            "oauth.client_secret_env",
            "is required for oauth_client_credentials, with client_secret_basic or client_secret_post (or use \
             private_key_jwt, signed with the service's key)"
                .into(),
        ));
    }
    Ok(oauth)
}

/// `oauth.client_registration`, consistent with the rest of the entry: `preregistered` needs the
/// client, `cimd` and `dcr` need discovery and no pre-registered client (it would never be used).
fn registration_mode(o: &FileOAuth) -> Result<RegistrationMode, FieldError> {
    const FIELD: &str = "oauth.client_registration";
    let mode = o
        .client_registration
        .as_deref()
        .map(RegistrationMode::parse)
        .transpose()
        .map_err(|err| (FIELD, err.reason))?
        .unwrap_or_default();
    let names_a_client = o.client_id.is_some() || o.client_id_env.is_some();
    match mode {
        RegistrationMode::Preregistered if !names_a_client => {
            Err((FIELD, "preregistered needs the client: client_id or client_id_env".into()))
        }
        RegistrationMode::Cimd | RegistrationMode::Dcr if !o.discovery => {
            Err((FIELD, "cimd and dcr find a client by discovery: they need discovery true".into()))
        }
        RegistrationMode::Cimd | RegistrationMode::Dcr if names_a_client => Err((
            FIELD,
            "cimd and dcr never use a pre-registered client: leave out client_id and client_id_env, or use \
             preregistered"
                .into(),
        )),
        mode => Ok(mode),
    }
}

#[cfg(test)]
mod tests;
