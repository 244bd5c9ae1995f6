//! Translating oauth2's errors into [`OAuthError`] without letting a secret through.

use oauth2::RequestTokenError;
use oauth2::basic::BasicErrorResponse;
use ports::OAuthError;
use secrecy::{ExposeSecret, SecretString};

use crate::http::HttpError;

/// Longest error description kept from a server.
pub(crate) const MAX_DESCRIPTION: usize = 200;
/// Longest error code kept from a server.
pub(crate) const MAX_CODE: usize = 64;

/// Scrubs the secrets of one call from text a server sent back (a careless server may echo
/// the code or the token it refused), then strips control and bidirectional formatting
/// characters and truncates.
pub(crate) struct Redactor<'a> {
    secrets: Vec<&'a str>,
}

impl<'a> Redactor<'a> {
    pub(crate) fn new<I>(secrets: I) -> Self
    where
        I: IntoIterator<Item = &'a SecretString>,
    {
        let secrets = secrets.into_iter().map(ExposeSecret::expose_secret).filter(|s| s.len() >= 4).collect();
        Self { secrets }
    }

    pub(crate) fn clean(&self, text: &str, max_chars: usize) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret, "[redacted]");
        }
        domain::text::cleaned(&text, max_chars)
    }
}

pub(crate) type TokenRequestError = RequestTokenError<HttpError, BasicErrorResponse>;

/// The port error for a failed token or revocation call.
pub(crate) fn map_request_error(err: TokenRequestError, redactor: &Redactor<'_>) -> OAuthError {
    match err {
        RequestTokenError::ServerResponse(response) => OAuthError::Rejected {
            code: redactor.clean(response.error().as_ref(), MAX_CODE),
            description: response.error_description().map(|d| redactor.clean(d, MAX_DESCRIPTION)),
        },
        RequestTokenError::Request(http) => http.into(),
        RequestTokenError::Parse(err, _body) => OAuthError::InvalidResponse(describe_parse_error(&err)),
        // oauth2's own message here can quote the server (an unexpected `Content-Type` header,
        // say), whose words never reach an answer: fixed words.
        RequestTokenError::Other(_) => {
            OAuthError::InvalidResponse("the token endpoint's answer is not an OAuth JSON response".to_owned())
        }
    }
}

/// Names what is wrong with a body without quoting any value from it (serde's messages do).
fn describe_parse_error(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = err.inner();
    let what = match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => "the body is not JSON".to_owned(),
        Category::Data => match inner.to_string().strip_prefix("missing field `") {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or_default();
                format!("the field `{field}` is missing")
            }
            None => format!("the field `{}` has an unexpected value", err.path()),
        },
    };
    format!("not an OAuth token response: {what}")
}

#[cfg(test)]
mod tests {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthorizationCode, ClientId, HttpRequest, TokenUrl};

    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    /// Runs a real code exchange through oauth2 against a canned response.
    async fn exchange_against(status: u16, content_type: &str, body: &str) -> TokenRequestError {
        let response = http::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(body.as_bytes().to_vec())
            .unwrap();
        let http = move |_req: HttpRequest| {
            let response = response.clone();
            async move { Ok::<_, HttpError>(response) }
        };
        let client = BasicClient::new(ClientId::new("c".into()))
            .set_token_uri(TokenUrl::new("https://as.example/token".into()).unwrap());
        client
            .exchange_code(AuthorizationCode::new("the-code".into()))
            .request_async(&http)
            .await
            .expect_err("the canned response is not a success")
    }

    #[tokio::test]
    async fn an_oauth_error_body_becomes_a_rejection_with_its_code() {
        let err = exchange_against(
            400,
            "application/json",
            r#"{"error":"invalid_grant","error_description":"code expired"}"#,
        )
        .await;
        let mapped = map_request_error(err, &Redactor::new([]));
        let OAuthError::Rejected { code, description } = mapped else {
            panic!("expected a rejection, got {mapped:?}");
        };
        assert_eq!(code, "invalid_grant");
        assert_eq!(description.as_deref(), Some("code expired"));
    }

    #[tokio::test]
    async fn a_description_that_echoes_a_secret_is_scrubbed_and_truncated() {
        let long = "x".repeat(500);
        let body = format!(
            r#"{{"error":"invalid_grant","error_description":"bad code the-code-123 and verifier v-456\n{long}"}}"#
        );
        let err = exchange_against(400, "application/json", &body).await;
        let secrets = [secret("the-code-123"), secret("v-456")];
        let mapped = map_request_error(err, &Redactor::new(&secrets));
        let OAuthError::Rejected { description, .. } = mapped else {
            panic!("expected a rejection");
        };
        let description = description.unwrap();
        assert!(!description.contains("the-code-123"));
        assert!(!description.contains("v-456"));
        assert!(description.starts_with("bad code [redacted] and verifier [redacted]"));
        assert!(!description.contains('\n'));
        assert_eq!(description.chars().count(), MAX_DESCRIPTION + 1);
    }

    #[tokio::test]
    async fn a_code_outside_rfc_6749_is_kept_as_sent() {
        let err = exchange_against(400, "application/json", r#"{"error":"invalid_target"}"#).await;
        assert!(matches!(
            map_request_error(err, &Redactor::new([])),
            OAuthError::Rejected { code, description: None } if code == "invalid_target"
        ));
    }

    #[tokio::test]
    async fn a_success_without_an_access_token_is_an_invalid_response() {
        let err =
            exchange_against(200, "application/json", r#"{"token_type":"bearer","refresh_token":"rt-secret"}"#).await;
        let mapped = map_request_error(err, &Redactor::new([]));
        let OAuthError::InvalidResponse(message) = mapped else {
            panic!("expected an invalid response");
        };
        assert!(message.contains("`access_token` is missing"), "{message}");
        assert!(!message.contains("rt-secret"));
    }

    #[tokio::test]
    async fn a_mistyped_field_is_named_without_quoting_its_value() {
        let err = exchange_against(
            200,
            "application/json",
            r#"{"access_token":"at-secret","token_type":"bearer","expires_in":"at-secret"}"#,
        )
        .await;
        let message = map_request_error(err, &Redactor::new([])).to_string();
        assert!(message.contains("expires_in"), "{message}");
        assert!(!message.contains("at-secret"), "{message}");
    }

    #[tokio::test]
    async fn html_or_garbage_is_an_invalid_response() {
        for (status, content_type) in [(200, "text/html"), (400, "text/html"), (200, "application/json")] {
            let err = exchange_against(status, content_type, "<html>oops</html>").await;
            let mapped = map_request_error(err, &Redactor::new([]));
            assert!(matches!(mapped, OAuthError::InvalidResponse(_)), "{status} {content_type}: {mapped:?}");
        }
    }

    #[test]
    fn transport_failures_map_to_their_port_errors() {
        let timeout = HttpError::Timeout { host: "as.example".into() };
        let redirect = HttpError::Redirect { host: "as.example".into(), status: 302 };
        let blocked = HttpError::Blocked(crate::Blocked::NoHost);
        let mapped = |e| map_request_error(RequestTokenError::Request(e), &Redactor::new([]));
        assert!(matches!(mapped(timeout), OAuthError::Unavailable(_)));
        assert!(matches!(mapped(redirect), OAuthError::InvalidResponse(_)));
        assert!(matches!(mapped(blocked), OAuthError::Blocked(_)));
    }
}
