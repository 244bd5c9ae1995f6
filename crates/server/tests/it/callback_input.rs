//! What a callback carries (issue 20): one that cannot be acted on changes nothing, on both
//! backends, since taking the flow is a store write.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::helpers::{Spawn, TestApp, assert_error};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, query_param, start_flow, status_of};
use crate::postgres::fresh_database_url;

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn spawn_on(backend: Backend, config: TestAuthConfig) -> (TestApp, TestAuthServer) {
    let auth = TestAuthServer::start(config).await;
    let mut spawn = Spawn::default().catalog(oauth_catalog(&auth)).var("ACME_CLIENT_SECRET", CLIENT_SECRET);
    if let Backend::Postgres = backend {
        spawn = spawn.var("DATABASE_URL", &fresh_database_url().await);
    }
    (spawn.start().await, auth)
}

/// One test per backend for each scenario: `scenario => test_on_sqlite, test_on_postgres;`.
macro_rules! on_both_backends {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $scenario(Backend::Sqlite).await;
        }

        #[tokio::test]
        async fn $postgres() {
            $scenario(Backend::Postgres).await;
        }
    )*};
}

/// `url` with its query parameter `name` set to `value`, or removed when `None`.
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let mut pairs: Vec<(String, String)> =
        parsed.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    pairs.extend(value.map(|v| (name.to_owned(), v.to_owned())));
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.into()
}

async fn events_of(app: &TestApp, ref_id: &str) -> Vec<Value> {
    app.get(&format!("/assets/connections/{ref_id}/events")).await.json().await.unwrap()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["event"].as_str()).collect()
}

/// A browser callback with the flow's `state` but no (or an empty) `code` and no `error` is
/// refused, and the real callback that follows still completes the flow.
async fn a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one(backend: Backend) {
    let (app, auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    for malformed in [with_param(&callback, "code", None), with_param(&callback, "code", Some(""))] {
        let response = app.client.get(&malformed).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
        assert_eq!(
            status_of(&app, &ref_id).await,
            "pending_oauth",
            "a callback that cannot be acted on changes nothing"
        );
    }
    let done = app.client.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK, "the real callback still finds its flow");
    assert_eq!(status_of(&app, &ref_id).await, "connected");
    assert_eq!(auth.code_exchanges(), 1);
    assert_eq!(kinds(&events_of(&app, &ref_id).await), ["created", "connected"]);
}

/// The same through `POST /assets/callback`.
async fn a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one(backend: Backend) {
    let (app, auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let (state, iss) = (query_param(&callback, "state"), query_param(&callback, "iss"));
    for malformed in [json!({"state": state, "iss": iss}), json!({"state": state, "iss": iss, "code": ""})] {
        let response = app.post_json("/assets/callback", &malformed).await;
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
        assert_eq!(
            status_of(&app, &ref_id).await,
            "pending_oauth",
            "a callback that cannot be acted on changes nothing"
        );
    }
    let real = json!({"state": state, "iss": iss, "code": query_param(&callback, "code")});
    assert_eq!(app.post_json("/assets/callback", &real).await.status(), StatusCode::OK);
    assert_eq!(status_of(&app, &ref_id).await, "connected");
    assert_eq!(auth.code_exchanges(), 1);
    assert_eq!(kinds(&events_of(&app, &ref_id).await), ["created", "connected"]);
}

on_both_backends! {
    a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one =>
        a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_sqlite,
        a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_postgres;
    a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one =>
        a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_sqlite,
        a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_postgres;
}
