//! The token lifecycle end to end (issue 6, spec §7), against the in-repo authorization server
//! with refresh-token rotation and reuse detection: every refresh token it sees twice counts as
//! a reuse (and revokes the grant), so `refresh_reuses() == 0` proves no token was spent twice.
//!
//! Connections are made by a "creator" service whose scheduler has nothing to do, so that when
//! the services under test start, all their tokens are due at once (their first round runs at
//! start-up).

mod outages;
mod reconnects;
mod replicas;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::helpers::{Spawn, TestApp};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, start_flow};
use crate::postgres::fresh_database_url;

/// A service on `database_url` whose catalog has `acme`, a client of `auth`, with `vars` on top.
async fn service(database_url: &str, auth: &TestAuthServer, vars: &[(&str, &str)]) -> TestApp {
    let mut spawn = Spawn::default()
        .catalog(oauth_catalog(auth))
        .var("DATABASE_URL", database_url)
        .var("ACME_CLIENT_SECRET", CLIENT_SECRET)
        .var("OUTBOUND_TIMEOUT_MS", "2000")
        .var("REFRESH_INTERVAL_SECONDS", "1");
    for (name, value) in vars {
        spawn = spawn.var(name, value);
    }
    spawn.start().await
}

/// A service whose scheduler only runs at start-up, before any connection exists.
async fn creator(database_url: &str, auth: &TestAuthServer) -> TestApp {
    service(database_url, auth, &[("REFRESH_INTERVAL_SECONDS", "3600")]).await
}

/// A provider whose first tokens live a minute (so they are due at once under the default
/// 300 s window), a fresh database, and `n` connections made there by a creator service that is
/// gone again. Returns the provider, the database URL and each connection's status and expiry.
async fn due_connections(n: usize) -> (TestAuthServer, String, BTreeMap<String, (String, String)>) {
    let lifetime = Some(Duration::from_secs(60));
    let auth =
        TestAuthServer::start(TestAuthConfig { access_token_lifetime: lifetime, ..TestAuthConfig::default() }).await;
    let url = fresh_database_url().await;
    let made = creator(&url, &auth).await;
    connect_many(&made, n).await;
    let before = connections(&made).await;
    made.stop().await;
    (auth, url, before)
}

/// One `acme` connection on `database_url` whose grant the provider revoked, and a service
/// (refreshing every token at once) that has found it out: the connection is `expired`.
async fn expired_connection(database_url: &str, auth: &TestAuthServer) -> (TestApp, String) {
    let made = creator(database_url, auth).await;
    let ref_id = connect_many(&made, 1).await.remove(0);
    let body: Value = made.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    let token = body["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ").to_owned();
    made.stop().await;

    assert!(auth.revoke_grant(&token), "the provider knew the token");
    // Every token is due under a window longer than its life.
    let app = service(database_url, auth, &[("REFRESH_AHEAD_SECONDS", "7200")]).await;
    wait_until(Duration::from_secs(20), "the connection to expire", || async {
        connections(&app).await[&ref_id].0 == "expired"
    })
    .await;
    (app, ref_id)
}

/// Connects `acme` `n` times, a few flows at once; returns the ref ids.
async fn connect_many(app: &TestApp, n: usize) -> Vec<String> {
    let permits = Arc::new(Semaphore::new(24));
    let mut flows = JoinSet::new();
    for _ in 0..n {
        let (app, permits) = (app.clone(), Arc::clone(&permits));
        flows.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
            let done = app.client.get(&callback).send().await.unwrap();
            assert_eq!(done.status(), StatusCode::OK, "the flow of {ref_id} completes");
            ref_id
        });
    }
    flows.join_all().await
}

/// Every connection's status and `expires_at`, by ref id: every page, following `Link`.
async fn connections(app: &TestApp) -> BTreeMap<String, (String, String)> {
    let (mut all, mut next) = (BTreeMap::new(), Some("/assets/connections?limit=500".to_owned()));
    while let Some(path) = next {
        let page = app.get(&path).await;
        next = page
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok()?.strip_prefix('<')?.split_once('>'))
            .map(|(url, _)| url.to_owned());
        let listed: Vec<Value> = page.json().await.unwrap();
        all.extend(listed.into_iter().map(|c| {
            let field = |name: &str| c[name].as_str().unwrap_or_default().to_owned();
            (field("ref_id"), (field("status"), field("expires_at")))
        }));
    }
    all
}

/// Whether every connection of `before` is connected with a later-expiring token than it had
/// (RFC 3339 UTC strings of one format order like the instants they name).
async fn all_refreshed(app: &TestApp, before: &BTreeMap<String, (String, String)>) -> bool {
    let after = connections(app).await;
    after.len() == before.len()
        && after.iter().all(|(ref_id, (status, expires_at))| status == "connected" && expires_at > &before[ref_id].1)
}

/// Waits until the provider has answered `n` refreshes and the service shows every connection
/// of `before` refreshed (its write follows the provider's answer); returns how long it took.
async fn wait_for_refreshes(
    app: &TestApp,
    auth: &TestAuthServer,
    before: &BTreeMap<String, (String, String)>,
    limit: Duration,
) -> Duration {
    let n = before.len() as u64;
    let took = wait_until(limit, "every token refreshed", || async { auth.counters().refreshes >= n }).await;
    wait_until(Duration::from_secs(30), "every refresh stored", || all_refreshed(app, before)).await;
    took
}

/// The value of the first sample of `/metrics` whose line starts with `prefix`.
async fn metric(app: &TestApp, prefix: &str) -> Option<f64> {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Polls `done` every 100 ms until it holds; fails after `limit` (a generous bound, not a target).
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
