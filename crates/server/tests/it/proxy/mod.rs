//! The MCP proxy (issue 16) end to end: the real service between a client and an MCP-style
//! server on loopback, with the in-repo authorization server issuing and refreshing tokens.

mod cache;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer};
use upstream::Upstream;

use crate::helpers::{ENGINE_KEY, Spawn, TestApp, assert_error, test_catalog};
use crate::oauth_flow::{CLIENT_SECRET, start_flow, status_of};

/// A service whose catalog reaches `up` ([`proxy_catalog`]).
async fn spawn_proxy(up: &Upstream, auth: Option<&TestAuthServer>, vars: &[(&str, &str)]) -> TestApp {
    spawn_with(proxy_catalog(up, auth), vars, None).await
}

async fn spawn_with(catalog: Value, vars: &[(&str, &str)], data: Option<Arc<tempfile::TempDir>>) -> TestApp {
    let mut spawn = Spawn::default().catalog(catalog).var("ACME_CLIENT_SECRET", CLIENT_SECRET);
    if let Some(data) = data {
        spawn = spawn.data_dir(data);
    }
    for (name, value) in vars {
        spawn = spawn.var(name, value);
    }
    spawn.start().await
}

/// The test catalog and `keyed-up` (API key in `X-Api-Key`), `legacy-up` (the legacy SSE
/// transport, a bearer key), and with `auth` `acme-up` (OAuth) and `locked-up` (OAuth, not
/// exportable), all reaching `up`.
fn proxy_catalog(up: &Upstream, auth: Option<&TestAuthServer>) -> Value {
    let mut catalog = test_catalog();
    let servers = catalog["servers"].as_array_mut().unwrap();
    servers.push(json!({
        "server_name": "keyed-up", "display_name": "Keyed", "transport": "streamable_http",
        "url": format!("{}/mcp", up.url), "auth_method": "api_key",
        "api_key": { "header": "X-Api-Key", "scheme": null } }));
    servers.push(json!({
        "server_name": "legacy-up", "display_name": "Legacy", "transport": "sse",
        "url": format!("{}/sse", up.url), "auth_method": "api_key",
        "api_key": { "header": "Authorization", "scheme": "Bearer" } }));
    if let Some(auth) = auth {
        for (name, exportable) in [("acme-up", true), ("locked-up", false)] {
            servers.push(json!({
                "server_name": name, "display_name": name, "transport": "streamable_http",
                "url": format!("{}/mcp", up.url), "auth_method": "oauth", "exportable": exportable,
                "oauth": {
                    "discovery": false, "issuer": auth.issuer(),
                    "authorization_endpoint": auth.authorization_endpoint(),
                    "token_endpoint": auth.token_endpoint(), "revocation_endpoint": auth.revocation_endpoint(),
                    "client_id": "test-client", "client_secret_env": "ACME_CLIENT_SECRET",
                    "scopes": ["read", "write"], "send_resource": true
                } }));
        }
    }
    catalog
}

pub(crate) async fn connect_oauth(app: &TestApp, body: Value) -> String {
    let (ref_id, callback) = start_flow(app, body).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);
    ref_id
}

async fn connect_keyed(app: &TestApp) -> String {
    let made = app.connect(json!({"server_name": "keyed-up", "server_config": {"api_key": "up-key-5Jd8"}})).await;
    made["ref_id"].as_str().unwrap().to_owned()
}

/// A JSON-RPC message posted to `…/{ref_id}/mcp` with the engine key and `extra` headers.
async fn post_mcp(app: &TestApp, ref_id: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/assets/connections/{ref_id}/mcp")))
        .header("X-Engine-Key", ENGINE_KEY)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo"}}));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn credentials(app: &TestApp, ref_id: &str) -> Value {
    app.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap()
}

/// Has `up` refuse the token `ref_id` holds now, as a server that revoked it would; returns it.
async fn refuse_current_token(app: &TestApp, up: &Upstream, ref_id: &str) -> String {
    let bearer = credentials(app, ref_id).await["headers"]["Authorization"].as_str().unwrap().to_owned();
    up.configure(|b| {
        b.refused.insert(bearer.strip_prefix("Bearer ").unwrap().to_owned());
    });
    bearer
}

async fn auth_and_upstream() -> (Arc<TestAuthServer>, Upstream) {
    let auth = Arc::new(TestAuthServer::start(TestAuthConfig::default()).await);
    let up = Upstream::start(Some(auth.clone())).await;
    (auth, up)
}

