//! Strict decoders for the discovery documents: protected resource metadata (RFC 9728),
//! authorization server metadata (RFC 8414) and registration answers (RFC 7591).
//!
//! Each takes the raw body and the value the document must vouch for (the resource, the issuer,
//! the redirect URI), and refuses a document that does not: a wrong type, a missing field, an
//! endpoint that is not an absolute http(s) URL, an identifier that differs. Messages name the
//! field, never a value from the body. Decoding never panics, whatever the bytes.

use domain::{Scopes, TokenEndpointAuth};
use ports::{AuthServerMetadata, RegisteredClient, RegistrationRequest};
use secrecy::SecretString;
use serde_json::{Map, Value};
use url::Url;

/// A decoded protected resource metadata document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDocument {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Option<Scopes>,
}

/// A JSON object whose fields are read with checks, naming the field on error.
struct Doc(Map<String, Value>);

type Decoded<T> = Result<T, String>;

impl Doc {
    fn parse(body: &[u8], what: &str) -> Decoded<Self> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(format!("the {what} is not a JSON object")),
            Err(_) => Err(format!("the {what} is not JSON")),
        }
    }

    /// A field that is absent or `null` reads as `None`.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Decoded<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    }

    fn required(&self, name: &str) -> Decoded<&str> {
        self.string(name)?.filter(|s| !s.is_empty()).ok_or_else(|| format!("`{name}` is missing"))
    }

    fn url(&self, name: &str) -> Decoded<Option<String>> {
        match self.string(name)? {
            None => Ok(None),
            Some(text) if is_endpoint_url(text) => Ok(Some(text.to_owned())),
            Some(_) => Err(format!("`{name}` is not an absolute http(s) URL")),
        }
    }

    fn required_url(&self, name: &str) -> Decoded<String> {
        self.url(name)?.ok_or_else(|| format!("`{name}` is missing"))
    }

    fn strings(&self, name: &str) -> Decoded<Option<Vec<String>>> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let items = value.as_array().ok_or_else(|| format!("`{name}` is not an array"))?;
        items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| format!("`{name}` holds a value that is not a string"))
            })
            .collect::<Decoded<Vec<_>>>()
            .map(Some)
    }

    fn scopes(&self, name: &str) -> Decoded<Option<Scopes>> {
        self.strings(name)?
            .map(|list| Scopes::from_tokens(&list).map_err(|_| format!("`{name}` holds an invalid scope")))
            .transpose()
    }

    fn flag(&self, name: &str) -> Decoded<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("`{name}` is not a boolean")),
        }
    }
}

/// An absolute `http`/`https` URL with a host and no fragment (the SSRF rule is applied when
/// it is called, not here).
pub fn is_endpoint_url(text: &str) -> bool {
    Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host() && u.fragment().is_none())
}

/// Whether two resource identifiers name the same resource: equal once parsed (scheme and host
/// case, default port and an empty path normalised), fragments refused.
pub fn same_resource(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a.fragment().is_none() && b.fragment().is_none() && a == b,
        _ => false,
    }
}

