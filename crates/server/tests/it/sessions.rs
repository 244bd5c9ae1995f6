//! Connect sessions (issue 15): the engine opens one for a user; its token starts connections
//! with `POST /assets/connect` as that user, only to the servers it allows, and is refused by
//! every other route. On both backends, since the sessions live in the store.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::backends::{Backend, on_both_backends, spawn_on};
use crate::helpers::{TestApp, assert_error, captured_logs};

/// Opens a session for `user` with `body`, as the engine.
pub async fn open(app: &TestApp, user: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/assets/connect-sessions"))
        .header("X-Engine-Key", &app.key)
        .header("X-End-User-Id", user)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A session's token for `user` allowing `allowed`.
pub async fn token_for(app: &TestApp, user: &str, allowed: &[&str]) -> String {
    let opened: Value = open(app, user, &json!({"allowed_servers": allowed})).await.json().await.unwrap();
    opened["session_token"].as_str().expect("a session token").to_owned()
}

/// `POST /assets/connect` with `Authorization: Bearer <token>`, as a browser front end would.
async fn connect_with(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client.post(app.url("/assets/connect")).bearer_auth(token).json(body).send().await.unwrap()
}

/// The engine's list of `user`'s connections, as sorted server names.
pub async fn servers_of(app: &TestApp, user: &str) -> Vec<String> {
    let list: Value = app
        .client
        .get(app.url("/assets/connections"))
        .header("X-Engine-Key", &app.key)
        .header("X-End-User-Id", user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut names: Vec<String> =
        list.as_array().unwrap().iter().map(|c| c["server_name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

async fn a_session_connects_as_its_user_and_only_to_the_servers_it_allows(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let opened = open(&app, "alice", &json!({"allowed_servers": ["keyed", "acme"]})).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let opened: Value = opened.json().await.unwrap();
    let token = opened["session_token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 random bits");
    assert!(opened["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(opened["connect_url"], format!("{}/assets/connect-page?session={token}", app.address));

    let keyed = json!({"server_name": "keyed", "server_config": {"api_key": "k-alice"}});
    let connected: Value = connect_with(&app, token, &keyed).await.json().await.unwrap();
    assert_eq!(connected["status"], "connected");
    // OAuth only through the hosted page, which binds the flow to the browser: an `auth_url`
    // answered here would bind nothing and could be forwarded to someone else.
    let oauth = connect_with(&app, token, &json!({"server_name": "acme"})).await;
    let refused = assert_error(oauth, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(refused["details"]["field"], "server_name");

    let not_allowed = connect_with(&app, token, &json!({"server_name": "open"})).await;
    assert_error(not_allowed, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    let custom = json!({"server_name": "mine", "server_config": {"url": "https://mcp.example/mcp"}});
    assert_error(connect_with(&app, token, &custom).await, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    let reconnect = json!({"server_name": "keyed", "server_config": {"ref_id": connected["ref_id"]}});
    assert_error(connect_with(&app, token, &reconnect).await, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR")
        .await;

    assert_eq!(servers_of(&app, "alice").await, ["keyed"], "alice's, and nothing refused was made");
    assert!(servers_of(&app, "default").await.is_empty(), "nobody else's");
}

async fn a_session_token_is_refused_by_every_other_route(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let token = token_for(&app, "alice", &["keyed"]).await;
    let keyed = json!({"server_name": "keyed", "server_config": {"api_key": "k-alice"}});
    let connected: Value = connect_with(&app, &token, &keyed).await.json().await.unwrap();
    let ref_id = connected["ref_id"].as_str().unwrap();

    let elsewhere = [
        (Method::GET, "/assets/servers".to_owned(), None),
        (Method::GET, "/assets/connections".to_owned(), None),
        (Method::GET, format!("/assets/connections/{ref_id}"), None),
        (Method::GET, format!("/assets/connections/{ref_id}/credentials"), None),
        (Method::GET, format!("/assets/connections/{ref_id}/events"), None),
        (Method::DELETE, format!("/assets/connections/{ref_id}"), None),
        (Method::POST, "/assets/callback".to_owned(), Some(json!({"state": "s", "code": "c"}))),
        (Method::POST, "/assets/connect-sessions".to_owned(), Some(json!({}))),
    ];
    for (method, path, body) in elsewhere {
        for as_key in [false, true] {
            let mut request = app.client.request(method.clone(), app.url(&path));
            request = if as_key { request.header("X-Engine-Key", &token) } else { request.bearer_auth(&token) };
            if let Some(body) = &body {
                request = request.json(body);
            }
            assert_error(request.send().await.unwrap(), StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
        }
    }
    let as_key = app.client.post(app.url("/assets/connect")).header("X-Engine-Key", &token).json(&keyed);
    assert_error(as_key.send().await.unwrap(), StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    assert_eq!(servers_of(&app, "alice").await, ["keyed"], "the connection is still there");
    assert!(!captured_logs().contains(&token), "the logs hold a session token");
}

async fn an_unknown_token_or_a_session_opened_with_bad_input_starts_nothing(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let open_body = json!({"server_name": "open"});
    let unknown = connect_with(&app, "Jx3vNotASessionTokenAtAll0123456789abcdefg", &open_body).await;
    assert_error(unknown, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;

    for refused in [
        json!({"allowed_servers": ["keyed", "no-such-server"]}),
        json!({"allowed_servers": []}),
        json!({"allowed_servers": ["not a name!"]}),
        json!({"return_to": "https://evil.example/steal"}),
        json!({"allowed_servers": ["keyed"], "extra": true}),
    ] {
        let answer = open(&app, "alice", &refused).await;
        let status = answer.status();
        let body = answer.text().await.unwrap();
        assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST, "{status} {body}");
        assert!(!body.contains("session_token"), "{body}");
        assert!(!body.contains("no-such-server") && !body.contains("evil.example"), "no value repeated: {body}");
    }
    let with_user = app
        .client
        .post(app.url("/assets/connect"))
        .bearer_auth(token_for(&app, "alice", &["open"]).await)
        .header("X-End-User-Id", "mallory")
        .json(&open_body);
    assert_error(with_user.send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert!(servers_of(&app, "alice").await.is_empty() && servers_of(&app, "mallory").await.is_empty());
}

on_both_backends! {
    a_session_connects_as_its_user_and_only_to_the_servers_it_allows =>
        a_session_connects_as_its_user_and_only_to_the_servers_it_allows_on_sqlite,
        a_session_connects_as_its_user_and_only_to_the_servers_it_allows_on_postgres;
    a_session_token_is_refused_by_every_other_route =>
        a_session_token_is_refused_by_every_other_route_on_sqlite,
        a_session_token_is_refused_by_every_other_route_on_postgres;
    an_unknown_token_or_a_session_opened_with_bad_input_starts_nothing =>
        an_unknown_token_or_a_session_opened_with_bad_input_starts_nothing_on_sqlite,
        an_unknown_token_or_a_session_opened_with_bad_input_starts_nothing_on_postgres;
}
