use std::time::{Duration, Instant};

use ports::{OAuthClient, OAuthError, TokenHint};
use test_oauth_server::{Failure, TestAuthConfig, TestAuthServer};

use crate::support::{REDIRECT_URI, adapter, adapter_with, code_for, revocation_endpoint, secret, token_endpoint};

/// A server whose token and revocation endpoints hang far longer than the adapter waits.
async fn server_failing_with(failure: Failure) -> TestAuthServer {
    TestAuthServer::start(TestAuthConfig {
        token_failure: Some(failure),
        revoke_failure: Some(failure),
        hang_for: Duration::from_secs(20),
        ..Default::default()
    })
    .await
}

async fn refresh_error(server: &TestAuthServer) -> OAuthError {
    adapter().refresh(&token_endpoint(server), &secret("rt-anything"), None).await.unwrap_err()
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_transient() {
    for failure in [Failure::ServerError, Failure::TooManyRequests] {
        let server = server_failing_with(failure).await;
        let err = refresh_error(&server).await;
        assert!(matches!(err, OAuthError::Unavailable(_)), "{failure:?}: {err:?}");
        assert!(err.is_transient());
    }
}

#[tokio::test]
async fn garbage_is_an_invalid_response() {
    let server = server_failing_with(Failure::Garbage).await;
    let err = refresh_error(&server).await;
    assert!(matches!(err, OAuthError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn invalid_grant_is_a_rejection() {
    let server = server_failing_with(Failure::InvalidGrant).await;
    let err = refresh_error(&server).await;
    assert!(matches!(&err, OAuthError::Rejected { code, .. } if code == "invalid_grant"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_hanging_token_endpoint_is_given_up_on_as_unavailable() {
    let server = server_failing_with(Failure::Hang).await;
    let started = Instant::now();
    let err = refresh_error(&server).await;
    assert!(matches!(err, OAuthError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("in time"), "{err}");
    assert!(started.elapsed() < server.config().hang_for);
}

#[tokio::test]
async fn a_hanging_revocation_endpoint_is_given_up_on_as_unavailable() {
    let server = server_failing_with(Failure::Hang).await;
    let started = Instant::now();
    let err =
        adapter().revoke(&revocation_endpoint(&server), &secret("at-x"), TokenHint::AccessToken).await.unwrap_err();
    assert!(matches!(err, OAuthError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < server.config().hang_for);
}

#[tokio::test]
async fn a_failing_revocation_endpoint_is_reported_not_hidden() {
    let server = server_failing_with(Failure::ServerError).await;
    let err =
        adapter().revoke(&revocation_endpoint(&server), &secret("at-x"), TokenHint::AccessToken).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_an_error_and_not_followed() {
    let server = server_failing_with(Failure::Redirect).await;
    let err = refresh_error(&server).await;
    assert!(matches!(err, OAuthError::InvalidResponse(_)), "{err:?}");
    assert!(err.to_string().contains("302"), "{err}");
    assert_eq!(server.counters().redirect_follows, 0);
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", closed.local_addr().unwrap());
    drop(closed);
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let endpoint = ports::TokenEndpoint { url, ..token_endpoint(&server) };
    let err = adapter().refresh(&endpoint, &secret("rt-x"), None).await.unwrap_err();
    assert!(matches!(err, OAuthError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn without_private_networks_the_loopback_server_is_blocked_before_any_request() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let guarded = adapter_with(false);
    let https_loopback =
        ports::TokenEndpoint { url: server.token_endpoint().replace("http://", "https://"), ..token_endpoint(&server) };
    let by_name = ports::TokenEndpoint {
        url: format!("https://localhost:{}/token", server.base_url().rsplit(':').next().unwrap()),
        ..token_endpoint(&server)
    };
    for (endpoint, expected) in [
        (token_endpoint(&server), "only https"),
        (https_loopback, "loopback"),
        (by_name, "localhost resolves to a loopback address"),
    ] {
        let err = guarded.exchange_code(&endpoint, &code, &verifier, REDIRECT_URI, None).await.unwrap_err();
        assert!(matches!(err, OAuthError::Blocked(_)), "{}: {err:?}", endpoint.url);
        assert!(err.to_string().contains(expected), "{err}");
    }
    let err = guarded.revoke(&revocation_endpoint(&server), &code, TokenHint::AccessToken).await.unwrap_err();
    assert!(matches!(err, OAuthError::Blocked(_)), "{err:?}");
    assert_eq!(server.counters().token_requests, 0);
    assert!(server.revocations().is_empty());
}
