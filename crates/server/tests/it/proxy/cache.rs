//! The credentials a replica's proxy keeps for a moment (`PROXY_CREDENTIAL_CACHE_MS`), as a
//! client sees them: what this replica changes is seen at once, another replica's change once
//! the time it keeps them has passed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::upstream::Upstream;
use super::{auth_and_upstream, connect_keyed, connect_oauth, post_mcp, refuse_current_token, spawn_proxy};
use crate::helpers::assert_error;
use crate::postgres::fresh_database_url;

#[tokio::test]
async fn a_disconnect_is_seen_by_the_same_replicas_proxy_at_once_however_long_it_keeps_credentials() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[("PROXY_CREDENTIAL_CACHE_MS", "60000")]).await;
    let ref_id = connect_keyed(&app).await;
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK);
    assert_eq!(app.delete(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);
    assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::NOT_FOUND, "CONNECTION_NOT_FOUND").await;
    assert_eq!(up.seen().headers.len(), 1, "nothing reached the server after the disconnect");
}

#[tokio::test]
async fn after_a_refused_token_is_refreshed_no_later_call_sends_it_however_long_credentials_are_kept() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[("PROXY_CREDENTIAL_CACHE_MS", "60000")]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK, "its credential is kept now");
    let refused = refuse_current_token(&app, &up, &ref_id).await;
    for _ in 0..3 {
        assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK);
    }
    assert_eq!(auth.counters().refreshes, 1);
    let sent: Vec<_> = up.seen().headers.iter().map(|h| bearer(h)).collect();
    let refused_at: Vec<_> = sent.iter().enumerate().filter(|(_, b)| **b == refused).map(|(i, _)| i).collect();
    assert_eq!(refused_at, [0, 1], "the refused token went out once after it was refused, never again: {sent:?}");
}

#[tokio::test]
async fn a_consent_for_more_scopes_is_used_by_the_next_call_however_long_credentials_are_kept() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[("PROXY_CREDENTIAL_CACHE_MS", "60000")]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    up.configure(|b| b.needs_scope = Some("admin".into()));
    let path = format!("/assets/connections/{ref_id}/reauthorize");
    let started: Value = app.post_json(&path, &json!({"scopes": ["admin"]})).await.json().await.unwrap();
    // The old token is kept meanwhile, and still lacks the scope.
    assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE").await;
    let consent = app.client.get(started["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK, "the new token, with the scope");
}

#[tokio::test]
async fn another_replicas_disconnect_is_seen_once_the_time_credentials_are_kept_has_passed() {
    let up = Upstream::start(None).await;
    let database = fresh_database_url().await;
    let vars = [("DATABASE_URL", database.as_str()), ("PROXY_CREDENTIAL_CACHE_MS", "300")];
    let (a, b) = (spawn_proxy(&up, None, &vars).await, spawn_proxy(&up, None, &vars).await);
    let ref_id = connect_keyed(&a).await;
    assert_eq!(post_mcp(&a, &ref_id, &[]).await.status(), StatusCode::OK);
    assert_eq!(b.delete(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_error(post_mcp(&a, &ref_id, &[]).await, StatusCode::NOT_FOUND, "CONNECTION_NOT_FOUND").await;
}

/// The `Authorization` a call to the server carried.
fn bearer(headers: &[(String, String)]) -> String {
    headers.iter().find(|(name, _)| name == "authorization").map(|(_, value)| value.clone()).unwrap_or_default()
}
