//! OAuth connections end to end (issue 4) against the in-repo authorization server over loopback.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{Failure, IssMode, TestAuthConfig, TestAuthServer, TokenKind};

use crate::helpers::{ENCRYPTION_KEY, ENGINE_KEY, Spawn, TestApp, assert_error, captured_logs, test_catalog};

pub const CLIENT_SECRET: &str = "test-secret";

/// The test catalog plus `acme`, a pre-registered OAuth client of `auth`.
pub fn oauth_catalog(auth: &TestAuthServer) -> Value {
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "acme", "display_name": "Acme", "transport": "streamable_http",
        "url": "https://acme.example/mcp", "auth_method": "oauth",
        "oauth": {
            "discovery": false,
            "issuer": auth.issuer(),
            "authorization_endpoint": auth.authorization_endpoint(),
            "token_endpoint": auth.token_endpoint(),
            "revocation_endpoint": auth.revocation_endpoint(),
            "client_id": "test-client", "client_secret_env": "ACME_CLIENT_SECRET",
            "scopes": ["read", "write"],
            "extra_authorize_params": {"prompt": "consent"},
            "send_resource": true
        }
    }));
    catalog
}

pub async fn spawn_with_auth(config: TestAuthConfig) -> (TestApp, TestAuthServer) {
    let auth = TestAuthServer::start(config).await;
    let app = Spawn::default()
        .catalog(oauth_catalog(&auth))
        .var("ACME_CLIENT_SECRET", CLIENT_SECRET)
        .var("OUTBOUND_TIMEOUT_MS", "1500")
        .start()
        .await;
    (app, auth)
}

/// Starts a flow and follows `auth_url` to the provider, which consents at once. Returns the
/// ref id and the callback URL the provider redirected the browser to.
pub async fn start_flow(app: &TestApp, body: Value) -> (String, String) {
    let created = app.connect(body).await;
    assert_eq!(created["status"], "pending_oauth");
    let auth_url = created["auth_url"].as_str().unwrap();
    let consent = app.client.get(auth_url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    (created["ref_id"].as_str().unwrap().to_owned(), callback)
}

pub async fn status_of(app: &TestApp, ref_id: &str) -> String {
    let c: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    c["status"].as_str().unwrap().to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn a_full_oauth_flow_connects_hands_out_a_working_token_and_revokes_on_disconnect() {
    let (app, auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert!(callback.starts_with(&app.url("/assets/oauth/callback")));
    let sent = &auth.authorize_requests()[0];
    assert_eq!(sent.get("code_challenge_method"), Some("S256"));
    assert_eq!(sent.get("resource"), Some("https://acme.example/mcp"));
    assert_eq!(sent.get("scope"), Some("read write"));
    assert_eq!(sent.get("prompt"), Some("consent"));

    let done = app.client.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(done.headers()["cache-control"], "no-store");
    assert_eq!(done.headers()["referrer-policy"], "no-referrer");
    let done: Value = done.json().await.unwrap();
    assert_eq!((done["ref_id"].as_str(), done["status"].as_str()), (Some(&*ref_id), Some("connected")));
    assert_eq!(done["scopes"], json!(["read", "write"]));
    assert!(done["expires_at"].is_string());

    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(list[0]["status"], "connected");
    assert_eq!(list[0]["scopes"], json!(["read", "write"]));

    let credentials: Value = app.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    let bearer = credentials["headers"]["Authorization"].as_str().unwrap();
    let token = bearer.strip_prefix("Bearer ").expect("a bearer token");
    let info = auth.token_info(token).expect("issued by the test server");
    assert!(info.active);
    assert_eq!(info.audience.as_deref(), Some("https://acme.example/mcp"));
    assert_eq!(auth.code_exchanges(), 1);

    let events: Vec<Value> = app.get(&format!("/assets/connections/{ref_id}/events")).await.json().await.unwrap();
    let kinds_seen: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds_seen, ["created", "connected"]);

    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    assert_eq!(gone.status(), StatusCode::OK);
    let kinds: Vec<TokenKind> = auth.revocations().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [TokenKind::Refresh, TokenKind::Access], "refresh token first, then access token");
    assert!(!auth.token_is_active(token));
    assert_error(
        app.get(&format!("/assets/connections/{ref_id}")).await,
        StatusCode::NOT_FOUND,
        "CONNECTION_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn twenty_concurrent_callbacks_with_one_state_exchange_the_code_once() {
    let (app, auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (_, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let calls = (0..20).map(|_| {
        let (client, url) = (app.client.clone(), callback.clone());
        tokio::spawn(async move { client.get(url).send().await.unwrap() })
    });
    let mut ok = 0;
    let mut invalid_state = 0;
    for call in calls {
        let response = call.await.unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "INVALID_STATE");
                invalid_state += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, invalid_state), (1, 19));
    assert_eq!(auth.code_exchanges(), 1, "the token endpoint saw exactly one exchange");
}

#[tokio::test]
async fn a_replayed_or_unknown_state_is_invalid_state() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);
    let replay = app.client.get(&callback).send().await.unwrap();
    assert_error(replay, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    assert_eq!(status_of(&app, &ref_id).await, "connected", "a replay changes nothing");
    let posted = app.post_json("/assets/callback", &json!({"state": "made-up", "code": "x"})).await;
    assert_error(posted, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
}

#[tokio::test]
async fn the_json_callback_completes_a_flow_like_the_browser_one() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let body = json!({
        "code": query_param(&callback, "code"),
        "state": query_param(&callback, "state"),
        "iss": query_param(&callback, "iss"),
    });
    let done = app.post_json("/assets/callback", &body).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(status_of(&app, &ref_id).await, "connected");
}

#[tokio::test]
async fn a_code_presented_with_another_flows_state_fails_that_flow_only() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (a, callback_a) = start_flow(&app, json!({"server_name": "acme"})).await;
    let (b, callback_b) = start_flow(&app, json!({"server_name": "acme"})).await;
    let mixed = format!(
        "{}?state={}&code={}&iss={}",
        app.url("/assets/oauth/callback"),
        query_param(&callback_a, "state").unwrap(),
        query_param(&callback_b, "code").unwrap(),
        urlencode(&query_param(&callback_a, "iss").unwrap()),
    );
    let response = app.client.get(&mixed).send().await.unwrap();
    assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(status_of(&app, &a).await, "failed");
    assert_eq!(status_of(&app, &b).await, "pending_oauth");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_wrong_issuer_is_refused_and_the_code_is_never_exchanged() {
    let (app, auth) = spawn_with_auth(TestAuthConfig { iss: IssMode::Wrong, ..TestAuthConfig::default() }).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "ISSUER_MISMATCH").await;
    assert_eq!(auth.code_exchanges(), 0);
    assert_eq!(status_of(&app, &ref_id).await, "failed");
}

