//! The browser's end of an OAuth flow without `return_to`: a small HTML page when the browser
//! prefers `text/html`, JSON otherwise; everything shown escaped, under a strict policy.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use test_oauth_server::{Failure, TestAuthConfig, TestAuthServer};

use crate::helpers::{Spawn, TestApp};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, start_flow};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The service with `acme` shown to users as `display_name`.
async fn spawn(config: TestAuthConfig, display_name: &str) -> (TestApp, TestAuthServer) {
    let auth = TestAuthServer::start(config).await;
    let mut catalog = oauth_catalog(&auth);
    let acme = catalog["servers"].as_array_mut().unwrap().iter_mut().find(|s| s["server_name"] == "acme").unwrap();
    acme["display_name"] = json!(display_name);
    let app = Spawn::default().catalog(catalog).var("ACME_CLIENT_SECRET", CLIENT_SECRET).start().await;
    (app, auth)
}

async fn from_browser(app: &TestApp, url: &str) -> Response {
    app.client.get(url).header("Accept", BROWSER_ACCEPT).send().await.unwrap()
}

fn assert_protected_html(response: &Response) {
    let headers = response.headers();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src"), "{csp}");
}

#[tokio::test]
async fn a_browser_sees_a_page_naming_the_server_it_connected_to() {
    let (app, _auth) = spawn(TestAuthConfig::default(), "Acme").await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let response = from_browser(&app, &callback).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_protected_html(&response);
    let page = response.text().await.unwrap();
    assert!(page.contains("Connected to Acme.") && page.contains("You can close this window."), "{page}");
    assert!(!page.contains(&ref_id), "the page shows nothing the user does not need");
    let connection: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    assert_eq!(connection["status"], "connected");
}

#[tokio::test]
async fn an_api_client_still_gets_json() {
    let (app, _auth) = spawn(TestAuthConfig::default(), "Acme").await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let response = app.client.get(&callback).header("Accept", "application/json").send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["ref_id"].as_str(), body["status"].as_str()), (Some(&*ref_id), Some("connected")));
}

#[tokio::test]
async fn the_display_name_is_escaped() {
    let (app, _auth) = spawn(TestAuthConfig::default(), "Acme <script>alert(1)</script> & Co").await;
    let (_, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let page = from_browser(&app, &callback).await.text().await.unwrap();
    assert!(page.contains("Connected to Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co."), "{page}");
    assert!(!page.contains("<script>"));
}

#[tokio::test]
async fn a_refused_consent_shows_the_error_code_and_none_of_the_providers_words() {
    let (app, _auth) = spawn(TestAuthConfig { deny: true, ..TestAuthConfig::default() }, "Acme").await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "error_description" { "<img src=x onerror=alert(1)>".to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let response = from_browser(&app, url.as_str()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_protected_html(&response);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let page = response.text().await.unwrap();
    assert!(page.contains("<code>OAUTH_ACCESS_DENIED</code>"), "{page}");
    assert!(!page.contains("img") && !page.contains("onerror"), "only the audit trail keeps them: {page}");
    assert!(page.contains(&request_id), "the page quotes the request id for support");
    let connection: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    assert_eq!(connection["status"], "failed");
}

#[tokio::test]
async fn a_token_endpoints_refusal_shows_fixed_words_and_keeps_its_own_only_in_the_audit_trail() {
    let code = "call_\u{202e}555_now";
    let config = TestAuthConfig { token_failure: Some(Failure::Refuse(code)), ..TestAuthConfig::default() };
    let (app, _auth) = spawn(config, "Acme").await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let response = from_browser(&app, &callback).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    // (Not "555" alone: the page's random request id holds it now and then.)
    let leaked = ["555_now", "call_", "\u{202e}"].iter().any(|words| page.contains(words));
    assert!(!leaked, "the token endpoint's words reach the page: {page}");
    let connection: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    let reason = connection["status_reason"].as_str().unwrap();
    assert!(reason.contains("outside RFC 6749") && !reason.contains("555"), "{reason}");
    let events: Vec<Value> = app.get(&format!("/assets/connections/{ref_id}/events")).await.json().await.unwrap();
    let failed = events.iter().find(|e| e["event"] == "failed").expect("a failed event");
    let detail = failed["detail"].as_str().unwrap();
    assert!(detail.contains("call_555_now") && !detail.contains('\u{202e}'), "cleaned, kept: {detail}");
}

#[tokio::test]
async fn a_flow_with_return_to_still_redirects_a_browser() {
    let (app, _auth) = spawn(TestAuthConfig::default(), "Acme").await;
    let (_, callback) = start_flow(&app, json!({"server_name": "acme", "return_to": "https://app.example/done"})).await;
    let response = from_browser(&app, &callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(response.headers()["location"].to_str().unwrap().starts_with("https://app.example/done?"));
}
