//! The OAuth mix-up defence (RFC 9700 §4.4.2, issue 20 item 2), end to end: a redirect URI per
//! dynamically chosen authorization server, and a flow that completes only at its own. First
//! the attack itself: a custom MCP server guarded by an attacker's authorization server, and an
//! honest one the service also uses.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{IssMode, ResourceConfig, TestAuthConfig, TestAuthServer, TestResourceServer};

use crate::helpers::{Spawn, TestApp, assert_error};

/// An authorization server that sends no `iss` (as many do) and knows no client in advance,
/// with the resource it guards.
async fn server(allow_loopback_redirects: bool) -> (TestAuthServer, TestResourceServer) {
    let auth = TestAuthServer::start(TestAuthConfig {
        clients: Vec::new(),
        allow_loopback_redirects,
        iss: IssMode::Missing,
        advertise_iss: false,
        ..TestAuthConfig::default()
    })
    .await;
    let resource = auth.start_resource(ResourceConfig::default());
    (auth, resource)
}

async fn auth_url(app: &TestApp, name: &str, resource: &TestResourceServer) -> url::Url {
    let body = json!({"server_name": name, "server_config": {"url": resource.mcp_url()}});
    let response = app.post_json("/assets/connect", &body).await;
    let created: Value = response.json().await.unwrap();
    url::Url::parse(created["auth_url"].as_str().expect("an OAuth flow starts")).unwrap()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

async fn follow(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::FOUND, "a redirect");
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_code_an_attacker_had_the_honest_server_issue_never_reaches_the_attackers_token_endpoint() {
    let (honest, honest_docs) = server(false).await;
    let (attacker, attacker_docs) = server(true).await;
    let app = Spawn::default().start().await;

    // The service's client at the honest server, as any user connecting there reveals it.
    let honest_start = auth_url(&app, "honest-docs", &honest_docs).await;
    let mut bounce = url::Url::parse(&honest.authorization_endpoint()).unwrap();
    for name in ["client_id", "redirect_uri", "resource"] {
        bounce.query_pairs_mut().append_pair(name, &param(&honest_start, name));
    }
    attacker.configure(|c| c.bounce_to = Some(bounce.to_string()));

    // The victim connects the attacker's server; its authorization server bounces the browser
    // to the honest one with the victim flow's `state` and PKCE challenge.
    let victim_start = auth_url(&app, "attacker-docs", &attacker_docs).await;
    let to_honest = location(&follow(&app, victim_start.as_str()).await);
    let back = location(&follow(&app, &to_honest).await);
    assert!(back.contains("code="), "the honest server issued a code: {back}");
    let response = follow(&app, &back).await;

    assert!(attacker.token_requests().is_empty(), "the honest code was posted to the attacker");
    assert!(honest.token_requests().is_empty(), "and to no one else");
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
}

/// A custom server's flow, followed to the provider's redirect back: the URL the browser is sent to.
async fn per_issuer_callback(app: &TestApp, resource: &TestResourceServer) -> url::Url {
    let start = auth_url(app, "my-docs", resource).await;
    url::Url::parse(&location(&follow(app, start.as_str()).await)).unwrap()
}

fn at(app: &TestApp, path: &str, callback: &url::Url) -> String {
    format!("{}?{}", app.url(path), callback.query().unwrap())
}

async fn statuses(app: &TestApp) -> Vec<String> {
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    listed.iter().map(|c| c["status"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_static_catalog_entry_still_comes_back_at_the_shared_callback() {
    let (app, _auth) = crate::oauth_flow::spawn_with_auth(TestAuthConfig::default()).await;
    let (_, callback) = crate::oauth_flow::start_flow(&app, json!({"server_name": "acme"})).await;
    let callback = url::Url::parse(&callback).unwrap();
    assert_eq!(callback.path(), "/assets/oauth/callback");
    let done = follow(&app, callback.as_str()).await;
    assert_eq!(done.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_flow_is_refused_at_any_redirect_uri_but_its_own_and_nothing_reaches_a_token_endpoint() {
    let (auth, resource) = server(true).await;
    let app = Spawn::default().start().await;
    let own = format!("/assets/oauth/callback/{}", app::issuer_key(auth.issuer()));
    let other = format!("/assets/oauth/callback/{}", app::issuer_key("https://other.example"));

    for wrong in ["/assets/oauth/callback", other.as_str()] {
        let callback = per_issuer_callback(&app, &resource).await;
        assert_eq!(callback.path(), own);
        let response = follow(&app, &at(&app, wrong, &callback)).await;
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
        assert!(auth.token_requests().is_empty(), "{wrong}: the code was sent");
    }
    assert_eq!(statuses(&app).await, ["failed", "failed"], "a refused flow cannot be completed later");

    let callback = per_issuer_callback(&app, &resource).await;
    let malformed = follow(&app, &at(&app, "/assets/oauth/callback/NOT-A-KEY", &callback)).await;
    assert_error(malformed, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let done = follow(&app, &at(&app, &own, &callback)).await;
    assert_eq!(done.status(), StatusCode::OK, "a malformed key changed nothing; its own URI completes it");
    assert_eq!(auth.token_requests().len(), 1);
}

#[tokio::test]
async fn a_relayed_callback_must_name_a_per_issuer_redirect_uri_and_completes_when_it_does() {
    let (auth, resource) = server(true).await;
    let app = Spawn::default().start().await;
    let relay = |callback: &url::Url, redirect_uri: Option<String>| {
        let mut body = json!({"code": param(callback, "code"), "state": param(callback, "state")});
        if let Some(uri) = redirect_uri {
            body["redirect_uri"] = json!(uri);
        }
        body
    };

    let callback = per_issuer_callback(&app, &resource).await;
    let refused = app.post_json("/assets/callback", &relay(&callback, None)).await;
    assert_error(refused, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    assert!(auth.token_requests().is_empty(), "absent means the shared URI: nothing is sent");

    let callback = per_issuer_callback(&app, &resource).await;
    let arrived_at = app.url(callback.path());
    let done = app.post_json("/assets/callback", &relay(&callback, Some(arrived_at))).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(statuses(&app).await.iter().filter(|s| *s == "connected").count(), 1);
}

#[tokio::test]
async fn a_relayed_callback_naming_another_redirect_uri_than_a_static_flows_is_refused() {
    let (app, auth) = crate::oauth_flow::spawn_with_auth(TestAuthConfig::default()).await;
    let (_, callback) = crate::oauth_flow::start_flow(&app, json!({"server_name": "acme"})).await;
    let callback = url::Url::parse(&callback).unwrap();
    let elsewhere = app.url(&format!("/assets/oauth/callback/{}", app::issuer_key(auth.issuer())));
    let body = json!({"code": param(&callback, "code"), "state": param(&callback, "state"),
                      "iss": param(&callback, "iss"), "redirect_uri": elsewhere});
    let refused = app.post_json("/assets/callback", &body).await;
    assert_error(refused, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    assert!(auth.token_requests().is_empty());
}
