//! Connections with no user (issue 18 §3, the part built so far): a catalog entry with
//! `auth_method: "oauth_client_credentials"` connects at once with the client credentials grant
//! at the in-repo authorization server, its token works at the protected resource it names, and
//! it is minted again before it expires (there is no refresh token).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{Failure, ResourceConfig, TestAuthConfig, TestAuthServer, TestResourceServer};

use crate::backends::{Backend, database, on, on_both_backends};
use crate::helpers::{Spawn, TestApp, assert_error, bearer_of, call_mcp, test_catalog};

const SECRET_VAR: &str = "MACHINE_CLIENT_SECRET";

/// The default client of the test server (`test-client`, `client_secret_basic`), tokens that
/// live 30 s (within the credential margin, so each read mints again), and a resource.
async fn servers() -> (TestAuthServer, TestResourceServer) {
    let auth = TestAuthServer::start(TestAuthConfig {
        access_token_lifetime: Some(Duration::from_secs(30)),
        ..TestAuthConfig::default()
    })
    .await;
    let resource = auth.start_resource(ResourceConfig::default());
    (auth, resource)
}

fn catalog(auth: &TestAuthServer, resource: &TestResourceServer) -> Value {
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "machine", "display_name": "Machine", "transport": "streamable_http",
        "url": resource.mcp_url(), "auth_method": "oauth_client_credentials",
        "oauth": {"discovery": false, "token_endpoint": auth.token_endpoint(),
                  "revocation_endpoint": auth.revocation_endpoint(), "client_id": "test-client",
                  "client_secret_env": SECRET_VAR, "scopes": ["read"], "send_resource": true}
    }));
    // The same client, for a user at a browser.
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "people", "display_name": "People", "transport": "streamable_http",
        "url": resource.mcp_url(), "auth_method": "oauth",
        "oauth": {"discovery": false, "authorization_endpoint": auth.authorization_endpoint(),
                  "token_endpoint": auth.token_endpoint(), "client_id": "test-client",
                  "client_secret_env": SECRET_VAR}
    }));
    catalog
}

async fn app_for(backend: Backend, auth: &TestAuthServer, resource: &TestResourceServer) -> TestApp {
    spawn_for(database(backend).await, auth, resource).start().await
}

fn spawn_for(backend_db: Option<String>, auth: &TestAuthServer, resource: &TestResourceServer) -> Spawn {
    on(Spawn::default(), &backend_db).var(SECRET_VAR, "test-secret").catalog(catalog(auth, resource))
}

fn grants(auth: &TestAuthServer) -> Vec<test_oauth_server::TokenRecord> {
    auth.token_requests().into_iter().filter(|r| r.grant_type.as_deref() == Some("client_credentials")).collect()
}

async fn a_client_credentials_entry_connects_at_once_and_mints_again_before_expiry(backend: Backend) {
    let (auth, resource) = servers().await;
    let app = app_for(backend, &auth, &resource).await;

    let servers: Vec<Value> = app.get("/assets/servers").await.json().await.unwrap();
    let listed = |name: &str| servers.iter().find(|s| s["server_name"] == name).cloned().unwrap();
    assert_eq!(listed("machine")["grant_type"], "client_credentials", "the engine can tell no user is needed");
    assert_eq!(listed("people")["grant_type"], "authorization_code");
    assert!(listed("keyed").get("grant_type").is_none(), "API-key servers have no grant");
    let created = app.connect(json!({"server_name": "machine"})).await;
    assert_eq!(created["status"], "connected", "no browser, no auth_url: {created}");
    assert!(created.get("auth_url").is_none_or(Value::is_null), "{created}");
    let ref_id = created["ref_id"].as_str().unwrap();
    let sent = grants(&auth);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resource.as_deref(), Some(resource.mcp_url().as_str()), "RFC 8707");
    assert_eq!(sent[0].client_id.as_deref(), Some("test-client"));
    assert!(sent.iter().all(|r| r.error.is_none()), "{sent:?}");
    assert!(auth.authorize_requests().is_empty(), "nobody was sent to the authorization endpoint");

    // The token expires within the margin: the read makes the grant again.
    let bearer = bearer_of(&app, ref_id).await;
    assert!(grants(&auth).len() >= 2, "minted again: {:?}", auth.token_requests());
    assert_eq!(call_mcp(&resource.mcp_url(), &bearer).await, StatusCode::OK, "the token works at the resource");
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed[0]["status"], "connected");
    assert_eq!(listed[0]["scopes"], json!(["read"]));
}

