//! End users (issue 15): every keyed call acts for the user its `X-End-User-Id` names
//! (`default` without one). Another user's `ref_id` answers exactly what a `ref_id` that never
//! existed answers, on every route, and changes nothing; a malformed header is `422` and changes
//! nothing. On both backends, since the scoping is the stores'.
//!
//! Tenants come from the engine key, and this service has one key (tenant `default`) until the
//! keys file lands: isolation between tenants is proved by the store contract (the same user id
//! in two tenants) and by `actix-api`'s test that the key guard's tenant reaches the store.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::backends::{Backend, on_both_backends, spawn_on};
use crate::helpers::{TestApp, assert_error};
use crate::oauth_flow::query_param;

const HEADER: &str = "X-End-User-Id";
/// A well-formed ref id that no connection has.
const NEVER_MADE: &str = "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A keyed call acting for `user` (`None`: no header, the default user).
async fn call(app: &TestApp, user: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> Response {
    let mut request = app.client.request(method, app.url(path)).header("X-Engine-Key", &app.key);
    if let Some(user) = user {
        request = request.header(HEADER, user);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

async fn connect_keyed(app: &TestApp, user: Option<&str>) -> String {
    let body = json!({"server_name": "keyed", "server_config": {"api_key": "k-secret-1"}});
    let created: Value = call(app, user, Method::POST, "/assets/connect", Some(&body)).await.json().await.unwrap();
    created["ref_id"].as_str().expect("connected").to_owned()
}

/// Every route that names a connection, as (method, path, body) for `ref_id`.
fn routes_of(ref_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/assets/connections/{ref_id}"), None),
        (Method::GET, format!("/assets/connections/{ref_id}/credentials"), None),
        (Method::GET, format!("/assets/connections/{ref_id}/events"), None),
        (Method::DELETE, format!("/assets/connections/{ref_id}"), None),
        (
            Method::POST,
            "/assets/connect".to_owned(),
            Some(json!({"server_name": "keyed", "server_config": {"ref_id": ref_id}})),
        ),
    ]
}

/// Status and body of an answer, without the request id (the one part that always differs).
async fn answer(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    if let Some(details) = body.get_mut("details").and_then(Value::as_object_mut) {
        details.remove("request_id");
    }
    (status, body)
}

/// What `user` sees of everything: its list, and each given connection as read by its owner.
async fn everything(app: &TestApp, reads: &[(Option<&str>, &str)]) -> Vec<(StatusCode, Value)> {
    let mut seen = Vec::new();
    for (user, ref_id) in reads {
        seen.push(answer(call(app, *user, Method::GET, "/assets/connections", None).await).await);
        for path in [format!("/assets/connections/{ref_id}"), format!("/assets/connections/{ref_id}/events")] {
            seen.push(answer(call(app, *user, Method::GET, &path, None).await).await);
        }
    }
    seen
}

/// Bob, and the default user (no header), get for each of Alice's connection's routes exactly
/// what a ref id that never existed gets, and afterwards Alice's connection, list and events
/// are as they were.
async fn another_users_ref_id_answers_as_one_that_never_existed(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let alice = connect_keyed(&app, Some("alice@example.com")).await;
    let mine = connect_keyed(&app, None).await;
    let before = everything(&app, &[(Some("alice@example.com"), &alice), (None, &mine)]).await;

    for user in [Some("bob"), None, Some("Alice@example.com")] {
        for ((method, theirs, body), (_, never, never_body)) in routes_of(&alice).into_iter().zip(routes_of(NEVER_MADE))
        {
            let got = answer(call(&app, user, method.clone(), &theirs, body.as_ref()).await).await;
            let missing = answer(call(&app, user, method.clone(), &never, never_body.as_ref()).await).await;
            assert_eq!(got, missing, "{user:?} {method} {theirs}");
            assert_eq!(got.0, StatusCode::NOT_FOUND, "{user:?} {method} {theirs}: {}", got.1);
            assert_eq!(got.1["error"], "CONNECTION_NOT_FOUND");
        }
    }

    assert_eq!(everything(&app, &[(Some("alice@example.com"), &alice), (None, &mine)]).await, before);
    let listed: Vec<Value> =
        call(&app, Some("alice@example.com"), Method::GET, "/assets/connections", None).await.json().await.unwrap();
    assert_eq!(listed.iter().map(|c| c["ref_id"].as_str().unwrap()).collect::<Vec<_>>(), [alice.as_str()]);
}

/// A malformed `X-End-User-Id` is `422 VALIDATION_ERROR` naming the header (and never its
/// value) on every keyed route, and changes nothing: no connection made, none deleted.
async fn a_malformed_user_header_is_refused_and_changes_nothing(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mine = connect_keyed(&app, None).await;
    let before = everything(&app, &[(None, &mine)]).await;
    let too_long = "u".repeat(256);
    for bad in ["bob smith", "a/b", "", too_long.as_str(), "a%2Fb", "<script>"] {
        let mut routes = routes_of(&mine);
        routes.push((Method::GET, "/assets/connections".to_owned(), None));
        routes.push((Method::GET, "/assets/servers".to_owned(), None));
        routes.push((Method::POST, "/assets/connect".to_owned(), Some(json!({"server_name": "open"}))));
        routes.push((Method::POST, "/assets/callback".to_owned(), Some(json!({"state": "s", "code": "c"}))));
        for (method, path, body) in routes {
            let response = call(&app, Some(bad), method.clone(), &path, body.as_ref()).await;
            let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
            assert_eq!(error["details"]["field"], HEADER, "{bad:?} {method} {path}");
            assert!(bad.len() < 3 || !error.to_string().contains(bad), "{error}");
        }
    }
    assert_eq!(everything(&app, &[(None, &mine)]).await, before, "nothing changed");
}

/// No header is the default user, who sees exactly what the seed API always showed: its own
/// connections, and the same answers with `X-End-User-Id: default`.
async fn no_header_is_the_default_user(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mine = connect_keyed(&app, None).await;
    connect_keyed(&app, Some("bob")).await;
    let unnamed = everything(&app, &[(None, &mine)]).await;
    assert_eq!(everything(&app, &[(Some("default"), &mine)]).await, unnamed);
    let listed = &unnamed[0].1;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "only the default user's own: {listed}");
    let credentials = call(&app, None, Method::GET, &format!("/assets/connections/{mine}/credentials"), None).await;
    assert_eq!(credentials.status(), StatusCode::OK);
}

/// A callback relayed with the engine key completes only a flow of the user who started it:
/// Bob's relay of Alice's `state` is `INVALID_STATE` as an unknown state is, and leaves the flow
/// to Alice's, which completes it.
async fn a_relayed_callback_completes_only_the_flow_of_its_own_user(backend: Backend) {
    let (app, auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let started = call(&app, Some("alice"), Method::POST, "/assets/connect", Some(&json!({"server_name": "acme"})))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let consent = app.client.get(started["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let relay = json!({"state": query_param(&callback, "state"), "iss": query_param(&callback, "iss"),
        "code": query_param(&callback, "code")});
    let unknown = json!({"state": "never-issued", "iss": query_param(&callback, "iss"), "code": "c"});

    for user in [Some("bob"), None] {
        let got = answer(call(&app, user, Method::POST, "/assets/callback", Some(&relay)).await).await;
        let missing = answer(call(&app, user, Method::POST, "/assets/callback", Some(&unknown)).await).await;
        assert_eq!(got, missing, "{user:?}");
        assert_eq!(got.1["error"], "INVALID_STATE");
    }
    assert_eq!(auth.code_exchanges(), 0, "no other user's relay reached the provider");
    let done = call(&app, Some("alice"), Method::POST, "/assets/callback", Some(&relay)).await;
    assert_eq!(done.status(), StatusCode::OK);
    let ref_id = started["ref_id"].as_str().unwrap();
    let connection: Value = call(&app, Some("alice"), Method::GET, &format!("/assets/connections/{ref_id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(connection["status"], "connected");
}

/// Random (user, ref id, route) calls against a model of who owns what: every call finds a
/// connection exactly when its user owns it and it is still there, so the count of reads,
/// writes and deletes that crossed users is 0.
async fn random_users_ref_ids_and_routes_never_cross_users(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let users = [None, Some("alice"), Some("bob"), Some("carol@example.com")];
    let mut owned: Vec<(usize, String, bool)> = Vec::new();
    for (i, user) in users.iter().enumerate() {
        for _ in 0..2 {
            owned.push((i, connect_keyed(&app, *user).await, true));
        }
    }
    owned.push((usize::MAX, NEVER_MADE.to_owned(), false));
    let mut rng = store_contract::fixtures::Rng(0x0A55_E7D1_2EC7_0125);
    let (mut crossed, mut calls) = (0, 0);
    for _ in 0..80 {
        let caller = rng.below(users.len());
        let pick = rng.below(owned.len());
        let (owner, ref_id, alive) = owned[pick].clone();
        let routes = routes_of(&ref_id);
        let (method, path, body) = routes[rng.below(routes.len() - 1)].clone();
        let response = call(&app, users[caller], method.clone(), &path, body.as_ref()).await;
        let found = response.status() != StatusCode::NOT_FOUND;
        let owns = owner == caller && alive;
        crossed += usize::from(found && !owns);
        assert_eq!(found, owns, "{:?} {method} {path}: {}", users[caller], response.status());
        if found && method == Method::DELETE {
            owned[pick].2 = false;
        }
        calls += 1;
    }
    assert_eq!((crossed, calls), (0, 80));
    for (i, user) in users.iter().enumerate() {
        let listed: Vec<Value> =
            call(&app, *user, Method::GET, "/assets/connections", None).await.json().await.unwrap();
        let mut listed: Vec<&str> = listed.iter().map(|c| c["ref_id"].as_str().unwrap()).collect();
        let mut expected: Vec<&str> =
            owned.iter().filter(|(o, _, alive)| *o == i && *alive).map(|(_, r, _)| r.as_str()).collect();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{user:?} lists exactly its own");
    }
}

on_both_backends! {
    another_users_ref_id_answers_as_one_that_never_existed =>
        another_users_ref_id_answers_as_one_that_never_existed_on_sqlite,
        another_users_ref_id_answers_as_one_that_never_existed_on_postgres;
    a_malformed_user_header_is_refused_and_changes_nothing =>
        a_malformed_user_header_is_refused_and_changes_nothing_on_sqlite,
        a_malformed_user_header_is_refused_and_changes_nothing_on_postgres;
    no_header_is_the_default_user => no_header_is_the_default_user_on_sqlite, no_header_is_the_default_user_on_postgres;
    a_relayed_callback_completes_only_the_flow_of_its_own_user =>
        a_relayed_callback_completes_only_the_flow_of_its_own_user_on_sqlite,
        a_relayed_callback_completes_only_the_flow_of_its_own_user_on_postgres;
    random_users_ref_ids_and_routes_never_cross_users =>
        random_users_ref_ids_and_routes_never_cross_users_on_sqlite,
        random_users_ref_ids_and_routes_never_cross_users_on_postgres;
}