#[tokio::test]
async fn a_denied_consent_fails_the_connection_with_oauth_access_denied() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig { deny: true, ..TestAuthConfig::default() }).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "OAUTH_ACCESS_DENIED").await;
    assert_eq!(status_of(&app, &ref_id).await, "failed");
    let credentials = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    assert_error(credentials, StatusCode::CONFLICT, "CONNECTION_NOT_READY").await;
}

#[tokio::test]
async fn a_token_endpoint_that_fails_answers_mcp_connection_failed_and_fails_the_connection() {
    for failure in [Failure::ServerError, Failure::Garbage, Failure::Hang, Failure::TooManyRequests, Failure::Redirect]
    {
        let config = TestAuthConfig {
            token_failure: Some(failure),
            hang_for: std::time::Duration::from_secs(5),
            ..TestAuthConfig::default()
        };
        let (app, auth) = spawn_with_auth(config).await;
        let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
        let response = app.client.get(&callback).send().await.unwrap();
        let body = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
        assert_eq!(body["details"]["step"], "token exchange", "{failure:?}");
        assert_eq!(status_of(&app, &ref_id).await, "failed", "{failure:?}");
        assert_eq!(auth.counters().redirect_follows, 0, "redirects are never followed");
    }
}

#[tokio::test]
async fn an_allowed_return_to_gets_a_redirect_with_the_outcome() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (ref_id, callback) =
        start_flow(&app, json!({"server_name": "acme", "return_to": "https://app.example/done"})).await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("https://app.example/done?"));
    assert_eq!(query_param(&location, "ref_id").as_deref(), Some(&*ref_id));
    assert_eq!(query_param(&location, "status").as_deref(), Some("connected"));
}

#[tokio::test]
async fn a_failed_flow_with_return_to_redirects_with_the_error_code() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig { deny: true, ..TestAuthConfig::default() }).await;
    let (_, callback) = start_flow(&app, json!({"server_name": "acme", "return_to": "https://app.example/done"})).await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&location, "error").as_deref(), Some("OAUTH_ACCESS_DENIED"));
}

#[tokio::test]
async fn a_flow_past_its_ttl_is_invalid_state_and_fails() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let app = Spawn::default()
        .catalog(oauth_catalog(&auth))
        .var("ACME_CLIENT_SECRET", CLIENT_SECRET)
        .var("OAUTH_FLOW_TTL_SECONDS", "1")
        .var("REFRESH_INTERVAL_SECONDS", "3600")
        .start()
        .await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_error(app.client.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "INVALID_STATE").await;
    assert_eq!(status_of(&app, &ref_id).await, "failed");
    assert_eq!(auth.code_exchanges(), 0);
}

