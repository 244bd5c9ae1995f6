//! The SDK clients straight against the SDK server, no proxy between them: what the proxy's tests
//! build on. A token the authorization server issued gets every scenario through; one it revoked
//! or never issued is refused by the server after it asked (introspection), and the client fails.

use serde_json::json;
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use super::{ClientRun, Scenario, Sdk, SdkMcpServer, access_token, guarding_auth_server, run_client};

/// An authorization server, the SDK server it guards, and a token it issued.
async fn guarded() -> (TestAuthServer, SdkMcpServer, String) {
    let auth = guarding_auth_server(TestAuthConfig::default()).await;
    let server = SdkMcpServer::start(&auth).await;
    let token = access_token(&auth).await;
    (auth, server, token)
}

/// `scenario` of `sdk`'s client passes with a token the authorization server issued, which the
/// server checked there and saw as the only credential.
async fn passes(sdk: Sdk, scenario: Scenario) -> ClientRun {
    let (auth, server, token) = guarded().await;
    let run = run_client(sdk, scenario, server.url_for(scenario), &token, &[]).await;
    assert!(run.passed(), "{}\nserver: {}", run.transcript(), server.stderr());
    let seen = server.seen().await;
    assert!(auth.counters().introspections > 0, "the server asked the authorization server");
    assert_eq!(seen["refusals"], json!([]), "{seen}");
    let sent = seen["authorization_headers"].as_array().unwrap();
    assert!(!sent.is_empty() && sent.iter().all(|h| *h == format!("Bearer {token}")), "{seen}");
    run
}

/// `sdk`'s client fails with `token`, refused `401 invalid_token` after introspection.
async fn refused(sdk: Sdk, scenario: Scenario, auth: &TestAuthServer, server: &SdkMcpServer, token: &str) {
    let before = auth.counters().introspections;
    let run = run_client(sdk, scenario, server.url_for(scenario), token, &[]).await;
    assert!(!run.status.success() && run.step("initialize").is_none(), "{}", run.transcript());
    assert!(run.error().is_some_and(|e| e.contains("401") || e.contains("invalid_token")), "{}", run.transcript());
    assert!(auth.counters().introspections > before, "the server asked the authorization server");
    let refusals = server.seen().await["refusals"].clone();
    assert!(!refusals.as_array().unwrap().is_empty(), "the server refused it");
    assert!(
        refusals.as_array().unwrap().iter().all(|r| *r == json!({"status": 401, "error": "invalid_token"})),
        "{refusals}"
    );
}

async fn streams_and_deletes_its_session(sdk: Sdk) {
    passes(sdk, Scenario::Streamable).await.shows_its_scenario();
}

async fn resumes_from_its_last_event_id(sdk: Sdk) {
    passes(sdk, Scenario::Resume).await.shows_its_scenario();
}

async fn speaks_legacy_sse(sdk: Sdk) {
    passes(sdk, Scenario::Sse).await.shows_its_scenario();
}

#[tokio::test]
async fn the_typescript_client_initializes_calls_tools_streams_notifications_and_deletes_its_session() {
    streams_and_deletes_its_session(Sdk::TypeScript).await;
}

#[tokio::test]
async fn the_python_client_initializes_calls_tools_streams_notifications_and_deletes_its_session() {
    streams_and_deletes_its_session(Sdk::Python).await;
}

#[tokio::test]
async fn the_typescript_client_resumes_a_dropped_stream_from_its_last_event_id() {
    resumes_from_its_last_event_id(Sdk::TypeScript).await;
}

#[tokio::test]
async fn the_python_client_resumes_a_dropped_stream_from_its_last_event_id() {
    resumes_from_its_last_event_id(Sdk::Python).await;
}

#[tokio::test]
async fn the_typescript_client_speaks_the_legacy_sse_transport() {
    speaks_legacy_sse(Sdk::TypeScript).await;
}

#[tokio::test]
async fn the_python_client_speaks_the_legacy_sse_transport() {
    speaks_legacy_sse(Sdk::Python).await;
}

#[tokio::test]
async fn neither_client_gets_past_the_server_with_a_token_the_authorization_server_revoked() {
    let (auth, server, token) = guarded().await;
    let before = run_client(Sdk::TypeScript, Scenario::Sse, server.sse_url(), &token, &[]).await;
    assert!(before.passed(), "the token works until it is revoked: {}", before.transcript());
    server.forget_seen().await;
    assert!(auth.revoke_grant(&token));
    refused(Sdk::TypeScript, Scenario::Streamable, &auth, &server, &token).await;
    refused(Sdk::Python, Scenario::Sse, &auth, &server, &token).await;
}

#[tokio::test]
async fn neither_client_gets_past_the_server_with_a_token_nobody_issued() {
    let (auth, server, _) = guarded().await;
    refused(Sdk::Python, Scenario::Streamable, &auth, &server, "at-nobody-issued-this").await;
    refused(Sdk::TypeScript, Scenario::Sse, &auth, &server, "at-nobody-issued-this").await;
}
