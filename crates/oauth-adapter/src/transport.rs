//! oauth2's HTTP seam, implemented on [`SafeHttp`].
//!
//! oauth2 5 only knows reqwest 0.12, and it reads any non-200 status as "maybe an OAuth error
//! body", which loses the difference between a refusal and an outage. This transport screens the
//! status first: a redirect is an error (never followed), `5xx` and `429` are transient failures,
//! and only the rest reaches oauth2's parser.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use reqwest::StatusCode;

use crate::http::{HttpError, SafeHttp};

/// Token responses are small; anything larger is not one.
const MAX_BODY: usize = 256 * 1024;

/// [`SafeHttp`] as oauth2 wants it, with an optional tighter timeout for this call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OAuthTransport<'a> {
    http: &'a SafeHttp,
    timeout: Option<Duration>,
}

impl<'a> OAuthTransport<'a> {
    pub(crate) fn new(http: &'a SafeHttp, timeout: Option<Duration>) -> Self {
        Self { http, timeout }
    }
}

impl<'c> AsyncHttpClient<'c> for OAuthTransport<'_> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut request = reqwest::Request::try_from(request).map_err(|source| HttpError::Transport {
                host: "the server".to_owned(),
                source: source.without_url(),
            })?;
            if let Some(timeout) = self.timeout {
                *request.timeout_mut() = Some(timeout);
            }
            let host = request.url().host_str().unwrap_or_default().to_owned();
            let response = self.http.execute(request).await?;
            screen_status(response.status(), &host)?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = SafeHttp::read_body(response, MAX_BODY).await?;
            let mut out = HttpResponse::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// The statuses that never carry an OAuth answer.
pub(crate) fn screen_status(status: StatusCode, host: &str) -> Result<(), HttpError> {
    let host = host.to_owned();
    if status.is_redirection() {
        Err(HttpError::Redirect { host, status: status.as_u16() })
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(HttpError::Status { host, status: status.as_u16() })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ports::OAuthError;

    use super::*;

    fn outcome(status: u16) -> Result<(), OAuthError> {
        screen_status(StatusCode::from_u16(status).unwrap(), "as.example").map_err(Into::into)
    }

    #[test]
    fn server_errors_and_rate_limits_are_transient() {
        for status in [500, 502, 503, 504, 429] {
            let err = outcome(status).unwrap_err();
            assert!(err.is_transient(), "{status}: {err}");
            assert!(err.to_string().contains(&status.to_string()));
        }
    }

    #[test]
    fn redirects_are_invalid_responses_not_followed() {
        for status in [301, 302, 303, 307, 308] {
            let err = outcome(status).unwrap_err();
            assert!(matches!(err, OAuthError::InvalidResponse(_)), "{status}");
            assert!(err.to_string().contains("not followed"));
        }
    }

    #[test]
    fn success_and_client_errors_reach_the_oauth_parser() {
        for status in [200, 400, 401, 403] {
            assert!(outcome(status).is_ok(), "{status}");
        }
    }
}
