//! A disconnect racing a code exchange or a refresh (issue 20 item 3): the tokens the provider
//! issues for a connection that is gone by the time they arrive are stored nowhere, so they are
//! revoked, as a disconnect revokes, on both stores.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use test_oauth_server::{TestAuthConfig, TestAuthServer, TokenKind};

use crate::helpers::{Spawn, TestApp};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, start_flow};
use crate::postgres::fresh_database_url;

/// How long the provider takes over a token request while the disconnect happens.
const SLOW: Duration = Duration::from_millis(1500);

async fn app(auth: &TestAuthServer, on_postgres: bool) -> TestApp {
    let mut spawn = Spawn::default()
        .catalog(oauth_catalog(auth))
        .var("ACME_CLIENT_SECRET", CLIENT_SECRET)
        .var("OUTBOUND_TIMEOUT_MS", "5000")
        .var("REFRESH_INTERVAL_SECONDS", "3600");
    if on_postgres {
        spawn = spawn.var("DATABASE_URL", &fresh_database_url().await);
    }
    spawn.start().await
}

/// Waits until the provider has received `n` token requests in all.
async fn token_request_arrived(auth: &TestAuthServer, n: u64) {
    for _ in 0..200 {
        if auth.counters().token_requests >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the token request never reached the provider");
}

/// Waits until the provider has granted a refresh (and not yet answered it).
async fn refreshed_at_the_provider(auth: &TestAuthServer) {
    for _ in 0..200 {
        if auth.counters().refreshes >= 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the refresh never reached the provider");
}

/// Every token revoked at the provider is dead there, and `refresh` of them were refresh tokens.
fn assert_revoked(auth: &TestAuthServer, refresh: usize, access: usize) {
    let revoked = auth.revocations();
    let count = |kind| revoked.iter().filter(|r| r.kind == kind).count();
    assert_eq!((count(TokenKind::Refresh), count(TokenKind::Access)), (refresh, access), "{revoked:?}");
    assert!(revoked.iter().all(|r| !auth.token_is_active(&r.token)), "a revoked token still works");
}

async fn a_disconnect_during_the_code_exchange_revokes_the_tokens_it_obtained(on_postgres: bool) {
    let auth = TestAuthServer::start(TestAuthConfig { token_delay: SLOW, ..TestAuthConfig::default() }).await;
    let app = app(&auth, on_postgres).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;

    let client = app.client.clone();
    let exchange = tokio::spawn(async move { client.get(&callback).send().await.unwrap().status() });
    token_request_arrived(&auth, 1).await;
    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    assert_eq!(gone.status(), StatusCode::OK, "disconnected while the code is at the provider");

    assert_eq!(exchange.await.unwrap(), StatusCode::NOT_FOUND, "the callback finds its connection gone");
    assert_eq!(auth.code_exchanges(), 1, "the provider did issue tokens");
    assert_revoked(&auth, 1, 1);
}

async fn a_disconnect_during_a_refresh_revokes_both_the_old_and_the_new_tokens(on_postgres: bool) {
    let config = TestAuthConfig { access_token_lifetime: Some(Duration::from_secs(60)), ..TestAuthConfig::default() };
    let auth = TestAuthServer::start(config).await;
    let app = app(&auth, on_postgres).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);

    // The provider rotates the pair at once and answers only later: the disconnect comes between.
    auth.configure(|c| c.answer_delay = SLOW);
    let client = app.client.clone();
    let credentials = app.url(&format!("/assets/connections/{ref_id}/credentials"));
    let key = app.key.clone();
    // Expiring within the refresh window, so the credentials call refreshes first.
    let refresh = tokio::spawn(async move {
        client.get(&credentials).header("X-Engine-Key", key).send().await.unwrap().text().await.unwrap()
    });
    refreshed_at_the_provider(&auth).await;
    assert_eq!(app.delete(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);

    let answer = refresh.await.unwrap();
    assert!(answer.contains("CONNECTION_NOT_FOUND"), "{answer}");
    assert_eq!(auth.counters().refreshes, 1, "the provider did issue new tokens");
    // The disconnect revokes the stored pair; the refresh, the pair it got.
    assert_revoked(&auth, 2, 2);
}

#[tokio::test]
async fn a_disconnect_during_the_code_exchange_revokes_the_tokens_it_obtained_on_sqlite() {
    a_disconnect_during_the_code_exchange_revokes_the_tokens_it_obtained(false).await;
}

#[tokio::test]
async fn a_disconnect_during_the_code_exchange_revokes_the_tokens_it_obtained_on_postgres() {
    a_disconnect_during_the_code_exchange_revokes_the_tokens_it_obtained(true).await;
}

#[tokio::test]
async fn a_disconnect_during_a_refresh_revokes_both_the_old_and_the_new_tokens_on_sqlite() {
    a_disconnect_during_a_refresh_revokes_both_the_old_and_the_new_tokens(false).await;
}

#[tokio::test]
async fn a_disconnect_during_a_refresh_revokes_both_the_old_and_the_new_tokens_on_postgres() {
    a_disconnect_during_a_refresh_revokes_both_the_old_and_the_new_tokens(true).await;
}
