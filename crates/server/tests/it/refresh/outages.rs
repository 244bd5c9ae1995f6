//! A provider that is down for a while, and a grant revoked at the provider (then reconnected in
//! place).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{Failure, ResourceConfig, TestAuthConfig, TestAuthServer};

use super::{
    connect_many, connections, creator, due_connections, expired_connection, metric, service, wait_for_refreshes,
    wait_until,
};
use crate::helpers::{TestApp, assert_error};
use crate::postgres::fresh_database_url;

const BREAKER: &str = "ad_circuit_breaker_state{";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_down_for_a_while_opens_the_breaker_and_every_connection_recovers_when_it_returns() {
    const TOKENS: usize = 20;
    let (auth, url, before) = due_connections(TOKENS).await;
    auth.configure(|c| {
        c.token_failure = Some(Failure::ServerError);
        c.access_token_lifetime = Some(Duration::from_secs(3_600));
    });
    let breaker = [("REFRESH_BREAKER_THRESHOLD", "3"), ("REFRESH_BREAKER_COOLDOWN_SECONDS", "4")];
    let app = service(&url, &auth, &breaker).await;
    wait_until(Duration::from_secs(20), "the breaker to open", || async { metric(&app, BREAKER).await == Some(2.0) })
        .await;

    // Four more rounds of the outage. Retrying every due token every round would be 80 calls;
    // backoff and the open breaker (one trial per cool-down) keep it to a handful.
    let calls_before = auth.counters().token_requests;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let calls_during = auth.counters().token_requests - calls_before;
    assert!(calls_during < TOKENS as u64, "{calls_during} calls to a provider that is down");
    for (ref_id, (status, _)) in connections(&app).await {
        assert_eq!(status, "connected", "{ref_id}: a provider outage never expires a connection");
    }
    let skipped = metric(&app, "ad_token_refreshes_total{outcome=\"skipped\"}").await.unwrap_or(0.0);
    assert!(skipped > 0.0, "refreshes were held back by the open breaker");
    assert_eq!(metric(&app, "ad_token_refresh_backlog ").await, Some(TOKENS as f64), "all still due");

    auth.configure(|c| c.token_failure = None);
    let took = wait_for_refreshes(&app, &auth, &before, Duration::from_secs(60)).await;
    wait_until(Duration::from_secs(10), "the breaker to close", || async { metric(&app, BREAKER).await == Some(0.0) })
        .await;
    assert_eq!(auth.counters().refreshes, TOKENS as u64);
    assert_eq!(auth.refresh_reuses(), 0);
    eprintln!("{calls_during} calls in 4 s of outage; {skipped} refreshes held back; recovered in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_revoked_at_the_provider_expires_the_connection_until_it_is_reconnected_in_place() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let (app, ref_id) = expired_connection(&fresh_database_url().await, &auth).await;
    let credentials = format!("/assets/connections/{ref_id}/credentials");
    assert_error(app.get(&credentials).await, StatusCode::UNAUTHORIZED, "MCP_TOKEN_EXPIRED").await;
    assert_eq!(auth.refresh_reuses(), 0, "the refresh token was presented once");

    let again = app
        .connect(json!({"server_name": "acme", "server_config": {"ref_id": ref_id}, "return_to": "https://app.example/back"}))
        .await;
    assert_eq!((again["ref_id"].as_str(), again["status"].as_str()), (Some(&*ref_id), Some("pending_oauth")));
    assert_eq!(follow(&app, &again).await.status(), StatusCode::FOUND, "back to the return_to");
    assert_eq!(connections(&app).await[&ref_id].0, "connected", "the same ref_id works again");
    let body: Value = app.get(&credentials).await.json().await.unwrap();
    assert!(auth.token_is_active(body["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ")));

    let events: Vec<Value> = app.get(&format!("/assets/connections/{ref_id}/events")).await.json().await.unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["created", "connected", "expired", "reauthorized", "connected"]);
}

#[tokio::test]
async fn only_an_expired_or_failed_connection_of_the_named_server_can_be_reconnected() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let url = fresh_database_url().await;
    let app = creator(&url, &auth).await;
    let ref_id = connect_many(&app, 1).await.remove(0);
    let reconnect = |name: &str, config: Value| json!({"server_name": name, "server_config": config});
    let connected = app.post_json("/assets/connect", &reconnect("acme", json!({"ref_id": ref_id}))).await;
    assert_error(connected, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    let elsewhere = app.post_json("/assets/connect", &reconnect("keyed", json!({"ref_id": ref_id}))).await;
    assert_error(elsewhere, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    let mixed = reconnect("acme", json!({"ref_id": ref_id, "api_key": "k"}));
    assert_error(app.post_json("/assets/connect", &mixed).await, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR")
        .await;
    let unknown = reconnect("acme", json!({"ref_id": "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa"}));
    assert_error(app.post_json("/assets/connect", &unknown).await, StatusCode::NOT_FOUND, "CONNECTION_NOT_FOUND").await;
    assert_eq!(connections(&app).await[&ref_id].0, "connected", "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_discovered_connection_whose_grant_was_revoked_is_discovered_again_and_reconnected_in_place() {
    let auth = TestAuthServer::start(TestAuthConfig { clients: Vec::new(), ..TestAuthConfig::default() }).await;
    let resource = auth.start_resource(ResourceConfig::default());
    let url = fresh_database_url().await;
    let made = creator(&url, &auth).await;
    let created = made.connect(json!({"server_name": "my-docs", "server_config": {"url": resource.mcp_url()}})).await;
    let ref_id = created["ref_id"].as_str().unwrap().to_owned();
    let done = follow(&made, &created).await;
    assert_eq!(done.status(), StatusCode::OK);
    let credentials = format!("/assets/connections/{ref_id}/credentials");
    let body: Value = made.get(&credentials).await.json().await.unwrap();
    assert!(auth.revoke_grant(body["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ")));
    made.stop().await;

    let app = service(&url, &auth, &[("REFRESH_AHEAD_SECONDS", "7200")]).await;
    wait_until(Duration::from_secs(20), "the connection to expire", || async {
        connections(&app).await[&ref_id].0 == "expired"
    })
    .await;
    let again = app.connect(json!({"server_name": "my-docs", "server_config": {"ref_id": ref_id}})).await;
    assert_eq!(again["ref_id"].as_str(), Some(&*ref_id));
    assert_eq!(follow(&app, &again).await.status(), StatusCode::OK);
    assert_eq!(connections(&app).await[&ref_id].0, "connected");
    let body: Value = app.get(&credentials).await.json().await.unwrap();
    assert!(auth.token_is_active(body["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ")));
}

/// Follows a connect answer's `auth_url` to the provider (which consents at once) and back.
async fn follow(app: &TestApp, connect: &Value) -> reqwest::Response {
    let consent = app.client.get(connect["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    app.client.get(&callback).send().await.unwrap()
}