#[tokio::test]
async fn a_call_reaches_the_server_with_the_credential_and_nothing_of_the_callers_own() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    let extra = [("Cookie", "session=browser"), ("Mcp-Session-Id", "session-1"), ("Authorization", "Bearer mine")];
    let answer = post_mcp(&app, &ref_id, &extra).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let headers = answer.headers().clone();
    assert_eq!(headers["mcp-session-id"], "session-1", "the session id comes back");
    assert!(headers.get("set-cookie").is_none() && headers.get("x-upstream-internal").is_none(), "{headers:?}");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["result"]["echo"]["method"], "tools/call", "{body}");

    let seen = &up.seen().headers[0];
    let value = |name: &str| seen.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(value("x-api-key"), Some("up-key-5Jd8"), "the credential is added");
    assert_eq!(value("mcp-session-id"), Some("session-1"));
    for stripped in ["x-engine-key", "cookie", "authorization", "x-end-user-id"] {
        assert_eq!(value(stripped), None, "{stripped} must not reach the server: {seen:?}");
    }
}

#[tokio::test]
async fn an_upstream_401_refreshes_once_and_the_call_is_sent_again() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    let first = refuse_current_token(&app, &up, &ref_id).await;
    let refreshes = auth.counters().refreshes;
    let answer = post_mcp(&app, &ref_id, &[]).await;
    assert_eq!(answer.status(), StatusCode::OK, "answered after a refresh");
    assert_eq!(auth.counters().refreshes, refreshes + 1, "exactly one refresh");
    let now = credentials(&app, &ref_id).await["headers"]["Authorization"].as_str().unwrap().to_owned();
    assert_ne!(now, first, "the refreshed token is the connection's now");
    assert_eq!(up.seen().headers.len(), 2, "the call was sent twice");
}

#[tokio::test]
async fn a_second_401_after_the_refresh_expires_the_connection() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    up.configure(|b| b.refuse_all = true);
    assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::UNAUTHORIZED, "MCP_TOKEN_EXPIRED").await;
    assert_eq!(status_of(&app, &ref_id).await, "expired");
    assert_eq!(auth.counters().refreshes, 1, "one refresh, not one per try");
}

#[tokio::test]
async fn fifty_concurrent_401s_on_one_connection_refresh_it_once() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    refuse_current_token(&app, &up, &ref_id).await;
    let calls = (0..50).map(|_| {
        let (app, ref_id) = (app.clone(), ref_id.clone());
        tokio::spawn(async move { post_mcp(&app, &ref_id, &[]).await.status() })
    });
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(auth.counters().refreshes, 1, "one refresh for fifty refusals of one token");
}

#[tokio::test]
async fn a_scope_challenge_is_answered_with_how_to_reauthorize_and_the_consent_adds_the_scope_in_place() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    up.configure(|b| b.needs_scope = Some("admin".into()));

    let challenge = assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE").await;
    assert_eq!(challenge["details"]["required_scopes"], json!(["admin"]));
    let how = &challenge["details"]["reauthorize"];
    assert_eq!(how["path"], format!("/assets/connections/{ref_id}/reauthorize"));

    let started = app.post_json(how["path"].as_str().unwrap(), &how["body"]).await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    assert_eq!(started["status"], "connected", "the old token keeps serving");
    let auth_url = started["auth_url"].as_str().unwrap();
    let scope = crate::oauth_flow::query_param(auth_url, "scope").unwrap();
    assert_eq!(scope, "read write admin", "the union of the held and the asked scopes");
    up.configure(|b| b.needs_scope = None);
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK, "served meanwhile");
    up.configure(|b| b.needs_scope = Some("admin".into()));

    let consent = app.client.get(auth_url).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let done: Value = app.client.get(&callback).send().await.unwrap().json().await.unwrap();
    assert_eq!((done["ref_id"].as_str(), done["status"].as_str()), (Some(&*ref_id), Some("connected")), "{done}");
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK, "the new token has the scope");
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(list.len(), 1, "replaced in place, not a second connection");
    assert_eq!(list[0]["scopes"], json!(["read", "write", "admin"]));
}

