//! What a callback carries (issue 20): one that cannot be acted on changes nothing, and the
//! provider's own words reach only the audit trail, never the service's page or its API. On both
//! backends, since the callback writes to the store.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::backends::{Backend, on_both_backends, spawn_on};
use crate::helpers::{TestApp, assert_error};
use crate::oauth_flow::{query_param, start_flow, status_of};

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

/// A posted callback with a field it does not have (a mistyped `redirect_uri`, say) is refused
/// naming the field, and leaves the flow to the corrected one; a browser callback keeps
/// accepting the extra parameters providers add to the query.
async fn a_posted_callback_with_an_unknown_field_is_refused_and_leaves_the_flow(backend: Backend) {
    let (app, auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let (state, iss, code) =
        (query_param(&callback, "state"), query_param(&callback, "iss"), query_param(&callback, "code"));
    let mistyped = json!({"state": state, "iss": iss, "code": code, "redirect_url": app.url("/assets/oauth/callback")});
    let refused = assert_error(
        app.post_json("/assets/callback", &mistyped).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(refused["details"]["field"], "redirect_url", "{refused}");
    // A field sent twice (which value wins depends on who reads it), or a body that is no object.
    let (s, c) = (state.clone().unwrap(), code.clone().unwrap());
    let twice = format!(r#"{{"state":"{s}","code":"{c}","redirect_uri":"a","redirect_uri":"b"}}"#);
    let array = format!(r#"["{c}","{s}",null,null,null,"b"]"#);
    for body in [twice, array] {
        let response = app
            .client
            .post(app.url("/assets/callback"))
            .header("X-Engine-Key", &app.key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    }
    assert_eq!(status_of(&app, &ref_id).await, "pending_oauth", "the refusals changed nothing");
    assert_eq!(auth.code_exchanges(), 0);

    let real = json!({"state": state, "iss": iss, "code": code});
    assert_eq!(app.post_json("/assets/callback", &real).await.status(), StatusCode::OK);
    assert_eq!(status_of(&app, &ref_id).await, "connected");

    let (_, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let with_extra = with_param(&callback, "session_state", Some("abc"));
    assert_eq!(app.client.get(&with_extra).send().await.unwrap().status(), StatusCode::OK);
}

/// What a provider (or anyone who reaches the callback) might try to put on the service's page:
/// markup, a right-to-left override that reverses what follows, a control character, and more
/// than the audit trail keeps.
fn hostile_description() -> String {
    format!("\u{202E}<b>Your account is suspended.</b> Call\u{7} +1 555 0100 {}", "x".repeat(300))
}

/// What the audit trail keeps of it: no control or bidirectional character, 200 characters.
fn kept_of(description: &str) -> String {
    let kept: String = description.chars().filter(|c| !c.is_control() && *c != '\u{202E}').take(200).collect();
    format!("{kept}…")
}

/// The connection as listed by `GET /assets/connections` and by `GET …/{ref_id}`.
async fn listed(app: &TestApp, ref_id: &str) -> [Value; 2] {
    let all: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    let one: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    [all.into_iter().find(|c| c["ref_id"] == ref_id).expect("listed"), one]
}

const ACCESS_DENIED: &str = "access was not granted: the user or the authorization server refused (access_denied)";

/// A refusal whose description holds markup and a bidi override: the page, the error and
/// `status_reason` show the fixed words for `access_denied`; the `failed` event keeps the
/// provider's words, cleaned and cut short.
async fn a_refusal_shows_fixed_words_and_only_the_audit_trail_keeps_the_providers(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig { deny: true, ..TestAuthConfig::default() }).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert_eq!(query_param(&callback, "error").as_deref(), Some("access_denied"));
    let description = hostile_description();
    let url = with_param(&callback, "error_description", Some(&description));
    let response = app.client.get(&url).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains("<code>OAUTH_ACCESS_DENIED</code>") && page.contains(ACCESS_DENIED), "{page}");
    for provider_words in ["suspended", "555", "\u{202E}", "xxx"] {
        assert!(!page.contains(provider_words), "the page shows the provider's words: {page}");
    }
    for connection in listed(&app, &ref_id).await {
        assert_eq!(connection["status"], "failed");
        assert_eq!(connection["status_reason"], ACCESS_DENIED, "{connection}");
    }
    let events = events_of(&app, &ref_id).await;
    assert_eq!(kinds(&events), ["created", "failed"]);
    assert_eq!(events[1]["detail"], format!("access_denied: {}", kept_of(&description)));
}

/// An error code outside RFC 6749 is not repeated either: the answer and `status_reason` say
/// that the code is unknown; only the `failed` event holds it, cleaned.
async fn an_unknown_error_code_is_shown_as_unknown_and_only_the_audit_trail_keeps_it(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let refusal = json!({
        "state": query_param(&callback, "state"), "iss": query_param(&callback, "iss"),
        "error": "account_suspended_call_555_0100", "error_description": "\u{2066}see https://evil.example",
    });
    let response = app.post_json("/assets/callback", &refusal).await;
    let body = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(body["details"]["step"], "authorization");
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("555") && !message.contains("evil"), "{message}");
    for connection in listed(&app, &ref_id).await {
        assert_eq!(connection["status_reason"], message, "{connection}");
    }
    let events = events_of(&app, &ref_id).await;
    assert_eq!(events[1]["detail"], "account_suspended_call_555_0100: see https://evil.example");
}

on_both_backends! {
    a_posted_callback_with_an_unknown_field_is_refused_and_leaves_the_flow =>
        a_posted_callback_with_an_unknown_field_is_refused_and_leaves_the_flow_on_sqlite,
        a_posted_callback_with_an_unknown_field_is_refused_and_leaves_the_flow_on_postgres;
    a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one =>
        a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_sqlite,
        a_browser_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_postgres;
    a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one =>
        a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_sqlite,
        a_posted_callback_without_code_or_error_leaves_the_flow_to_the_real_one_on_postgres;
    a_refusal_shows_fixed_words_and_only_the_audit_trail_keeps_the_providers =>
        a_refusal_shows_fixed_words_and_only_the_audit_trail_keeps_the_providers_on_sqlite,
        a_refusal_shows_fixed_words_and_only_the_audit_trail_keeps_the_providers_on_postgres;
    an_unknown_error_code_is_shown_as_unknown_and_only_the_audit_trail_keeps_it =>
        an_unknown_error_code_is_shown_as_unknown_and_only_the_audit_trail_keeps_it_on_sqlite,
        an_unknown_error_code_is_shown_as_unknown_and_only_the_audit_trail_keeps_it_on_postgres;
}
