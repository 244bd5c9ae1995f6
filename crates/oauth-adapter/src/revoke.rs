//! RFC 7009 token revocation.
//!
//! Written by hand rather than with oauth2's `revoke_token`, which refuses every URL that is not
//! `https` before any guard runs; `AD_ALLOW_PRIVATE_NETWORKS` must be able to open plain `http`
//! for tests and local development. The SSRF rule itself is enforced by [`SafeHttp`].

use std::time::Duration;

use domain::TokenEndpointAuth;
use ports::{OAuthError, TokenEndpoint, TokenHint};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use url::form_urlencoded;

use crate::errors::Redactor;
use crate::http::SafeHttp;
use crate::transport::screen_status;

/// Revocation answers are tiny (usually empty).
const MAX_BODY: usize = 16 * 1024;

pub(crate) async fn revoke(
    http: &SafeHttp,
    endpoint: &TokenEndpoint,
    token: &SecretString,
    hint: TokenHint,
    assertion: &[(&'static str, &SecretString)],
    timeout: Duration,
) -> Result<(), OAuthError> {
    let url = url::Url::parse(&endpoint.url)
        .map_err(|_| OAuthError::Blocked("the revocation endpoint is not a valid URL".to_owned()))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let request = revocation_request(http, url, endpoint, token, hint, assertion).timeout(timeout);
    let response = http.send(request).await?;
    let status = response.status();
    screen_status(status, &host)?;
    if status.is_success() {
        return Ok(());
    }
    let body = SafeHttp::read_body(response, MAX_BODY).await?;
    let secrets: Vec<&SecretString> = [token]
        .into_iter()
        .chain(endpoint.client.client_secret.as_ref())
        .chain(assertion.iter().map(|(_, value)| *value))
        .collect();
    Err(refusal(status.as_u16(), &body, &Redactor::new(secrets)))
}

/// The form POST with the client authenticated as `endpoint.auth` says (with `assertion`'s
/// fields for a `private_key_jwt` client).
fn revocation_request(
    http: &SafeHttp,
    url: url::Url,
    endpoint: &TokenEndpoint,
    token: &SecretString,
    hint: TokenHint,
    assertion: &[(&'static str, &SecretString)],
) -> reqwest::RequestBuilder {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token.expose_secret()).append_pair("token_type_hint", hint.as_str());
    let mut request = http
        .request(reqwest::Method::POST, url)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    let client = &endpoint.client;
    match (endpoint.auth, client.client_secret.as_ref()) {
        (TokenEndpointAuth::ClientSecretBasic, Some(secret)) => {
            // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
            let id: String = form_urlencoded::byte_serialize(client.client_id.as_bytes()).collect();
            let secret: String = form_urlencoded::byte_serialize(secret.expose_secret().as_bytes()).collect();
            request = request.basic_auth(id, Some(secret));
        }
        (TokenEndpointAuth::ClientSecretPost, Some(secret)) => {
            form.append_pair("client_id", &client.client_id).append_pair("client_secret", secret.expose_secret());
        }
        (TokenEndpointAuth::None | TokenEndpointAuth::PrivateKeyJwt, _) | (_, None) => {
            form.append_pair("client_id", &client.client_id);
        }
    }
    for (name, value) in assertion {
        form.append_pair(name, value.expose_secret());
    }
    request.body(form.finish())
}

/// The port error for a non-success revocation answer.
fn refusal(status: u16, body: &[u8], redactor: &Redactor<'_>) -> OAuthError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|v| v.get("error")).and_then(serde_json::Value::as_str);
    match code {
        Some(code) => OAuthError::Rejected {
            code: redactor.clean(code, crate::errors::MAX_CODE),
            description: parsed
                .as_ref()
                .and_then(|v| v.get("error_description"))
                .and_then(serde_json::Value::as_str)
                .map(|d| redactor.clean(d, crate::errors::MAX_DESCRIPTION)),
        },
        None => OAuthError::InvalidResponse(format!(
            "the revocation endpoint answered status {status} without an OAuth error"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oauth_error_body_is_a_rejection() {
        let token = SecretString::from("tok-secret".to_owned());
        let body = br#"{"error":"unsupported_token_type","error_description":"no tok-secret here"}"#;
        let err = refusal(400, body, &Redactor::new([&token]));
        let OAuthError::Rejected { code, description } = err else {
            panic!("expected a rejection");
        };
        assert_eq!(code, "unsupported_token_type");
        assert_eq!(description.as_deref(), Some("no [redacted] here"));
    }

    #[test]
    fn a_body_without_an_oauth_error_is_an_invalid_response() {
        let err = refusal(404, b"<html>not here</html>", &Redactor::new([]));
        assert!(matches!(err, OAuthError::InvalidResponse(m) if m.contains("404")));
    }
}
