//! Lists at scale and forgetting a user (issue 15), on both backends: a user's connections a
//! page at a time (`limit`, the opaque `cursor` of the `Link` header, `server_name`, `status`),
//! the tenant's users with their counts, one user's connections, and `DELETE
//! /assets/users/{user_id}`. Another tenant's users are never reached.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::backends::{Backend, on_both_backends, spawn_with};
use crate::helpers::{TestApp, assert_error};

const BETA_KEY: &str = "ek-beta-Distinctive-1414";

/// The service with a second tenant, `beta`, whose key is [`BETA_KEY`] (the test key is tenant
/// `default`'s). The keys file's directory lives as long as the test.
async fn spawn_two_tenants(backend: Backend) -> (TestApp, TestAuthServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let hash = hex::encode(Sha256::digest(BETA_KEY.as_bytes()));
    std::fs::write(&path, format!("[[tenants]]\nname = \"beta\"\nkeys = [ {{ hash = \"{hash}\" }} ]\n")).unwrap();
    let (app, auth) =
        spawn_with(backend, TestAuthConfig::default(), &[("ENGINE_KEYS_FILE", &path.display().to_string())]).await;
    (app, auth, dir)
}

/// A keyed call with `key`, acting for `user` when given.
async fn call(
    app: &TestApp,
    key: &str,
    user: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path)).header("X-Engine-Key", key);
    if let Some(user) = user {
        request = request.header("X-End-User-Id", user);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Connects `user` (of the default tenant) to `server` (`keyed` or the OAuth `acme`).
async fn connect(app: &TestApp, user: &str, server: &str) -> Value {
    let body = match server {
        "keyed" => json!({"server_name": "keyed", "server_config": {"api_key": "k-secret-1"}}),
        _ => json!({"server_name": server}),
    };
    call(app, &app.key, Some(user), Method::POST, "/assets/connect", Some(body)).await.json().await.unwrap()
}

/// Connects `user` to `acme` through the whole OAuth flow; returns the ref id.
async fn connect_oauth(app: &TestApp, user: &str) -> String {
    let created = connect(app, user, "acme").await;
    let consent = app.client.get(created["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let done: Value = app.client.get(&callback).send().await.unwrap().json().await.unwrap();
    assert_eq!(done["status"], "connected");
    created["ref_id"].as_str().unwrap().to_owned()
}

/// The next page's path from a `Link` header, if any.
fn next_link(response: &Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap();
    let url = link.strip_prefix('<')?.strip_suffix(">; rel=\"next\"").expect("a next link");
    Some(url.to_owned())
}

/// The ref ids of every page from `path` on, following `Link`, as `user`; and the page sizes.
async fn follow(app: &TestApp, user: &str, path: &str) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes, mut next) = (Vec::new(), Vec::new(), Some(path.to_owned()));
    while let Some(path) = next {
        let response = call(app, &app.key, Some(user), Method::GET, &path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        next = next_link(&response);
        let page: Vec<Value> = response.json().await.unwrap();
        sizes.push(page.len());
        ids.extend(page.iter().map(|c| c["ref_id"].as_str().unwrap().to_owned()));
    }
    (ids, sizes)
}

/// Pages of two, followed through `Link`, cover Alice's connections once in the unpaged order;
/// the last page has no `Link`; `server_name` and `status` filter, and their links keep them.
async fn pages_follow_the_link_header_through_every_connection_once(backend: Backend) {
    let (app, _auth, _keys) = spawn_two_tenants(backend).await;
    for _ in 0..5 {
        connect(&app, "alice", "keyed").await;
    }
    let pending = connect(&app, "alice", "acme").await["ref_id"].as_str().unwrap().to_owned();
    connect(&app, "bob", "keyed").await;

    let whole = call(&app, &app.key, Some("alice"), Method::GET, "/assets/connections", None).await;
    assert!(whole.headers().get("link").is_none(), "one page holds them all");
    let whole: Vec<Value> = whole.json().await.unwrap();
    let all: Vec<String> = whole.iter().map(|c| c["ref_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(all.len(), 6);

    let (paged, sizes) = follow(&app, "alice", "/assets/connections?limit=2").await;
    assert_eq!((paged, sizes), (all.clone(), vec![2, 2, 2]));
    let (keyed, sizes) = follow(&app, "alice", "/assets/connections?limit=2&server_name=keyed").await;
    assert_eq!((keyed.len(), sizes), (5, vec![2, 2, 1]));
    assert!(!keyed.contains(&pending));
    let (waiting, _) = follow(&app, "alice", "/assets/connections?status=pending_oauth&limit=1").await;
    assert_eq!(waiting, vec![pending]);
    let (none, _) = follow(&app, "alice", "/assets/connections?status=expired").await;
    assert!(none.is_empty());
}

/// Every malformed parameter is `422 VALIDATION_ERROR` naming it, on each list, and a
/// malformed user id in the path is `422` naming `user_id`.
async fn bad_list_parameters_are_refused_naming_the_parameter(backend: Backend) {
    let (app, _auth, _keys) = spawn_two_tenants(backend).await;
    connect(&app, "alice", "keyed").await;
    let bad = [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("cursor=%25%25not-a-cursor", "cursor"),
        ("cursor=IQ", "cursor"),
    ];
    for path in ["/assets/connections", "/assets/users", "/assets/users/alice/connections"] {
        for (query, field) in bad {
            let response = call(&app, &app.key, None, Method::GET, &format!("{path}?{query}"), None).await;
            let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
            assert_eq!(body["details"]["field"], field, "{path}?{query}");
        }
    }
    for (query, field) in [("status=sleeping", "status"), ("server_name=NOT%20A%20NAME", "server_name")] {
        let response = call(&app, &app.key, None, Method::GET, &format!("/assets/connections?{query}"), None).await;
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        assert_eq!(body["details"]["field"], field);
    }
    for (method, path) in
        [(Method::GET, "/assets/users/al%20ice/connections"), (Method::DELETE, "/assets/users/al%20ice")]
    {
        let body = assert_error(
            call(&app, &app.key, None, method, path, None).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(body["details"]["field"], "user_id", "{path}");
    }
    let (alice, _) = follow(&app, "alice", "/assets/connections").await;
    assert_eq!(alice.len(), 1, "nothing changed");
}

/// `GET /assets/users` lists the tenant's users with their counts by status, a page at a time;
/// `GET /assets/users/{user_id}/connections` is that user's list; another tenant sees none of it.
async fn the_tenant_view_lists_users_with_counts_and_never_another_tenants(backend: Backend) {
    let (app, _auth, _keys) = spawn_two_tenants(backend).await;
    for (user, server) in [("bob", "keyed"), ("alice", "keyed"), ("alice", "acme"), ("carol@example.com", "keyed")] {
        connect(&app, user, server).await;
    }
    let beta_alice = call(
        &app,
        BETA_KEY,
        Some("alice"),
        Method::POST,
        "/assets/connect",
        Some(json!({"server_name": "keyed", "server_config": {"api_key": "k-2"}})),
    )
    .await;
    assert_eq!(beta_alice.status(), StatusCode::OK);

    let first = call(&app, &app.key, None, Method::GET, "/assets/users?limit=2", None).await;
    let next = next_link(&first).expect("a second page");
    let mut users: Vec<Value> = first.json().await.unwrap();
    let second = call(&app, &app.key, None, Method::GET, &next, None).await;
    assert!(second.headers().get("link").is_none(), "the last page");
    users.extend(second.json::<Vec<Value>>().await.unwrap());
    let ids: Vec<&str> = users.iter().map(|u| u["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alice", "bob", "carol@example.com"]);
    assert_eq!(users[0]["connections"], 2);
    assert_eq!(
        users[0]["by_status"],
        json!({"pending_oauth": 1, "connected": 1, "expired": 0, "failed": 0}),
        "beta's alice does not count"
    );

    let (alices, _) = follow(&app, "bob", "/assets/users/alice/connections").await;
    let (own, _) = follow(&app, "alice", "/assets/connections").await;
    assert_eq!(alices, own, "the same list as Alice's own, whoever the header names");

    let beta: Vec<Value> = call(&app, BETA_KEY, None, Method::GET, "/assets/users", None).await.json().await.unwrap();
    assert_eq!(beta.len(), 1);
    assert_eq!((beta[0]["user_id"].as_str(), beta[0]["connections"].as_u64()), (Some("alice"), Some(1)));
    let theirs = call(&app, BETA_KEY, None, Method::GET, "/assets/users/bob/connections", None).await;
    assert_eq!(theirs.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new(), "beta has no bob");
}

/// Forgetting Alice deletes her connections (revoking her OAuth tokens at the provider) and
/// her pending flow, answers the counts, and leaves Bob and beta's Alice as they were; forgetting
/// her again deletes nothing.
async fn forgetting_a_user_disconnects_and_revokes_everything_of_theirs_and_nothing_else(backend: Backend) {
    let (app, auth, _keys) = spawn_two_tenants(backend).await;
    let connected = connect_oauth(&app, "alice").await;
    connect(&app, "alice", "keyed").await;
    let pending = connect(&app, "alice", "acme").await;
    let consent = app.client.get(pending["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let bobs = connect(&app, "bob", "keyed").await["ref_id"].as_str().unwrap().to_owned();
    let body = json!({"server_name": "keyed", "server_config": {"api_key": "k-2"}});
    call(&app, BETA_KEY, Some("alice"), Method::POST, "/assets/connect", Some(body)).await;

    let opened = call(&app, &app.key, Some("alice"), Method::POST, "/assets/connect-sessions", Some(json!({}))).await;
    let session: Value = opened.json().await.unwrap();
    let token = session["session_token"].as_str().expect("a session for alice").to_owned();

    let forgotten = call(&app, &app.key, None, Method::DELETE, "/assets/users/alice", None).await;
    assert_eq!(forgotten.status(), StatusCode::OK);
    let forgotten: Value = forgotten.json().await.unwrap();
    assert_eq!(
        forgotten,
        json!({"user_id": "alice", "connections_deleted": 3, "revocations_scheduled": 2, "flows_deleted": 1})
    );
    // Revocation runs after the answer: wait (boundedly) for the provider to see both.
    for _ in 0..100 {
        if auth.revocations().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(auth.revocations().len(), 2, "the refresh and the access token of her OAuth connection");

    let (left, _) = follow(&app, "alice", "/assets/connections").await;
    assert!(left.is_empty());
    let with_session = app.client.post(app.url("/assets/connect")).bearer_auth(&token);
    let refused = with_session.json(&json!({"server_name": "keyed", "server_config": {"api_key": "k-3"}})).send().await;
    assert_error(refused.unwrap(), StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    let path = format!("/assets/connections/{connected}");
    let gone = call(&app, &app.key, Some("alice"), Method::GET, &path, None).await;
    assert_error(gone, StatusCode::NOT_FOUND, "CONNECTION_NOT_FOUND").await;
    assert_error(app.client.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    let (bob, _) = follow(&app, "bob", "/assets/connections").await;
    assert_eq!(bob, vec![bobs]);
    let beta: Vec<Value> =
        call(&app, BETA_KEY, Some("alice"), Method::GET, "/assets/connections", None).await.json().await.unwrap();
    assert_eq!(beta.len(), 1, "beta's alice is another user");

    let again: Value =
        call(&app, &app.key, None, Method::DELETE, "/assets/users/alice", None).await.json().await.unwrap();
    assert_eq!(
        again,
        json!({"user_id": "alice", "connections_deleted": 0, "revocations_scheduled": 0, "flows_deleted": 0})
    );
}

on_both_backends! {
    pages_follow_the_link_header_through_every_connection_once =>
        pages_follow_the_link_header_through_every_connection_once_on_sqlite,
        pages_follow_the_link_header_through_every_connection_once_on_postgres;
    bad_list_parameters_are_refused_naming_the_parameter =>
        bad_list_parameters_are_refused_naming_the_parameter_on_sqlite,
        bad_list_parameters_are_refused_naming_the_parameter_on_postgres;
    the_tenant_view_lists_users_with_counts_and_never_another_tenants =>
        the_tenant_view_lists_users_with_counts_and_never_another_tenants_on_sqlite,
        the_tenant_view_lists_users_with_counts_and_never_another_tenants_on_postgres;
    forgetting_a_user_disconnects_and_revokes_everything_of_theirs_and_nothing_else =>
        forgetting_a_user_disconnects_and_revokes_everything_of_theirs_and_nothing_else_on_sqlite,
        forgetting_a_user_disconnects_and_revokes_everything_of_theirs_and_nothing_else_on_postgres;
}