/// Whether the `resource` a server declares covers the MCP server at `server` (RFC 9728 §3.3 and
/// the MCP specification's resource rules): the same resource, or one of the same origin whose
/// path is a prefix of the server's by whole segments (`/a` covers `/a/b`, never `/ab`), without
/// a query of its own. Metadata found at the root well-known location commonly names the origin.
pub fn covers_resource(declared: &str, server: &str) -> bool {
    if same_resource(declared, server) {
        return true;
    }
    let (Ok(declared), Ok(server)) = (Url::parse(declared), Url::parse(server)) else { return false };
    if declared.fragment().is_some() || declared.query().is_some() || declared.origin() != server.origin() {
        return false;
    }
    let prefix = declared.path().trim_end_matches('/');
    let path = server.path();
    prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// RFC 9728 §3.2: the document must name a resource that covers `expected` (§3.3,
/// [`covers_resource`]) and list at least one authorization server (MCP requires one). The
/// resource it names is the one tokens are requested for (RFC 8707).
pub fn decode_resource(body: &[u8], expected: &str) -> Decoded<ResourceDocument> {
    let doc = Doc::parse(body, "protected resource metadata")?;
    let resource = doc.required("resource")?;
    if !covers_resource(resource, expected) {
        return Err("its `resource` is neither the MCP server's URL nor a parent of it on the same origin".to_owned());
    }
    let servers = doc.strings("authorization_servers")?.unwrap_or_default();
    if servers.is_empty() {
        return Err("`authorization_servers` is missing or empty".to_owned());
    }
    // An issuer is kept, logged and compared as sent: whitespace or a control character, which
    // the URL parser would silently drop, makes it no issuer.
    let clean = |s: &str| !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !servers.iter().all(|s| clean(s) && is_endpoint_url(s) && !s.contains('?')) {
        return Err("`authorization_servers` holds a value that is not an issuer URL".to_owned());
    }
    Ok(ResourceDocument {
        resource: resource.to_owned(),
        authorization_servers: servers,
        scopes_supported: doc.scopes("scopes_supported")?,
    })
}

/// RFC 8414 §3.3: `issuer` must be identical to the issuer used, and the endpoints must be URLs.
/// What a code flow needs besides (PKCE `S256`, which MCP requires, and an authorization endpoint)
/// is checked by the code flow ([`AuthServerMetadata::code_flow`]): a server that mints tokens
/// for clients alone publishes none of it.
pub fn decode_server(body: &[u8], expected_issuer: &str) -> Decoded<AuthServerMetadata> {
    let doc = Doc::parse(body, "authorization server metadata")?;
    if doc.required("issuer")? != expected_issuer {
        return Err("its `issuer` is not the issuer it was fetched for".to_owned());
    }
    let methods = doc.strings("code_challenge_methods_supported")?.unwrap_or_default();
    Ok(AuthServerMetadata {
        issuer: expected_issuer.to_owned(),
        authorization_endpoint: doc.url("authorization_endpoint")?,
        response_types_supported: doc.strings("response_types_supported")?,
        token_endpoint: doc.required_url("token_endpoint")?,
        revocation_endpoint: doc.url("revocation_endpoint")?,
        registration_endpoint: doc.url("registration_endpoint")?,
        scopes_supported: doc.scopes("scopes_supported")?,
        code_challenge_methods_supported: methods,
        token_endpoint_auth_methods_supported: doc.strings("token_endpoint_auth_methods_supported")?,
        iss_parameter_supported: doc.flag("authorization_response_iss_parameter_supported")?,
        client_id_metadata_document_supported: doc.flag("client_id_metadata_document_supported")?,
        default_endpoints: false,
        // A hint only: a malformed value is no reason to refuse a server every other grant works with.
        grant_types_supported: doc.strings("grant_types_supported").ok().flatten(),
    })
}

/// What the 2025-03-26 revision of MCP told a client to use when an MCP server's origin publishes
/// no authorization server metadata: `/authorize`, `/token` and `/register` at that origin, PKCE
/// `S256` (which that revision required of every server), and RFC 8414's defaults for the rest
/// (no revocation endpoint, `client_secret_basic` at the token endpoint, no `iss`).
pub fn default_endpoints(origin: &str) -> AuthServerMetadata {
    AuthServerMetadata {
        issuer: origin.to_owned(),
        authorization_endpoint: Some(format!("{origin}/authorize")),
        response_types_supported: None,
        token_endpoint: format!("{origin}/token"),
        revocation_endpoint: None,
        registration_endpoint: Some(format!("{origin}/register")),
        scopes_supported: None,
        code_challenge_methods_supported: vec!["S256".to_owned()],
        token_endpoint_auth_methods_supported: None,
        iss_parameter_supported: false,
        client_id_metadata_document_supported: false,
        default_endpoints: true,
        grant_types_supported: None,
    }
}

/// RFC 7591 §3.2.1: a `client_id`, a secret when the method needs one, and the redirect URI
/// exactly as asked when the answer lists them.
pub fn decode_registration(body: &[u8], request: &RegistrationRequest) -> Decoded<RegisteredClient> {
    let doc = Doc::parse(body, "registration response")?;
    let client_id = doc.required("client_id")?.to_owned();
    // The service registers with a secret or none; a server that answers `private_key_jwt` made a
    // client whose keys it was never given.
    let auth = match doc.string("token_endpoint_auth_method")? {
        None => request.auth,
        Some(method) => TokenEndpointAuth::parse(method)
            .ok()
            .filter(|m| *m != TokenEndpointAuth::PrivateKeyJwt)
            .ok_or_else(|| "`token_endpoint_auth_method` is not one this client supports".to_owned())?,
    };
    let client_secret =
        doc.string("client_secret")?.filter(|s| !s.is_empty()).map(|s| SecretString::from(s.to_owned()));
    if auth.uses_secret() && client_secret.is_none() {
        return Err("`client_secret` is missing for a confidential client".to_owned());
    }
    if let Some(uris) = doc.strings("redirect_uris")? {
        if !uris.contains(&request.redirect_uri) {
            return Err("`redirect_uris` does not hold the redirect URI that was registered".to_owned());
        }
    }
    let secret_expires_at = match doc.get("client_secret_expires_at") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(0) => None,
            Some(at) if at > 0 => Some(at),
            _ => return Err("`client_secret_expires_at` is not a time".to_owned()),
        },
    };
    Ok(RegisteredClient { client_id, client_secret, auth, secret_expires_at })
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
