//! A flow started on the hosted connect page completes only in the browser that started it
//! (issue 15): its nonce cookie is checked at the callback before the flow is taken, so a
//! forwarded `auth_url` consented to in another browser is refused and spends nothing. Flows the
//! engine starts are bound to no browser, as before. On both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::backends::{Backend, on_both_backends, spawn_on};
use crate::connect_page::{HTML, Visitor, connect_url, field};
use crate::helpers::{TestApp, assert_error, captured_logs};
use crate::oauth_flow::{start_flow, status_of};

/// Enters a session's page for `user` and presses Connect on `acme`: the `auth_url` the page
/// sends the browser on to.
async fn start_on_page(app: &TestApp, visitor: &mut Visitor, user: &str) -> String {
    let page = visitor.enter(app, &connect_url(app, user, Some(&["acme"])).await).await;
    let csrf = field(&page, "csrf");
    let leaving = visitor.post_form(app, &[("csrf", &csrf), ("server_name", "acme")]).await;
    assert_eq!(leaving.status(), StatusCode::OK);
    let html = leaving.text().await.unwrap();
    assert!(html.contains("<h1>Continuing to Acme…</h1>"), "{html}");
    let href = html.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
    href.replace("&amp;", "&")
}

/// The provider's consent, given at once: the callback URL it sends the browser back to.
async fn consent(app: &TestApp, auth_url: &str) -> String {
    let consent = app.client.get(auth_url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    consent.headers()["location"].to_str().unwrap().to_owned()
}

/// `user`'s only connection, as the engine sees it.
async fn only_connection(app: &TestApp, user: &str) -> Value {
    let list = app.client.get(app.url("/assets/connections")).header("X-Engine-Key", &app.key);
    let list: Value = list.header("X-End-User-Id", user).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    list[0].clone()
}

async fn a_forwarded_oauth_link_completes_only_in_the_browser_that_started_it(backend: Backend) {
    let (app, auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mut mallory = Visitor::default();
    let auth_url = start_on_page(&app, &mut mallory, "mallory").await;
    let nonce = mallory.cookie("ad_browser").expect("the page set the browser cookie");
    // Mallory forwards the link; Alice consents in her own browser, which has another nonce
    // (she started a flow of her own) or none at all.
    let mut alice = Visitor::default();
    start_on_page(&app, &mut alice, "alice").await;
    let callback = consent(&app, &auth_url).await;
    for mut elsewhere in [Visitor::default(), alice.clone()] {
        let refused = elsewhere.get(&app, &callback).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.text().await.unwrap().contains("INVALID_STATE"));
        let as_json =
            app.client.get(&callback).header("Cookie", format!("ad_browser={}", alice.cookie("ad_browser").unwrap()));
        assert_error(as_json.send().await.unwrap(), StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    }
    let relayed = app.client.post(app.url("/assets/callback")).header("X-Engine-Key", &app.key);
    let state = crate::oauth_flow::query_param(&callback, "state").unwrap();
    let code = crate::oauth_flow::query_param(&callback, "code").unwrap();
    let relayed = relayed.header("X-End-User-Id", "mallory").json(&json!({"state": state, "code": code}));
    assert_error(relayed.send().await.unwrap(), StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    let pending = only_connection(&app, "mallory").await;
    assert_eq!(pending["status"], "pending_oauth", "the refusals changed nothing");
    assert_eq!(auth.code_exchanges(), 0, "no code was redeemed");

    let done = mallory.get(&app, &callback).await;
    assert_eq!(done.status(), StatusCode::OK, "the browser that started the flow completes it");
    assert!(done.text().await.unwrap().contains("Connected to Acme."));
    assert_eq!(only_connection(&app, "mallory").await["status"], "connected");
    assert!(!captured_logs().contains(&nonce), "the logs hold a browser nonce");
}

async fn a_flow_the_engine_started_completes_in_any_browser_as_before(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mut visitor = Visitor::default();
    start_on_page(&app, &mut visitor, "default").await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let done = app.client.get(&callback).header("Accept", HTML);
    let done = done.header("Cookie", format!("ad_browser={}", visitor.cookie("ad_browser").unwrap()));
    assert_eq!(done.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(status_of(&app, &ref_id).await, "connected");
}

async fn the_browser_cookie_is_http_only_lax_and_scoped_to_the_callback(backend: Backend) {
    let (app, _auth) = spawn_on(backend, TestAuthConfig::default()).await;
    let mut visitor = Visitor::default();
    let page = visitor.enter(&app, &connect_url(&app, "alice", Some(&["acme"])).await).await;
    let csrf = field(&page, "csrf");
    let leaving = visitor.post_form(&app, &[("csrf", &csrf), ("server_name", "acme")]).await;
    let set = visitor.keep(&leaving);
    let browser = set.iter().find(|c| c.starts_with("ad_browser=")).expect("the browser cookie is set");
    assert!(browser.contains("; Path=/assets;") && browser.contains("SameSite=Lax"), "{browser}");
    assert!(browser.contains("HttpOnly") && browser.contains("Max-Age="), "{browser}");
    let nonce = visitor.cookie("ad_browser").unwrap();
    let again = visitor.post_form(&app, &[("csrf", &csrf), ("server_name", "acme")]).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(visitor.cookie("ad_browser").unwrap(), nonce, "one nonce per browser, renewed");
}

on_both_backends! {
    a_forwarded_oauth_link_completes_only_in_the_browser_that_started_it =>
        a_forwarded_oauth_link_completes_only_in_the_browser_that_started_it_on_sqlite,
        a_forwarded_oauth_link_completes_only_in_the_browser_that_started_it_on_postgres;
    a_flow_the_engine_started_completes_in_any_browser_as_before =>
        a_flow_the_engine_started_completes_in_any_browser_as_before_on_sqlite,
        a_flow_the_engine_started_completes_in_any_browser_as_before_on_postgres;
    the_browser_cookie_is_http_only_lax_and_scoped_to_the_callback =>
        the_browser_cookie_is_http_only_lax_and_scoped_to_the_callback_on_sqlite,
        the_browser_cookie_is_http_only_lax_and_scoped_to_the_callback_on_postgres;
}