#[tokio::test]
async fn reauthorizations_for_more_scopes_stop_after_step_up_max_attempts_in_a_row() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[("STEP_UP_MAX_ATTEMPTS", "2")]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    up.configure(|b| b.needs_scope = Some("admin".into()));
    let path = format!("/assets/connections/{ref_id}/reauthorize");
    for _ in 0..2 {
        let challenge =
            assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE").await;
        assert!(challenge["details"]["reauthorize"].is_object());
        assert_eq!(app.post_json(&path, &json!({"scopes": ["admin"]})).await.status(), StatusCode::OK);
    }
    let challenge = assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE").await;
    assert!(challenge["details"]["reauthorize"].is_null(), "no longer offered: {challenge}");
    assert_error(app.post_json(&path, &json!({})).await, StatusCode::CONFLICT, "STEP_UP_LIMIT").await;
    // A call that passes starts the count again.
    up.configure(|b| b.needs_scope = None);
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK);
    assert_eq!(app.post_json(&path, &json!({})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_connection_that_is_not_exportable_hands_out_only_its_proxy_token() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[]).await;
    let locked = connect_oauth(&app, json!({"server_name": "acme-up", "exportable": false})).await;
    let open = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    let forced = connect_oauth(&app, json!({"server_name": "locked-up"})).await;
    assert_error(
        app.post_json("/assets/connect", &json!({"server_name": "locked-up", "exportable": true})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;

    for ref_id in [&locked, &forced] {
        let given = credentials(&app, ref_id).await;
        assert_eq!(given["headers"], json!({}), "no upstream secret: {given}");
        assert_eq!(given["exportable"], false);
        let proxy = &given["proxy"];
        assert_eq!(proxy["url"], app.url(&format!("/assets/connections/{ref_id}/mcp")));
        let token = proxy["token"].as_str().unwrap();
        assert!(token.starts_with("adp_"));
        // An MCP client given only the URL and the token.
        let answer = reqwest::Client::new()
            .post(proxy["url"].as_str().unwrap())
            .bearer_auth(token)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let opened = credentials(&app, &open).await;
    assert!(opened["headers"]["Authorization"].as_str().is_some_and(|b| b.starts_with("Bearer ")));

    // The token is its connection's proxy routes' only.
    let token = credentials(&app, &locked).await["proxy"]["token"].as_str().unwrap().to_owned();
    let with_token = |path: String| reqwest::Client::new().get(app.url(&path)).bearer_auth(&token).send();
    for path in [format!("/assets/connections/{open}/mcp"), format!("/assets/connections/{locked}/credentials")] {
        assert_error(with_token(path).await.unwrap(), StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    }
    let forged = reqwest::Client::new()
        .get(app.url(&format!("/assets/connections/{locked}/mcp")))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_error(forged, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
}

#[tokio::test]
async fn an_upstream_5xx_passes_as_it_came_and_an_unreachable_one_is_502() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    up.configure(|b| b.status = Some(503));
    let answer = post_mcp(&app, &ref_id, &[]).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"upstream": "own error"}), "the server's own answer");
    up.stop().await;
    let failed =
        assert_error(post_mcp(&app, &ref_id, &[]).await, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(failed["details"]["step"], "MCP server");
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_504_and_does_not_hold_up_calls_to_another() {
    let hanging = Upstream::start(None).await;
    hanging.configure(|b| b.hang = true);
    let healthy = Upstream::start(None).await;
    let mut catalog = proxy_catalog(&hanging, None);
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "healthy-up", "display_name": "Healthy", "transport": "streamable_http",
        "url": format!("{}/mcp", healthy.url), "auth_method": "api_key",
        "api_key": { "header": "X-Api-Key", "scheme": null } }));
    let app = spawn_with(catalog, &[("PROXY_FIRST_BYTE_TIMEOUT_MS", "3000")], None).await;
    let stuck = connect_keyed(&app).await;
    let fine = app.connect(json!({"server_name": "healthy-up", "server_config": {"api_key": "k"}})).await;
    let fine = fine["ref_id"].as_str().unwrap().to_owned();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (app, stuck) = (app.clone(), stuck.clone());
            tokio::spawn(async move { post_mcp(&app, &stuck, &[]).await })
        })
        .collect();
    while hanging.seen().headers.len() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Twenty calls wait on the silent server; the healthy one is answered meanwhile.
    for _ in 0..10 {
        assert_eq!(post_mcp(&app, &fine, &[]).await.status(), StatusCode::OK);
    }
    assert!(calls.iter().all(|call| !call.is_finished()), "the silent server's calls are still waiting");
    for call in calls {
        assert_error(call.await.unwrap(), StatusCode::GATEWAY_TIMEOUT, "MCP_UPSTREAM_TIMEOUT").await;
    }
}

#[tokio::test]
async fn a_catalog_entry_made_non_exportable_later_stops_handing_out_its_existing_connections_secret() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    assert_eq!(credentials(&app, &ref_id).await["headers"]["X-Api-Key"], "up-key-5Jd8");
    let data = app.stop().await;
    let mut catalog = proxy_catalog(&up, None);
    for entry in catalog["servers"].as_array_mut().unwrap() {
        if entry["server_name"] == "keyed-up" {
            entry["exportable"] = json!(false);
        }
    }
    let app = spawn_with(catalog, &[], Some(data)).await;
    let given = credentials(&app, &ref_id).await;
    assert_eq!((given["headers"].clone(), given["exportable"].clone()), (json!({}), json!(false)), "{given}");
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK, "still served through the proxy");
}

