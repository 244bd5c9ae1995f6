//! Each event type through the real flows, against the in-repo authorization server: a consent
//! (`connected`), a refused consent (`failed`), refreshes failing then succeeding
//! (`refresh_failing`, `recovered`), `invalid_grant` (`expired`), a consent for more scopes
//! (`reauthorization_required`, then `connected` again), and a disconnect whose revocation fails
//! (`disconnected`, `revocation_failed`). Every one reaches the receiver verified, in order, with
//! its status and reason.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{Failure, TestAuthConfig, TestAuthServer};

use super::{QUICK, Receiver, register};
use crate::backends::{Backend, on_both_backends, spawn_on_with};
use crate::helpers::{Spawn, TestApp};
use crate::oauth_flow::start_flow;

/// The service on `backend` with `acme` (tokens living 30 s, so every credentials call
/// refreshes first), events quick, `refresh_failing` after two failures, and a receiver taking
/// every event.
async fn watched(backend: Backend) -> (TestApp, TestAuthServer, Receiver) {
    let config = TestAuthConfig { access_token_lifetime: Some(Duration::from_secs(30)), ..TestAuthConfig::default() };
    let spawn = QUICK
        .iter()
        .chain(&[
            ("EVENT_REFRESH_FAILING_AFTER", "2"),
            ("REFRESH_INTERVAL_SECONDS", "3600"),
            ("OUTBOUND_TIMEOUT_MS", "2000"),
        ])
        .fold(Spawn::default(), |spawn, (name, value)| spawn.var(name, value));
    let (app, auth) = spawn_on_with(backend, config, spawn).await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;
    (app, auth, receiver)
}

/// Follows a started flow's consent and callback; the callback's status.
async fn complete(app: &TestApp, callback: &str) -> StatusCode {
    app.client.get(callback).send().await.unwrap().status()
}

async fn credentials(app: &TestApp, ref_id: &str) -> StatusCode {
    app.get(&format!("/assets/connections/{ref_id}/credentials")).await.status()
}

/// `(type, status, previous_status, reason_code)` of `ref_id`'s events the receiver took.
async fn story(receiver: &Receiver, ref_id: &str) -> Vec<(String, String, Value, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    receiver
        .taken()
        .await
        .iter()
        .filter(|e| e["data"]["ref_id"] == ref_id)
        .map(|e| {
            (
                text(&e["type"]),
                text(&e["data"]["status"]),
                e["data"]["previous_status"].clone(),
                text(&e["data"]["reason_code"]),
            )
        })
        .collect()
}

fn step(kind: &str, status: &str, previous: Option<&str>, reason: &str) -> (String, String, Value, String) {
    (format!("connection.{kind}"), status.to_owned(), json!(previous), reason.to_owned())
}

async fn each_event_type_comes_through_the_real_flows(backend: Backend) {
    let (app, auth, receiver) = watched(backend).await;

    // A consent, refreshes failing twice, then succeeding, then a grant revoked.
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert_eq!(complete(&app, &callback).await, StatusCode::OK);
    auth.configure(|c| c.token_failure = Some(Failure::ServerError));
    credentials(&app, &ref_id).await;
    credentials(&app, &ref_id).await;
    credentials(&app, &ref_id).await;
    auth.configure(|c| c.token_failure = None);
    assert_eq!(credentials(&app, &ref_id).await, StatusCode::OK);
    // More scopes: asked (the old token serving meanwhile), then granted in place.
    let asked =
        app.post_json(&format!("/assets/connections/{ref_id}/reauthorize"), &json!({"scopes": ["admin"]})).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let asked: Value = asked.json().await.unwrap();
    let consent = app.client.get(asked["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(complete(&app, &callback).await, StatusCode::OK);
    auth.configure(|c| c.token_failure = Some(Failure::InvalidGrant));
    assert_eq!(credentials(&app, &ref_id).await, StatusCode::UNAUTHORIZED);
    auth.configure(|c| c.token_failure = None);

    // A refused consent.
    auth.configure(|c| c.deny = true);
    let (refused, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    complete(&app, &callback).await;
    auth.configure(|c| c.deny = false);

    // A disconnect whose revocation fails.
    let (removed, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert_eq!(complete(&app, &callback).await, StatusCode::OK);
    auth.configure(|c| c.revoke_failure = Some(Failure::ServerError));
    assert_eq!(app.delete(&format!("/assets/connections/{removed}")).await.status(), StatusCode::OK);

    receiver.wait_for(10).await;
    let connected = Some("connected");
    assert_eq!(
        story(&receiver, &ref_id).await,
        [
            step("connected", "connected", Some("pending_oauth"), "authorized"),
            step("refresh_failing", "connected", connected, "provider_unavailable"),
            step("recovered", "connected", connected, "refreshed"),
            step("reauthorization_required", "connected", connected, "insufficient_scope"),
            step("connected", "connected", connected, "scopes_granted"),
            step("expired", "expired", connected, "invalid_grant"),
        ]
    );
    assert_eq!(story(&receiver, &refused).await, [step("failed", "failed", Some("pending_oauth"), "consent_denied")]);
    assert_eq!(
        story(&receiver, &removed).await,
        [
            step("connected", "connected", Some("pending_oauth"), "authorized"),
            step("disconnected", "disconnected", connected, "user_disconnected"),
            step("revocation_failed", "disconnected", Some("disconnected"), "revocation_failed"),
        ]
    );
    let received = receiver.received().await;
    assert!(received.iter().all(|r| r["verified"] == true), "{received:?}");
    assert_eq!(received.len(), 10, "an event came twice or an extra one came: {received:?}");
}

on_both_backends! {
    each_event_type_comes_through_the_real_flows =>
        each_event_type_comes_through_the_real_flows_on_sqlite,
        each_event_type_comes_through_the_real_flows_on_postgres;
}
