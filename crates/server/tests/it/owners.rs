//! End users (issue 15): every keyed call acts for the user its `X-End-User-Id` names
//! (`default` without one). Another user's `ref_id` answers exactly what a `ref_id` that never
//! existed answers, on every route, and changes nothing; a malformed header is `422` and changes
//! nothing. On both backends, since the scoping is the stores'.
//!
//! The same rules between tenants (engine keys of a keys file) are `tenant_isolation`'s, which
//! runs these scenarios with callers of several tenants.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::backends::{Backend, on_both_backends, spawn_on};
use crate::helpers::{TestApp, assert_error};
use crate::oauth_flow::query_param;

const HEADER: &str = "X-End-User-Id";
/// A well-formed ref id that no connection has.
pub(crate) const NEVER_MADE: &str = "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Who calls: an engine key (which says the tenant) and the user named in `X-End-User-Id`
/// (`None`: no header, the default user).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Who<'a> {
    pub key: &'a str,
    pub user: Option<&'a str>,
}

/// `user` with the service's own key (tenant `default`).
fn user<'a>(app: &'a TestApp, user: Option<&'static str>) -> Who<'a> {
    Who { key: &app.key, user }
}

/// A keyed call acting for `who`.
pub(crate) async fn call(app: &TestApp, who: Who<'_>, method: Method, path: &str, body: Option<&Value>) -> Response {
    let mut request = app.client.request(method, app.url(path)).header("X-Engine-Key", who.key);
    if let Some(user) = who.user {
        request = request.header(HEADER, user);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

pub(crate) async fn connect_keyed(app: &TestApp, who: Who<'_>) -> String {
    let body = json!({"server_name": "keyed", "server_config": {"api_key": "k-secret-1"}});
    let created: Value = call(app, who, Method::POST, "/assets/connect", Some(&body)).await.json().await.unwrap();
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

/// What each caller sees of everything: its list, and the given connection as read by it.
async fn everything(app: &TestApp, reads: &[(Who<'_>, &str)]) -> Vec<(StatusCode, Value)> {
    let mut seen = Vec::new();
    for (who, ref_id) in reads {
        seen.push(answer(call(app, *who, Method::GET, "/assets/connections", None).await).await);
        for path in [format!("/assets/connections/{ref_id}"), format!("/assets/connections/{ref_id}/events")] {
            seen.push(answer(call(app, *who, Method::GET, &path, None).await).await);
        }
    }
    seen
}

/// Each stranger gets for each route of `owner`'s connection exactly what a ref id that never
/// existed gets, `404 CONNECTION_NOT_FOUND`; afterwards the connections, lists and events of
/// `owner` and of `bystander` are as they were, and `owner` lists exactly its own.
pub(crate) async fn strangers_get_what_a_never_made_ref_id_gets(
    app: &TestApp,
    owner: Who<'_>,
    bystander: Who<'_>,
    strangers: &[Who<'_>],
) {
    let theirs = connect_keyed(app, owner).await;
    let other = connect_keyed(app, bystander).await;
    let before = everything(app, &[(owner, &theirs), (bystander, &other)]).await;

    for stranger in strangers {
        for ((method, path, body), (_, never, never_body)) in routes_of(&theirs).into_iter().zip(routes_of(NEVER_MADE))
        {
            let got = answer(call(app, *stranger, method.clone(), &path, body.as_ref()).await).await;
            let missing = answer(call(app, *stranger, method.clone(), &never, never_body.as_ref()).await).await;
            assert_eq!(got, missing, "{stranger:?} {method} {path}");
            assert_eq!(got.0, StatusCode::NOT_FOUND, "{stranger:?} {method} {path}: {}", got.1);
            assert_eq!(got.1["error"], "CONNECTION_NOT_FOUND");
        }
    }

    assert_eq!(everything(app, &[(owner, &theirs), (bystander, &other)]).await, before);
    let listed: Vec<Value> = call(app, owner, Method::GET, "/assets/connections", None).await.json().await.unwrap();
    assert_eq!(listed.iter().map(|c| c["ref_id"].as_str().unwrap()).collect::<Vec<_>>(), [theirs.as_str()]);
}

/// Bob, and the default user (no header), get for each of Alice's connection's routes exactly
/// what a ref id that never existed gets, and afterwards Alice's connection, list and events
/// are as they were.
async fn another_users_ref_id_answers_as_one_that_never_existed(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let strangers = [user(&app, Some("bob")), user(&app, None), user(&app, Some("Alice@example.com"))];
    strangers_get_what_a_never_made_ref_id_gets(
        &app,
        user(&app, Some("alice@example.com")),
        user(&app, None),
        &strangers,
    )
    .await;
}

/// A malformed `X-End-User-Id` is `422 VALIDATION_ERROR` naming the header (and never its
/// value) on every keyed route, and changes nothing: no connection made, none deleted.
async fn a_malformed_user_header_is_refused_and_changes_nothing(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mine = connect_keyed(&app, user(&app, None)).await;
    let before = everything(&app, &[(user(&app, None), &mine)]).await;
    let too_long = "u".repeat(256);
    for bad in ["bob smith", "a/b", "", too_long.as_str(), "a%2Fb", "<script>"] {
        let mut routes = routes_of(&mine);
        routes.push((Method::GET, "/assets/connections".to_owned(), None));
        routes.push((Method::GET, "/assets/servers".to_owned(), None));
        routes.push((Method::POST, "/assets/connect".to_owned(), Some(json!({"server_name": "open"}))));
        routes.push((Method::POST, "/assets/callback".to_owned(), Some(json!({"state": "s", "code": "c"}))));
        for (method, path, body) in routes {
            let who = Who { key: &app.key, user: Some(bad) };
            let response = call(&app, who, method.clone(), &path, body.as_ref()).await;
            let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
            assert_eq!(error["details"]["field"], HEADER, "{bad:?} {method} {path}");
            assert!(bad.len() < 3 || !error.to_string().contains(bad), "{error}");
        }
    }
    assert_eq!(everything(&app, &[(user(&app, None), &mine)]).await, before, "nothing changed");
}

/// No header is the default user, who sees exactly what the seed API always showed: its own
/// connections, and the same answers with `X-End-User-Id: default`.
async fn no_header_is_the_default_user(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mine = connect_keyed(&app, user(&app, None)).await;
    connect_keyed(&app, user(&app, Some("bob"))).await;
    let unnamed = everything(&app, &[(user(&app, None), &mine)]).await;
    assert_eq!(everything(&app, &[(user(&app, Some("default")), &mine)]).await, unnamed);
    let listed = &unnamed[0].1;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "only the default user's own: {listed}");
    let path = format!("/assets/connections/{mine}/credentials");
    let credentials = call(&app, user(&app, None), Method::GET, &path, None).await;
    assert_eq!(credentials.status(), StatusCode::OK);
}

/// A callback relayed with an engine key completes only a flow of the owner who started it:
/// each stranger's relay of the owner's `state` is `INVALID_STATE` as an unknown state is, and
/// leaves the flow to the owner's, which completes it.
pub(crate) async fn a_relayed_callback_completes_only_the_flow_of_its_owner(
    app: &TestApp,
    auth: &test_oauth_server::TestAuthServer,
    owner: Who<'_>,
    strangers: &[Who<'_>],
) {
    let started = call(app, owner, Method::POST, "/assets/connect", Some(&json!({"server_name": "acme"})))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let consent = app.client.get(started["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let relay = json!({"state": query_param(&callback, "state"), "iss": query_param(&callback, "iss"),
        "code": query_param(&callback, "code")});
    let unknown = json!({"state": "never-issued", "iss": query_param(&callback, "iss"), "code": "c"});

    for stranger in strangers {
        let got = answer(call(app, *stranger, Method::POST, "/assets/callback", Some(&relay)).await).await;
        let missing = answer(call(app, *stranger, Method::POST, "/assets/callback", Some(&unknown)).await).await;
        assert_eq!(got, missing, "{stranger:?}");
        assert_eq!(got.1["error"], "INVALID_STATE");
    }
    assert_eq!(auth.code_exchanges(), 0, "no stranger's relay reached the provider");
    let done = call(app, owner, Method::POST, "/assets/callback", Some(&relay)).await;
    assert_eq!(done.status(), StatusCode::OK);
    let ref_id = started["ref_id"].as_str().unwrap();
    let path = format!("/assets/connections/{ref_id}");
    let connection: Value = call(app, owner, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(connection["status"], "connected");
}

async fn a_relayed_callback_completes_only_the_flow_of_its_own_user(backend: Backend) {
    let (app, auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let strangers = [user(&app, Some("bob")), user(&app, None)];
    a_relayed_callback_completes_only_the_flow_of_its_owner(&app, &auth, user(&app, Some("alice")), &strangers).await;
}

/// A model of who owns what: each connection made, the index of its owner among the callers,
/// and whether it is still there. Ends with [`NEVER_MADE`], owned by nobody.
pub(crate) struct Owned(Vec<(usize, String, bool)>);

impl Owned {
    /// `each` connections of every caller.
    pub(crate) async fn make(app: &TestApp, callers: &[Who<'_>], each: usize) -> Self {
        let mut owned = Vec::new();
        for (i, who) in callers.iter().enumerate() {
            for _ in 0..each {
                owned.push((i, connect_keyed(app, *who).await, true));
            }
        }
        owned.push((usize::MAX, NEVER_MADE.to_owned(), false));
        Self(owned)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// How many routes [`Owned::call`] picks from: each that names a connection but connect.
    pub(crate) const ROUTES: usize = 4;

    /// Calls route `route` (below [`Owned::ROUTES`]) of connection `pick` as `callers[caller]`
    /// and asserts that it found the connection exactly when the caller owns it and it is still
    /// there. Returns 1 if the call reached a connection not the caller's (a read, write or
    /// delete across owners), else 0.
    pub(crate) async fn call(
        &mut self,
        app: &TestApp,
        callers: &[Who<'_>],
        caller: usize,
        pick: usize,
        route: usize,
    ) -> usize {
        let (owner, ref_id, alive) = self.0[pick].clone();
        let (method, path, body) = routes_of(&ref_id).swap_remove(route);
        let response = call(app, callers[caller], method.clone(), &path, body.as_ref()).await;
        let found = response.status() != StatusCode::NOT_FOUND;
        let owns = owner == caller && alive;
        assert_eq!(found, owns, "{:?} {method} {path}: {}", callers[caller], response.status());
        if found && method == Method::DELETE {
            self.0[pick].2 = false;
        }
        usize::from(found && !owns)
    }

    /// Every caller lists exactly its own connections still there.
    pub(crate) async fn assert_each_lists_its_own(&self, app: &TestApp, callers: &[Who<'_>]) {
        for (i, who) in callers.iter().enumerate() {
            let listed: Vec<Value> =
                call(app, *who, Method::GET, "/assets/connections", None).await.json().await.unwrap();
            let mut listed: Vec<&str> = listed.iter().map(|c| c["ref_id"].as_str().unwrap()).collect();
            let mut expected: Vec<&str> =
                self.0.iter().filter(|(o, _, alive)| *o == i && *alive).map(|(_, r, _)| r.as_str()).collect();
            listed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(listed, expected, "{who:?} lists exactly its own");
        }
    }
}

/// Random (user, ref id, route) calls against a model of who owns what: every call finds a
/// connection exactly when its user owns it and it is still there, so the count of reads,
/// writes and deletes that crossed users is 0.
async fn random_users_ref_ids_and_routes_never_cross_users(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let users = [None, Some("alice"), Some("bob"), Some("carol@example.com")];
    let callers: Vec<Who<'_>> = users.iter().map(|u| user(&app, *u)).collect();
    let mut owned = Owned::make(&app, &callers, 2).await;
    let mut rng = store_contract::fixtures::Rng(0x0A55_E7D1_2EC7_0125);
    let (mut crossed, mut calls) = (0, 0);
    for _ in 0..80 {
        let (caller, pick) = (rng.below(callers.len()), rng.below(owned.len()));
        crossed += owned.call(&app, &callers, caller, pick, rng.below(Owned::ROUTES)).await;
        calls += 1;
    }
    assert_eq!((crossed, calls), (0, 80));
    owned.assert_each_lists_its_own(&app, &callers).await;
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
