//! [`DiscoveryAdapter`]: the `AuthorizationDiscovery` port over the guarded [`SafeHttp`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{Scopes, Transport};
use ports::{
    AuthServerMetadata, AuthorizationDiscovery, DiscoveryError, DiscoveryErrorKind as Kind, DiscoveryStep as Step,
    ProtectedResource, RegisteredClient, RegistrationRequest, ResourceAccess,
};
use reqwest::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use crate::challenge;
use crate::errors::{MAX_CODE, MAX_DESCRIPTION, Redactor};
use crate::http::{HttpError, SafeHttp};
use crate::metadata;
use crate::wellknown::{self, Fetched, MAX_DOCUMENT, http_failure};

/// How long authorization server metadata is reused by default.
pub const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(600);
/// Most issuers whose metadata is kept at once.
const MAX_CACHED: usize = 512;

/// Authorization server metadata by issuer, each entry for a bounded time.
#[derive(Debug)]
struct MetadataCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, AuthServerMetadata)>>,
}

impl MetadataCache {
    fn get(&self, issuer: &str) -> Option<AuthServerMetadata> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(issuer).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, m)| m.clone())
    }

    fn put(&self, metadata: &AuthServerMetadata) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        if entries.len() >= MAX_CACHED {
            let oldest = entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(metadata.issuer.clone(), (Instant::now(), metadata.clone()));
    }
}

/// Discovery and registration for MCP authorization (spec §5.1, §5.2). Cheap to clone; clones
/// share the metadata cache.
#[derive(Debug, Clone)]
pub struct DiscoveryAdapter {
    http: SafeHttp,
    cache: Arc<MetadataCache>,
}

impl DiscoveryAdapter {
    pub fn new(http: SafeHttp) -> Self {
        Self::with_metadata_ttl(http, DEFAULT_METADATA_TTL)
    }

    /// Keeps authorization server metadata for `ttl` (zero: never reused).
    pub fn with_metadata_ttl(http: SafeHttp, ttl: Duration) -> Self {
        Self { http, cache: Arc::new(MetadataCache { ttl, entries: Mutex::new(HashMap::new()) }) }
    }

    /// The metadata `issuer` publishes, checked, from the cache or its well-known URLs; `None`
    /// when every one of them answers that there is none.
    async fn published_metadata(
        &self,
        issuer: &str,
        issuer_url: &Url,
    ) -> Result<Option<AuthServerMetadata>, DiscoveryError> {
        if let Some(cached) = self.cache.get(issuer) {
            return Ok(Some(cached));
        }
        let step = Step::ServerMetadata;
        if issuer_url.query().is_some() {
            return Err(invalid(step, "the issuer has a query, which RFC 8414 does not allow"));
        }
        for candidate in wellknown::server_metadata_urls(issuer_url) {
            match wellknown::fetch(&self.http, candidate.clone(), step, None).await? {
                Fetched::Absent(_) => {}
                Fetched::Document(body) => {
                    let metadata = metadata::decode_server(&body, issuer).map_err(|m| invalid(step, m))?;
                    self.cache.put(&metadata);
                    return Ok(Some(metadata));
                }
            }
        }
        Ok(None)
    }
}

fn invalid(step: Step, message: impl Into<String>) -> DiscoveryError {
    DiscoveryError::new(step, Kind::Invalid, message)
}

fn parse_http_url(text: &str, step: Step, what: &str) -> Result<Url, DiscoveryError> {
    Url::parse(text)
        .ok()
        .filter(|u| metadata::is_endpoint_url(u.as_str()))
        .ok_or_else(|| invalid(step, format!("the {what} is not an absolute http(s) URL")))
}

/// The `Bearer` challenge's `resource_metadata` and `scope`, when the header holds one. A header
/// outside the grammar is ignored (discovery falls back to the well-known URLs).
fn bearer_challenge(headers: &reqwest::header::HeaderMap) -> Result<(Option<Url>, Option<Scopes>), DiscoveryError> {
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let text = String::from_utf8_lossy(value.as_bytes());
        let Ok(challenges) = challenge::parse(&text) else { continue };
        let Some(bearer) = challenges.iter().find(|c| c.is("Bearer")) else { continue };
        let metadata_url = bearer
            .param("resource_metadata")
            .map(|u| parse_http_url(u, Step::Probe, "challenge's `resource_metadata`"))
            .transpose()?;
        let scope = bearer.param("scope").and_then(|s| Scopes::parse_delimited(s).ok()).filter(|s| !s.is_empty());
        return Ok((metadata_url, scope));
    }
    Ok((None, None))
}

