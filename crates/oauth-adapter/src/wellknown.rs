//! Where discovery documents live, and fetching them through the guard.
//!
//! RFC 9728 §3.1 puts protected resource metadata at the well-known name inserted between the
//! host and the resource's path; MCP then tries the root form. RFC 8414 §3.1 does the same for
//! authorization server metadata, and MCP adds OpenID Connect Discovery: for an issuer with a
//! path, OAuth path-inserted, OpenID path-inserted, OpenID path-appended; without one, OAuth
//! then OpenID.

use std::time::Duration;

use ports::{DiscoveryError, DiscoveryErrorKind, DiscoveryStep};
use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::http::{HttpError, SafeHttp};

/// Discovery documents are small; anything larger is not one.
pub(crate) const MAX_DOCUMENT: usize = 256 * 1024;
/// Redirects followed when fetching a document; each hop is checked by the guard again.
const MAX_REDIRECTS: usize = 3;

const RESOURCE_SUFFIX: &str = "/.well-known/oauth-protected-resource";
const OAUTH_SUFFIX: &str = "/.well-known/oauth-authorization-server";
const OPENID_SUFFIX: &str = "/.well-known/openid-configuration";

/// `origin` + `prefix` + `path`, with the query dropped.
fn at(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(path);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// The resource's path without its trailing slashes (`""` for the root).
fn trimmed_path(url: &Url) -> &str {
    url.path().trim_end_matches('/')
}

/// RFC 9728 §3.1 then the root form: where a resource's metadata may be.
pub(crate) fn resource_metadata_urls(resource: &Url) -> Vec<Url> {
    let path = trimmed_path(resource);
    let mut urls = Vec::with_capacity(2);
    if !path.is_empty() {
        urls.push(at(resource, &format!("{RESOURCE_SUFFIX}{path}")));
    }
    urls.push(at(resource, RESOURCE_SUFFIX));
    urls
}

/// The authorization server metadata URLs for `issuer`, in the order MCP gives.
pub(crate) fn server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = trimmed_path(issuer);
    if path.is_empty() {
        return vec![at(issuer, OAUTH_SUFFIX), at(issuer, OPENID_SUFFIX)];
    }
    vec![
        at(issuer, &format!("{OAUTH_SUFFIX}{path}")),
        at(issuer, &format!("{OPENID_SUFFIX}{path}")),
        at(issuer, &format!("{path}{OPENID_SUFFIX}")),
    ]
}

/// A discovery error of `step` from an outbound failure.
pub(crate) fn http_failure(step: DiscoveryStep, err: &HttpError) -> DiscoveryError {
    let kind = match err {
        HttpError::Blocked(_) => DiscoveryErrorKind::Blocked,
        e if e.is_transient() => DiscoveryErrorKind::Unavailable,
        _ => DiscoveryErrorKind::Invalid,
    };
    DiscoveryError::new(step, kind, err.to_string())
}

/// What fetching one candidate URL gave.
pub(crate) enum Fetched {
    Document(Vec<u8>),
    /// A `4xx` (other than `429`): nothing here, try the next candidate.
    Absent(u16),
}

/// GETs `url` for `step`, following up to three redirects (each hop through the guard).
pub(crate) async fn fetch(
    http: &SafeHttp,
    url: Url,
    step: DiscoveryStep,
    timeout: Option<Duration>,
) -> Result<Fetched, DiscoveryError> {
    let mut url = url;
    for _ in 0..=MAX_REDIRECTS {
        let mut request = http.request(Method::GET, url.clone()).header(ACCEPT, "application/json");
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = http.send(request).await.map_err(|e| http_failure(step, &e))?;
        let status = response.status();
        if status.is_redirection() {
            let next = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).and_then(|l| url.join(l).ok());
            let Some(next) = next else {
                let host = url.host_str().unwrap_or_default().to_owned();
                return Err(http_failure(step, &HttpError::Redirect { host, status: status.as_u16() }));
            };
            url = next;
            continue;
        }
        if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
            return Ok(Fetched::Absent(status.as_u16()));
        }
        if !status.is_success() {
            let host = url.host_str().unwrap_or_default().to_owned();
            return Err(http_failure(step, &HttpError::Status { host, status: status.as_u16() }));
        }
        let body = SafeHttp::read_body(response, MAX_DOCUMENT).await.map_err(|e| http_failure(step, &e))?;
        return Ok(Fetched::Document(body));
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    Err(DiscoveryError::new(
        step,
        DiscoveryErrorKind::Invalid,
        format!("{host} redirected more than {MAX_REDIRECTS} times"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(urls: Vec<Url>) -> Vec<String> {
        urls.into_iter().map(String::from).collect()
    }

    #[test]
    fn resource_metadata_is_looked_for_under_the_path_then_at_the_root() {
        let mcp = Url::parse("https://mcp.example.com/public/mcp/?session=1").unwrap();
        assert_eq!(
            strings(resource_metadata_urls(&mcp)),
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        let root = Url::parse("https://mcp.example.com/").unwrap();
        assert_eq!(
            strings(resource_metadata_urls(&root)),
            ["https://mcp.example.com/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn an_issuer_with_a_path_tries_oauth_and_openid_inserted_then_openid_appended() {
        let issuer = Url::parse("https://auth.example.com/tenant1").unwrap();
        assert_eq!(
            strings(server_metadata_urls(&issuer)),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn an_issuer_without_a_path_tries_oauth_then_openid() {
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            assert_eq!(
                strings(server_metadata_urls(&Url::parse(issuer).unwrap())),
                [
                    "https://auth.example.com/.well-known/oauth-authorization-server",
                    "https://auth.example.com/.well-known/openid-configuration",
                ],
                "{issuer}"
            );
        }
    }
}