#[tokio::test]
async fn a_stream_flows_through_as_it_arrives_and_resumes_after_last_event_id() {
    let up = Upstream::start(None).await;
    up.configure(|b| {
        b.events = Some(5);
        b.interval_ms = 50;
    });
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    let url = app.url(&format!("/assets/connections/{ref_id}/mcp"));
    let stream = app.client.get(&url).header("X-Engine-Key", ENGINE_KEY).header("Accept", "text/event-stream");
    let answer = stream.send().await.unwrap();
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let text = answer.text().await.unwrap();
    assert_eq!(text.matches("data: ").count(), 5, "{text}");
    let resumed = app
        .client
        .get(&url)
        .header("X-Engine-Key", ENGINE_KEY)
        .header("Last-Event-ID", "3")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(resumed.starts_with("id: 4\n"), "{resumed}");
    assert_eq!(resumed.matches("data: ").count(), 2);
}

#[tokio::test]
async fn a_server_that_dies_mid_stream_ends_the_clients_stream_and_the_next_call_works() {
    let up = Upstream::start(None).await;
    up.configure(|b| {
        b.events = Some(10);
        b.die_after = Some(3);
    });
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    assert_eq!(read_stream(&app, &ref_id).await, (3, false), "three events, then broken, not a clean end");
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_closes_the_servers_stream() {
    let up = Upstream::start(None).await;
    up.configure(|b| {
        b.events = None;
        b.interval_ms = 20;
    });
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    let url = app.url(&format!("/assets/connections/{ref_id}/mcp"));
    let mut answer = app.client.get(&url).header("X-Engine-Key", ENGINE_KEY).send().await.unwrap();
    assert!(answer.chunk().await.unwrap().is_some());
    assert_eq!(up.open_streams(), 1);
    drop(answer);
    let mut waited = 0;
    while up.open_streams() > 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(up.open_streams(), 0, "the server's stream was closed when the client left");
}

#[tokio::test]
async fn the_legacy_sse_endpoint_names_the_proxy_and_its_messages_reach_the_server() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[]).await;
    let made = app.connect(json!({"server_name": "legacy-up", "server_config": {"api_key": "legacy-key"}})).await;
    let ref_id = made["ref_id"].as_str().unwrap();
    assert_error(post_mcp(&app, ref_id, &[]).await, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    let sse_url = app.url(&format!("/assets/connections/{ref_id}/sse"));
    let mut stream = app.client.get(&sse_url).header("X-Engine-Key", ENGINE_KEY).send().await.unwrap();
    let mut text = String::new();
    while !text.contains("event: endpoint\ndata: ") || !text.ends_with("\n\n") {
        text.push_str(&String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()));
    }
    assert!(!text.contains(&up.url) && !text.contains("sessionId"), "the server's address stays hidden: {text}");
    let endpoint = text.split("event: endpoint\ndata: ").nth(1).unwrap().lines().next().unwrap();
    let messages = url::Url::parse(&sse_url).unwrap().join(endpoint).unwrap();
    assert!(messages.path().ends_with(&format!("/assets/connections/{ref_id}/messages")), "{messages}");
    let posted = app
        .client
        .post(messages.as_str())
        .header("X-Engine-Key", ENGINE_KEY)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);
    let mut relayed = String::new();
    while !relayed.contains("event: message") {
        relayed.push_str(&String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()));
    }
    assert!(relayed.contains("\"method\":\"ping\""), "{relayed}");
    let seen = up.seen().headers;
    assert!(seen.iter().all(|h| h.iter().any(|(n, v)| n == "authorization" && v == "Bearer legacy-key")));
    // Only where the server said: a path the client makes up (on the server's origin or not), or
    // another connection's endpoint, never gets the credential.
    let before = up.seen().headers.len();
    let other = app.connect(json!({"server_name": "legacy-up", "server_config": {"api_key": "k2"}})).await;
    let elsewhere = messages.as_str().replace(ref_id, other["ref_id"].as_str().unwrap());
    let made_up = ["/other", "/messages?sessionId=legacy-1", "//evil.example/steal"].map(|path| {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(path);
        app.url(&format!("/assets/connections/{ref_id}/messages?endpoint={encoded}"))
    });
    for target in made_up.iter().chain([&elsewhere]) {
        let refused = app.client.post(target).header("X-Engine-Key", ENGINE_KEY).body("{}").send().await.unwrap();
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    }
    assert_eq!(up.seen().headers.len(), before, "nothing reached the server");
}

