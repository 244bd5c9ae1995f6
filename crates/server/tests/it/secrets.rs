//! No secret in any response body, log line, or in plaintext in the database file.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::backends::{Backend, spawn_on};
use crate::connect_page::{Visitor, connect_url, field};
use crate::helpers::{ENCRYPTION_KEY, ENGINE_KEY, captured_logs, spawn_app};

const API_KEY: &str = "sk-live-Distinctive-3141592653";

#[tokio::test]
async fn an_api_key_never_appears_in_lists_errors_logs_or_the_database_file() {
    let app = spawn_app().await;
    let mut bodies = Vec::new();
    let created = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": API_KEY}})).await;
    bodies.push(created.to_string());
    let ref_id = created["ref_id"].as_str().unwrap().to_owned();
    // A refused body must not echo the key back: a wrong type, a misspelt field, a key for a
    // server that takes none.
    for refused in [
        json!({"server_name": "keyed", "server_config": API_KEY}),
        json!({"server_name": "keyed", "server_config": {"apikey": API_KEY}}),
        json!({"server_name": "open", "server_config": {"api_key": API_KEY}}),
    ] {
        let bad = app.post_json("/assets/connect", &refused).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        bodies.push(bad.text().await.unwrap());
    }
    for path in
        ["/assets/connections".to_owned(), format!("/assets/connections/{ref_id}"), "/assets/servers".to_owned()]
    {
        bodies.push(app.get(&path).await.text().await.unwrap());
    }
    let credentials: Value = app.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    assert_eq!(credentials["headers"]["X-Api-Key"], API_KEY, "the credentials route is the one place it appears");

    for body in &bodies {
        assert!(!body.contains(API_KEY), "a response leaked the API key: {body}");
        assert!(!body.contains(ENGINE_KEY));
    }
    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs were captured");
    for secret in [API_KEY, ENGINE_KEY, ENCRYPTION_KEY] {
        assert!(!logs.contains(secret), "the logs hold a secret");
    }
    let data_dir = app.stop().await;
    for file in ["ad.db", "ad.db-wal"] {
        if let Ok(bytes) = std::fs::read(data_dir.path().join(file)) {
            assert!(
                !bytes.windows(API_KEY.len()).any(|w| w == API_KEY.as_bytes()),
                "{file} holds the key in plaintext"
            );
        }
    }
}

#[tokio::test]
async fn a_connect_session_token_appears_only_in_the_answer_that_opens_it() {
    let app = spawn_app().await;
    let opened = app.post_json("/assets/connect-sessions", &json!({"allowed_servers": ["keyed"]})).await;
    let opened: Value = opened.json().await.unwrap();
    let token = opened["session_token"].as_str().unwrap().to_owned();
    let body = json!({"server_name": "keyed", "server_config": {"api_key": API_KEY}});
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let connected = app.client.post(app.url("/assets/connect")).bearer_auth(&token).json(&body).send().await;
        bodies.push(connected.unwrap().text().await.unwrap());
    }
    let refused = app.client.get(app.url("/assets/connections")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    bodies.push(refused.text().await.unwrap());
    bodies.push(app.get("/assets/connections").await.text().await.unwrap());

    for body in &bodies {
        assert!(!body.contains(&token), "a response repeated the session token: {body}");
    }
    assert!(!captured_logs().contains(&token), "the logs hold a session token");
    let data_dir = app.stop().await;
    for file in ["ad.db", "ad.db-wal"] {
        if let Ok(bytes) = std::fs::read(data_dir.path().join(file)) {
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "{file} holds the session token in plaintext (only its hash belongs there)");
        }
    }
}

#[tokio::test]
async fn the_hosted_pages_session_token_and_browser_nonce_appear_in_no_page_log_or_database_file() {
    let (app, _auth) = spawn_on(Backend::Sqlite, TestAuthConfig::default()).await;
    let url = connect_url(&app, "alice", None).await;
    let token = url.split("session=").nth(1).unwrap().to_owned();
    let mut visitor = Visitor::default();
    let mut bodies = vec![visitor.get(&app, &url).await.text().await.unwrap()];
    let page = visitor.get(&app, &app.url("/assets/connect-page")).await.text().await.unwrap();
    let csrf = field(&page, "csrf");
    bodies.push(page);
    let key = [("csrf", csrf.as_str()), ("server_name", "keyed"), ("api_key", API_KEY)];
    bodies.push(visitor.post_form(&app, &key).await.text().await.unwrap());
    bodies.push(visitor.get(&app, &app.url("/assets/connect-page?connected=keyed")).await.text().await.unwrap());
    let leaving = visitor.post_form(&app, &[("csrf", &csrf), ("server_name", "acme")]).await.text().await.unwrap();
    let auth_url = leaving.split("href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    bodies.push(leaving);
    let nonce = visitor.cookie("ad_browser").expect("the browser cookie");
    let consent = app.client.get(&auth_url).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    bodies.push(visitor.get(&app, &callback).await.text().await.unwrap());
    bodies.push(app.get("/assets/connections?limit=10").await.text().await.unwrap());

    for body in &bodies {
        assert!(!body.contains(&token) && !body.contains(&nonce) && !body.contains(API_KEY), "{body}");
    }
    let logs = captured_logs();
    for secret in [&token, &nonce, &API_KEY.to_owned()] {
        assert!(!logs.contains(secret.as_str()), "the logs hold a secret of the page");
    }
    let data_dir = app.stop().await;
    for file in ["ad.db", "ad.db-wal"] {
        if let Ok(bytes) = std::fs::read(data_dir.path().join(file)) {
            for secret in [&token, &nonce] {
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{file} holds a page secret in plaintext (only hashes belong there)");
            }
        }
    }
}
