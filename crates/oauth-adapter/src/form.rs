//! Form POSTs written by hand — revocation, the token exchange, the `jwt-bearer` grant — where
//! oauth2 has no call for the URL or the grant. The client authenticates as its endpoint says;
//! an answer is screened (redirects, `5xx` and `429` are errors, the last two transient) and an
//! OAuth error body becomes a rejection scrubbed of every secret the call handled.

use std::time::Duration;

use domain::TokenEndpointAuth;
use ports::{OAuthError, TokenEndpoint};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use url::form_urlencoded;

use crate::errors::Redactor;
use crate::http::SafeHttp;
use crate::transport::screen_status;

/// Token and revocation answers are small.
const MAX_BODY: usize = 64 * 1024;

/// One call: its form fields (values that are secrets are also in `secrets`), the client
/// assertion's fields for a `private_key_jwt` client, and a bound on how long it may take.
pub(crate) struct FormCall<'a> {
    pub endpoint: &'a TokenEndpoint,
    pub fields: Vec<(&'static str, &'a str)>,
    pub secrets: Vec<&'a SecretString>,
    pub assertion: &'a [(&'static str, &'a SecretString)],
    pub timeout: Option<Duration>,
}

/// Sends `call` to its endpoint; the body of a success, else the port error (`what` names the
/// endpoint in messages).
pub(crate) async fn post(http: &SafeHttp, call: FormCall<'_>, what: &str) -> Result<Vec<u8>, OAuthError> {
    let url = url::Url::parse(&call.endpoint.url)
        .map_err(|_| OAuthError::Blocked(format!("the {what} is not a valid URL")))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut request = authenticated(http, url, &call);
    if let Some(timeout) = call.timeout {
        request = request.timeout(timeout);
    }
    let response = http.send(request).await?;
    let status = response.status();
    screen_status(status, &host)?;
    let body = SafeHttp::read_body(response, MAX_BODY).await?;
    if status.is_success() {
        return Ok(body);
    }
    let secrets = call
        .secrets
        .iter()
        .copied()
        .chain(call.endpoint.client.client_secret.as_ref())
        .chain(call.assertion.iter().map(|(_, value)| *value));
    Err(refusal(status.as_u16(), &body, &Redactor::new(secrets.collect::<Vec<_>>()), what))
}

/// The form POST with the client authenticated as `endpoint.auth` says.
fn authenticated(http: &SafeHttp, url: url::Url, call: &FormCall<'_>) -> reqwest::RequestBuilder {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &call.fields {
        form.append_pair(name, value);
    }
    let mut request = http
        .request(reqwest::Method::POST, url)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    let client = &call.endpoint.client;
    match (call.endpoint.auth, client.client_secret.as_ref()) {
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
    for (name, value) in call.assertion {
        form.append_pair(name, value.expose_secret());
    }
    request.body(form.finish())
}

/// The port error for an answer that is not a success.
pub(crate) fn refusal(status: u16, body: &[u8], redactor: &Redactor<'_>, what: &str) -> OAuthError {
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
        None => OAuthError::InvalidResponse(format!("the {what} answered status {status} without an OAuth error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oauth_error_body_is_a_rejection() {
        let token = SecretString::from("tok-secret".to_owned());
        let body = br#"{"error":"unsupported_token_type","error_description":"no tok-secret here"}"#;
        let err = refusal(400, body, &Redactor::new([&token]), "revocation endpoint");
        let OAuthError::Rejected { code, description } = err else {
            panic!("expected a rejection");
        };
        assert_eq!(code, "unsupported_token_type");
        assert_eq!(description.as_deref(), Some("no [redacted] here"));
    }

    #[test]
    fn a_body_without_an_oauth_error_is_an_invalid_response() {
        let err = refusal(404, b"<html>not here</html>", &Redactor::new([]), "revocation endpoint");
        assert!(matches!(err, OAuthError::InvalidResponse(m) if m.contains("404") && m.contains("revocation")));
    }
}