on_both_backends! {
    a_client_credentials_entry_connects_at_once_and_mints_again_before_expiry =>
        a_client_credentials_entry_connects_at_once_and_mints_again_before_expiry_on_sqlite,
        a_client_credentials_entry_connects_at_once_and_mints_again_before_expiry_on_postgres;
}

#[tokio::test]
async fn a_refused_grant_stores_nothing_and_names_no_words_of_the_server() {
    let (auth, resource) = servers().await;
    auth.configure(|c| c.token_failure = Some(Failure::Refuse("call_555_now")));
    let app = app_for(Backend::Sqlite, &auth, &resource).await;
    let response = app.post_json("/assets/connect", &json!({"server_name": "machine"})).await;
    let body = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert!(!body.to_string().contains("555"), "{body}");
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(listed.is_empty(), "nothing stored: {listed:?}");
}

#[tokio::test]
async fn a_client_credentials_connection_refused_for_good_expires_and_is_not_reconnected_through_a_browser() {
    let (auth, resource) = servers().await;
    let app = app_for(Backend::Sqlite, &auth, &resource).await;
    let created = app.connect(json!({"server_name": "machine"})).await;
    let ref_id = created["ref_id"].as_str().unwrap();
    // The server stops honouring the client: the next mint is refused and the connection expires.
    auth.configure(|c| c.token_failure = Some(Failure::Refuse("invalid_client")));
    app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed[0]["status"], "expired", "{listed:?}");
    let reason = listed[0]["status_reason"].as_str().unwrap();
    assert!(reason.contains("no longer grants this client tokens (invalid_client)"), "{reason}");
    let reconnect = json!({"server_name": "machine", "server_config": {"ref_id": ref_id}});
    let response = app.post_json("/assets/connect", &reconnect).await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert!(body["message"].as_str().unwrap().contains("connect it anew"), "{body}");
    assert!(auth.authorize_requests().is_empty(), "nobody was sent to a browser");
}

#[tokio::test]
async fn a_token_whose_response_states_no_lifetime_is_given_an_hour_not_kept_for_ever() {
    let (auth, resource) = servers().await;
    auth.configure(|c| c.access_token_lifetime = None);
    let app = app_for(Backend::Sqlite, &auth, &resource).await;
    let created = app.connect(json!({"server_name": "machine"})).await;
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(listed[0]["expires_at"].is_string(), "an expiry, though the server stated none: {listed:?}");
    // An hour is far outside the credential margin: the read hands out the token as it is.
    bearer_of(&app, created["ref_id"].as_str().unwrap()).await;
    assert_eq!(grants(&auth).len(), 1, "{:?}", auth.token_requests());
}

async fn the_scheduler_makes_the_grant_again_before_the_token_expires(backend: Backend) {
    let (auth, resource) = servers().await;
    // Outside the credential margin (60 s), inside the scheduler's lead (300 s by default).
    auth.configure(|c| c.access_token_lifetime = Some(Duration::from_secs(200)));
    let app = spawn_for(database(backend).await, &auth, &resource).var("REFRESH_INTERVAL_SECONDS", "1").start().await;
    app.connect(json!({"server_name": "machine"})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while grants(&auth).len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(grants(&auth).len() >= 2, "renewed with no request for it: {:?}", auth.token_requests());
    assert!(grants(&auth).iter().all(|r| r.error.is_none()));
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed[0]["status"], "connected");
}

on_both_backends! {
    the_scheduler_makes_the_grant_again_before_the_token_expires =>
        the_scheduler_makes_the_grant_again_before_the_token_expires_on_sqlite,
        the_scheduler_makes_the_grant_again_before_the_token_expires_on_postgres;
}
