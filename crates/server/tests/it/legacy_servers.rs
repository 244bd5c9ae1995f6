//! MCP servers of the 2025-03-26 revision (issue 18 §5): they answer `401` without naming
//! protected resource metadata and publish none, so their origin is the authorization server;
//! when that origin publishes no metadata either, its default endpoints `/authorize`, `/token`
//! and `/register` are used. The in-repo authorization server plays such a server on its own
//! origin (`/mcp`), with or without its metadata.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::backends::{Backend, database, on, on_both_backends};
use crate::helpers::{Spawn, TestApp, bearer_of};

/// An authorization server without clients, serving its metadata or not, whose access tokens
/// need a refresh at once (they expire within the credential margin).
async fn legacy_server(serve_metadata: bool) -> TestAuthServer {
    TestAuthServer::start(TestAuthConfig {
        clients: Vec::new(),
        serve_metadata,
        access_token_lifetime: Some(Duration::from_secs(30)),
        ..TestAuthConfig::default()
    })
    .await
}

/// Connects the server's `/mcp` as a custom server through the provider's consent and back;
/// the pending answer and the connection's ref id.
async fn connect_through(app: &TestApp, auth: &TestAuthServer) -> (Value, String) {
    let created =
        app.connect(json!({"server_name": "old-docs", "server_config": {"url": auth.legacy_mcp_url()}})).await;
    assert_eq!(created["status"], "pending_oauth", "{created}");
    let consent = app.client.get(created["auth_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let done = app.client.get(&callback).send().await.unwrap();
    let status = done.status();
    let body: Value = done.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "the callback completes: {body}");
    assert_eq!(body["status"], "connected");
    let ref_id = created["ref_id"].as_str().unwrap().to_owned();
    (created, ref_id)
}

fn refreshes(auth: &TestAuthServer) -> usize {
    auth.token_requests()
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("refresh_token") && r.error.is_none())
        .count()
}

async fn call_mcp(auth: &TestAuthServer, bearer: &str) -> StatusCode {
    crate::helpers::call_mcp(&auth.legacy_mcp_url(), bearer).await
}

async fn a_server_without_any_metadata_connects_and_refreshes_at_the_default_endpoints_of_its_origin(backend: Backend) {
    let auth = legacy_server(false).await;
    let database = database(backend).await;
    let app = on(Spawn::default(), &database).start().await;

    let (created, ref_id) = connect_through(&app, &auth).await;
    let origin = auth.issuer();
    assert!(created["auth_url"].as_str().unwrap().starts_with(&format!("{origin}/authorize?")), "{created}");
    assert_eq!(auth.registrations().len(), 1, "registered at the default /register");
    let sent = &auth.authorize_requests()[0];
    assert_eq!(sent.get("code_challenge_method"), Some("S256"));
    assert_eq!(sent.get("resource"), Some(auth.legacy_mcp_url().as_str()), "RFC 8707 all the same");

    // A restart reads the binding back: the refresh must find the defaults again, not refuse
    // an issuer that publishes no metadata.
    let data_dir = app.stop().await;
    let app = on(Spawn::default(), &database).data_dir(data_dir).start().await;
    let bearer = bearer_of(&app, &ref_id).await;
    // (The background scheduler may refresh it too: the token is due at once.)
    assert!(refreshes(&auth) >= 1, "refreshed at {origin}/token: {:?}", auth.token_requests());
    assert!(auth.token_requests().iter().all(|r| r.error.is_none()), "{:?}", auth.token_requests());
    assert_eq!(call_mcp(&auth, &bearer).await, StatusCode::OK, "the refreshed token works at the server");
    assert_eq!(auth.counters().legacy_mcp_answered, 1);
}

async fn a_server_whose_origin_publishes_metadata_uses_it(backend: Backend) {
    let auth = legacy_server(true).await;
    let app = on(Spawn::default(), &database(backend).await).start().await;
    let (created, ref_id) = connect_through(&app, &auth).await;
    assert!(created["auth_url"].as_str().unwrap().starts_with(&auth.authorization_endpoint()), "{created}");
    let bearer = bearer_of(&app, &ref_id).await;
    assert!(refreshes(&auth) >= 1, "{:?}", auth.token_requests());
    assert_eq!(call_mcp(&auth, &bearer).await, StatusCode::OK);

    // Its metadata names a revocation endpoint (the defaults have none): a disconnect uses it.
    assert_eq!(app.delete(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while auth.revocations().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!auth.revocations().is_empty(), "the grant was revoked at the metadata's endpoint");
}

on_both_backends! {
    a_server_without_any_metadata_connects_and_refreshes_at_the_default_endpoints_of_its_origin =>
        a_server_without_any_metadata_connects_and_refreshes_at_the_default_endpoints_of_its_origin_on_sqlite,
        a_server_without_any_metadata_connects_and_refreshes_at_the_default_endpoints_of_its_origin_on_postgres;
    a_server_whose_origin_publishes_metadata_uses_it =>
        a_server_whose_origin_publishes_metadata_uses_it_on_sqlite,
        a_server_whose_origin_publishes_metadata_uses_it_on_postgres;
}