#[tokio::test]
async fn a_provider_that_fails_revocation_never_blocks_the_disconnect() {
    let config = TestAuthConfig {
        revoke_failure: Some(Failure::Hang),
        hang_for: std::time::Duration::from_secs(30),
        ..TestAuthConfig::default()
    };
    let (app, _auth) = spawn_with_auth(config).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    app.client.get(&callback).send().await.unwrap();
    let started = std::time::Instant::now();
    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    assert_eq!(gone.status(), StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "bounded by the revocation timeout");
    assert_error(
        app.get(&format!("/assets/connections/{ref_id}")).await,
        StatusCode::NOT_FOUND,
        "CONNECTION_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn an_oauth_entry_is_available_only_when_its_client_secret_is_configured() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let without = Spawn::default().catalog(oauth_catalog(&auth)).start().await;
    let servers: Vec<Value> = without.get("/assets/servers").await.json().await.unwrap();
    let acme = servers.iter().find(|s| s["server_name"] == "acme").unwrap();
    assert_eq!(acme["status"], "unavailable");
    assert!(acme["status_reason"].as_str().unwrap().contains("ACME_CLIENT_SECRET"));
    let refused = without.post_json("/assets/connect", &json!({"server_name": "acme"})).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;

    let (with, _auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let servers: Vec<Value> = with.get("/assets/servers").await.json().await.unwrap();
    assert_eq!(servers.iter().find(|s| s["server_name"] == "acme").unwrap()["status"], "available");
}

#[tokio::test]
async fn a_full_run_leaks_no_secret_into_bodies_logs_metrics_the_openapi_document_or_the_database() {
    const API_KEY: &str = "sk-live-LeakCheck-5f0c2b7e91";
    const WRONG_KEY: &str = "ek-wrong-LeakCheck-44d1a6";
    let (app, auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let code = query_param(&callback, "code").unwrap();
    let mut bodies = vec![app.client.get(&callback).send().await.unwrap().text().await.unwrap()];
    let keyed = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": API_KEY}})).await;
    let keyed_ref = keyed["ref_id"].as_str().unwrap().to_owned();
    bodies.push(keyed.to_string());
    bodies.push(app.get("/assets/connections").await.text().await.unwrap());
    bodies.push(app.get(&format!("/assets/connections/{ref_id}")).await.text().await.unwrap());
    let credentials: Value = app.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    let access = credentials["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ").to_owned();
    let keyed_credentials = app.get(&format!("/assets/connections/{keyed_ref}/credentials")).await;
    assert_eq!(keyed_credentials.status(), StatusCode::OK, "the one answer that may hold the key");
    let refused = app.client.get(app.url("/assets/connections")).header("X-Engine-Key", WRONG_KEY).send().await;
    bodies.push(refused.unwrap().text().await.unwrap());
    let state = query_param(&callback, "state").unwrap();
    let replay = app.client.get(&callback).header("Accept", "text/html").send().await.unwrap();
    bodies.push(replay.text().await.unwrap());
    let mut secrets = vec![access, code, CLIENT_SECRET.to_owned(), state, API_KEY.to_owned(), WRONG_KEY.to_owned()];
    secrets.extend([ENGINE_KEY.to_owned(), ENCRYPTION_KEY.to_owned()]);
    let data_dir = app.data_dir.clone();
    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    bodies.push(gone.text().await.unwrap());
    // Revocation hands the refresh token to the provider: now the test knows it too.
    let revoked: Vec<String> = auth.revocations().into_iter().map(|r| r.token).collect();
    assert_eq!(revoked.len(), 2, "the refresh and the access token");
    secrets.extend(revoked);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let openapi = app.get("/openapi.json").await.text().await.unwrap();
    assert!(metrics.contains("ad_oauth_flows_total{event=\"completed\"} 1"), "{metrics}");
    for id in [&ref_id, &keyed_ref] {
        assert!(!metrics.contains(id.as_str()), "a ref_id became a metrics label");
    }
    let logs = captured_logs();
    for secret in &secrets {
        for body in &bodies {
            assert!(!body.contains(secret.as_str()), "a response leaked a secret");
        }
        assert!(!metrics.contains(secret.as_str()), "the metrics hold a secret");
        assert!(!openapi.contains(secret.as_str()), "the OpenAPI document holds a secret");
        if let Some(at) = logs.find(secret.as_str()) {
            let line_start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let line = logs[line_start..].lines().next().unwrap_or_default().replace(secret.as_str(), "<SECRET>");
            panic!("the logs hold a secret: {line}");
        }
    }
    let db = std::fs::read(data_dir.path().join("ad.db")).unwrap_or_default();
    let wal = std::fs::read(data_dir.path().join("ad.db-wal")).unwrap_or_default();
    for secret in &secrets {
        for file in [&db, &wal] {
            assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()), "plaintext secret in the database");
        }
    }
}