#[tokio::test]
async fn the_proxy_counts_calls_by_server_and_outcome_and_notes_when_a_connection_was_used() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[]).await;
    let ref_id = connect_keyed(&app).await;
    assert_eq!(post_mcp(&app, &ref_id, &[]).await.status(), StatusCode::OK);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ad_proxy_requests_total{outcome=\"ok\",server=\"keyed-up\"} 1"), "{metrics}");
    assert!(!metrics.contains(&ref_id));
    let mut used = Value::Null;
    for _ in 0..100 {
        used = app.get(&format!("/assets/connections/{ref_id}")).await.json::<Value>().await.unwrap()["last_used_at"]
            .clone();
        if used.is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(used.is_string(), "last_used_at is written within a few seconds");
}

/// The events of a `GET …/mcp` stream, and whether it ended cleanly.
async fn read_stream(app: &TestApp, ref_id: &str) -> (usize, bool) {
    let url = app.url(&format!("/assets/connections/{ref_id}/mcp"));
    let mut answer = app.client.get(&url).header("X-Engine-Key", ENGINE_KEY).send().await.unwrap();
    let mut received = String::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => received.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(None) => return (received.matches("data: ").count(), true),
            Err(_) => return (received.matches("data: ").count(), false),
        }
    }
}

#[tokio::test]
async fn a_stream_that_flows_is_never_cut_and_a_silent_one_is_closed_after_the_idle_timeout() {
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, None, &[("PROXY_IDLE_TIMEOUT_SECONDS", "1")]).await;
    let ref_id = connect_keyed(&app).await;
    up.configure(|b| {
        b.events = Some(4);
        b.interval_ms = 500;
    });
    assert_eq!(read_stream(&app, &ref_id).await, (4, true), "2 s in all, but never 1 s silent");
    up.configure(|b| b.interval_ms = 3_000);
    assert_eq!(read_stream(&app, &ref_id).await, (1, false), "closed in the first silence");
}

#[tokio::test]
async fn a_consent_that_grants_more_scopes_starts_the_step_up_count_again_for_an_engine_without_the_proxy() {
    let (auth, up) = auth_and_upstream().await;
    let app = spawn_proxy(&up, Some(&auth), &[("STEP_UP_MAX_ATTEMPTS", "2")]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    let path = format!("/assets/connections/{ref_id}/reauthorize");
    let consent = |scopes: Value| {
        let (app, path) = (app.clone(), path.clone());
        async move {
            let started = app.post_json(&path, &json!({"scopes": scopes})).await;
            let started: Value = started.json().await.unwrap();
            let answer = app.client.get(started["auth_url"].as_str().unwrap()).send().await.unwrap();
            let callback = answer.headers()["location"].to_str().unwrap().to_owned();
            assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);
        }
    };
    consent(json!(["admin"])).await; // new scopes granted: counts from zero again
    consent(json!(["admin"])).await; // nothing new: one in a row
    assert_eq!(app.post_json(&path, &json!({})).await.status(), StatusCode::OK, "the second in a row");
    assert_error(app.post_json(&path, &json!({})).await, StatusCode::CONFLICT, "STEP_UP_LIMIT").await;
}

#[tokio::test]
async fn a_caller_that_hangs_up_during_a_refresh_loses_nothing_the_provider_rotated() {
    let auth = TestAuthServer::start(TestAuthConfig {
        access_token_lifetime: Some(Duration::from_secs(30)),
        ..TestAuthConfig::default()
    })
    .await;
    let up = Upstream::start(None).await;
    let app = spawn_proxy(&up, Some(&auth), &[]).await;
    let ref_id = connect_oauth(&app, json!({"server_name": "acme-up"})).await;
    auth.configure(|c| c.token_delay = Duration::from_millis(1_500));
    // Every credentials call refreshes (the token lives less than the 60 s margin); this caller
    // hangs up while the provider is still answering.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let url = app.url(&format!("/assets/connections/{ref_id}/credentials"));
    assert!(impatient.get(&url).header("X-Engine-Key", ENGINE_KEY).send().await.is_err());
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    auth.configure(|c| c.token_delay = Duration::ZERO);
    assert_eq!(auth.counters().refreshes, 1, "the provider rotated the refresh token");
    let given = credentials(&app, &ref_id).await;
    assert!(given["headers"]["Authorization"].is_string(), "{given}");
    assert_eq!(status_of(&app, &ref_id).await, "connected");
    assert_eq!(auth.counters().refresh_reuses, 0, "the rotated refresh token was stored, not lost");
}