/// Whether the answer challenges only with schemes other than `Bearer` (`Basic`, an API key
/// scheme): such a server does not take OAuth tokens, whatever its revision.
fn challenges_other_schemes_only(headers: &reqwest::header::HeaderMap) -> bool {
    let mut schemes = Vec::new();
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let text = String::from_utf8_lossy(value.as_bytes());
        if let Ok(challenges) = challenge::parse(&text) {
            schemes.extend(challenges.iter().map(|c| c.is("Bearer")));
        }
    }
    !schemes.is_empty() && !schemes.contains(&true)
}

/// The unauthenticated request: MCP `initialize` for streamable HTTP, the event stream for SSE.
fn probe_request(http: &SafeHttp, url: Url, transport: Transport) -> reqwest::RequestBuilder {
    if transport == Transport::Sse {
        return http.request(Method::GET, url).header(ACCEPT, "text/event-stream");
    }
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "asset-directory", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    http.request(Method::POST, url)
        .header(ACCEPT, "application/json, text/event-stream")
        .header(CONTENT_TYPE, "application/json")
        .body(initialize.to_string())
}

#[async_trait]
impl AuthorizationDiscovery for DiscoveryAdapter {
    async fn probe(&self, mcp_url: &str, transport: Transport) -> Result<ResourceAccess, DiscoveryError> {
        let url = parse_http_url(mcp_url, Step::Probe, "MCP server's URL")?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let response = self
            .http
            .send(probe_request(&self.http, url.clone(), transport))
            .await
            .map_err(|e| http_failure(Step::Probe, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(ResourceAccess::Open);
        }
        if status != StatusCode::UNAUTHORIZED {
            let err = match status.as_u16() {
                code if status.is_redirection() => HttpError::Redirect { host, status: code },
                code => HttpError::Status { host, status: code },
            };
            return Err(http_failure(Step::Probe, &err));
        }
        let (metadata_url, challenge_scope) = bearer_challenge(response.headers())?;
        let not_oauth = challenges_other_schemes_only(response.headers());
        drop(response);
        let named = metadata_url.is_some();
        let candidates = metadata_url.map_or_else(|| wellknown::resource_metadata_urls(&url), |u| vec![u]);
        let step = Step::ResourceMetadata;
        let mut tried = Vec::new();
        for candidate in candidates {
            match wellknown::fetch(&self.http, candidate.clone(), step, None).await? {
                Fetched::Absent(status) => tried.push(status.to_string()),
                Fetched::Document(body) => {
                    let doc = metadata::decode_resource(&body, mcp_url).map_err(|m| invalid(step, m))?;
                    return Ok(ResourceAccess::Protected(ProtectedResource {
                        resource: doc.resource,
                        authorization_servers: doc.authorization_servers,
                        scopes_supported: doc.scopes_supported,
                        challenge_scope,
                    }));
                }
            }
        }
        if !named && !not_oauth {
            // Neither named nor at a well-known URL, and a `Bearer` challenge or none: a server
            // of the 2025-03-26 revision.
            return Ok(ResourceAccess::ProtectedWithoutMetadata { challenge_scope });
        }
        // The URLs tried are not named: they hold the path of the URL the request gave, which
        // can carry a secret (some servers put one there), and no message repeats the request.
        let answers = tried.join(", ");
        Err(invalid(
            step,
            format!("{host} publishes no protected resource metadata (the URLs tried answered {answers})"),
        ))
    }

    async fn authorization_server(&self, issuer: &str) -> Result<AuthServerMetadata, DiscoveryError> {
        let step = Step::ServerMetadata;
        let issuer_url = parse_http_url(issuer, step, "issuer")?;
        if let Some(metadata) = self.published_metadata(issuer, &issuer_url).await? {
            return Ok(metadata);
        }
        let host = issuer_url.host_str().unwrap_or_default();
        // The paths tried hold the issuer's path, which the resource named: not repeated.
        Err(invalid(
            step,
            format!(
                "{host} publishes no authorization server metadata (tried its oauth-authorization-server and \
                 openid-configuration well-known documents)"
            ),
        ))
    }

    async fn origin_authorization_server(&self, origin: &str) -> Result<AuthServerMetadata, DiscoveryError> {
        let step = Step::ServerMetadata;
        let origin_url = parse_http_url(origin, step, "MCP server's origin")?;
        if origin_url.origin().ascii_serialization() != origin {
            return Err(invalid(step, "the authorization server of a server without metadata is its origin alone"));
        }
        let published = self.published_metadata(origin, &origin_url).await?;
        Ok(published.unwrap_or_else(|| metadata::default_endpoints(origin)))
    }

    async fn register_client(
        &self,
        registration_endpoint: &str,
        request: &RegistrationRequest,
    ) -> Result<RegisteredClient, DiscoveryError> {
        let step = Step::Registration;
        let url = parse_http_url(registration_endpoint, step, "registration endpoint")?;
        let mut body = json!({
            "client_name": request.client_name,
            "application_type": "web",
            "redirect_uris": [request.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": request.auth.as_str(),
        });
        if !request.scopes.is_empty() {
            body["scope"] = json!(request.scopes.to_delimited());
        }
        let outbound = self
            .http
            .request(Method::POST, url)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let response = self.http.send(outbound).await.map_err(|e| http_failure(step, &e))?;
        let status = response.status();
        let host = response.url().host_str().unwrap_or_default().to_owned();
        if status.is_redirection() || status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            let err = if status.is_redirection() {
                HttpError::Redirect { host, status: status.as_u16() }
            } else {
                HttpError::Status { host, status: status.as_u16() }
            };
            return Err(http_failure(step, &err));
        }
        let body = SafeHttp::read_body(response, MAX_DOCUMENT).await.map_err(|e| http_failure(step, &e))?;
        if status.is_success() {
            return metadata::decode_registration(&body, request).map_err(|m| invalid(step, m));
        }
        Err(refusal(status.as_u16(), &body))
    }
}

/// RFC 7591 §3.2.2's error codes: the only ones a refused registration is shown with.
const REGISTRATION_CODES: [&str; 4] =
    ["invalid_redirect_uri", "invalid_client_metadata", "invalid_software_statement", "unapproved_software_statement"];

/// A registration the server refused. The answer names an RFC 7591 code in fixed words and
/// nothing else the server wrote (its description, or a code of its own, could put any words
/// in the service's answer); the operator's log keeps them, cleaned and cut short.
fn refusal(status: u16, body: &[u8]) -> DiscoveryError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(serde_json::Value::as_str);
    let Some(code) = field("error") else {
        return invalid(Step::Registration, format!("the registration endpoint answered status {status}"));
    };
    let clean = Redactor::new([]);
    tracing::warn!(
        status,
        code = %clean.clean(code, MAX_CODE),
        description = %clean.clean(field("error_description").unwrap_or_default(), MAX_DESCRIPTION),
        "an authorization server refused the service's registration"
    );
    let message = match REGISTRATION_CODES.iter().find(|known| **known == code) {
        Some(known) => format!("the server refused the registration ({known})"),
        None => "the server refused the registration with an error code outside RFC 7591".to_owned(),
    };
    DiscoveryError::new(Step::Registration, Kind::Refused, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_registration_names_only_an_rfc_7591_code_never_the_servers_words() {
        let known = refusal(400, br#"{"error":"invalid_redirect_uri","error_description":"call 555 now"}"#);
        assert_eq!(known.message, "the server refused the registration (invalid_redirect_uri)");
        let own = refusal(400, "{\"error\":\"call_\u{202e}555_now\"}".as_bytes());
        assert!(!own.message.contains("555") && own.message.contains("outside RFC 7591"), "{}", own.message);
        let not_oauth = refusal(403, b"<html>go away</html>");
        assert!(!not_oauth.message.contains("away"), "{}", not_oauth.message);
    }
}
