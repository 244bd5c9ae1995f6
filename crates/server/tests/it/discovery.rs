//! MCP authorization discovery end to end (issue 5): an MCP-style protected resource and its
//! authorization server on loopback, custom servers and catalog entries with `"discovery": true`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{IssMode, MetadataAt, ResourceConfig, TestAuthConfig, TestAuthServer, TestResourceServer};

use crate::helpers::{Spawn, TestApp, assert_error, captured_logs, test_catalog};

/// An authorization server without pre-registered clients, and a resource it guards.
async fn servers(auth: TestAuthConfig, resource: ResourceConfig) -> (TestAuthServer, TestResourceServer) {
    let auth = TestAuthServer::start(TestAuthConfig { clients: Vec::new(), ..auth }).await;
    let resource = auth.start_resource(resource);
    (auth, resource)
}

fn custom(resource: &TestResourceServer) -> Value {
    json!({"server_name": "my-docs", "server_config": {"url": resource.mcp_url(), "display_name": "My docs"}})
}

async fn connect_ok(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/assets/connect", &body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Follows `auth_url` to the provider (which consents at once) and back to our callback.
async fn consent_and_callback(app: &TestApp, auth_url: &str) -> reqwest::Response {
    let consent = app.client.get(auth_url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    app.client.get(&callback).send().await.unwrap()
}

async fn connections(app: &TestApp) -> Vec<Value> {
    app.get("/assets/connections").await.json().await.unwrap()
}

async fn bearer_of(app: &TestApp, ref_id: &str) -> String {
    let credentials: Value = app.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    credentials["headers"]["Authorization"].as_str().expect("a bearer credential").to_owned()
}

async fn call_mcp(resource: &TestResourceServer, bearer: &str) -> StatusCode {
    crate::helpers::call_mcp(&resource.mcp_url(), bearer).await
}

#[tokio::test]
async fn a_custom_server_is_discovered_registered_authorized_and_its_credential_works_at_the_resource() {
    let auth_config =
        TestAuthConfig { scopes_supported: vec!["read".into(), "offline_access".into()], ..Default::default() };
    let (auth, resource) = servers(auth_config, ResourceConfig::default()).await;
    let app = Spawn::default().start().await;

    let created = connect_ok(&app, custom(&resource)).await;
    assert_eq!(created["status"], "pending_oauth");
    let registration = &auth.registrations()[0];
    assert_eq!(registration["application_type"], "web");
    // The authorization server was chosen by the resource: it gets a redirect URI of its own.
    let own = app.url(&format!("/assets/oauth/callback/{}", app::issuer_key(auth.issuer())));
    assert_eq!(registration["redirect_uris"], json!([own]));
    let done = consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["status"], "connected");
    assert_eq!(done["server_name"], "my-docs");

    let sent = &auth.authorize_requests()[0];
    assert_eq!(sent.get("resource"), Some(resource.mcp_url().as_str()), "RFC 8707 on the authorization request");
    assert_eq!(sent.get("scope"), Some("read offline_access"), "the challenge's scope, plus offline_access");
    assert_eq!(sent.get("client_id"), Some(auth.registered_clients()[0].client_id.as_str()));
    assert_eq!(sent.get("redirect_uri"), Some(own.as_str()), "the authorization request names it");
    let token_request = &auth.token_requests()[0];
    assert_eq!(token_request.resource.as_deref(), Some(resource.mcp_url().as_str()), "and on the token request");

    let ref_id = done["ref_id"].as_str().unwrap();
    let bearer = bearer_of(&app, ref_id).await;
    assert_eq!(call_mcp(&resource, &bearer).await, StatusCode::OK, "the resource accepts a token for itself");
    assert_eq!(call_mcp(&resource, "Bearer made-up").await, StatusCode::UNAUTHORIZED);
    let listed = connections(&app).await;
    assert_eq!(
        (listed[0]["display_name"].as_str(), listed[0]["status"].as_str()),
        (Some("My docs"), Some("connected"))
    );

    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    assert_eq!(gone.status(), StatusCode::OK);
    assert_eq!(auth.revocations().len(), 2, "revoked at the discovered revocation endpoint");
    assert_eq!(call_mcp(&resource, &bearer).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_second_connection_reuses_the_registration_and_a_refresh_keeps_the_resource() {
    let short_lived =
        TestAuthConfig { access_token_lifetime: Some(std::time::Duration::from_secs(30)), ..Default::default() };
    let (auth, resource) = servers(short_lived, ResourceConfig::default()).await;
    let app = Spawn::default().start().await;
    for _ in 0..2 {
        let created = connect_ok(&app, custom(&resource)).await;
        consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await;
    }
    assert_eq!(auth.registrations().len(), 1, "one registration per issuer");

    // The token expires within the credential margin: handing it out refreshes it first.
    let ref_id = connections(&app).await[0]["ref_id"].as_str().unwrap().to_owned();
    let bearer = bearer_of(&app, &ref_id).await;
    let refresh = auth.token_requests().into_iter().find(|r| r.grant_type.as_deref() == Some("refresh_token"));
    let refresh = refresh.expect("a refresh happened");
    assert_eq!(refresh.error, None);
    assert_eq!(refresh.resource.as_deref(), Some(resource.mcp_url().as_str()));
    assert_eq!(call_mcp(&resource, &bearer).await, StatusCode::OK);
}

#[tokio::test]
async fn a_client_the_server_forgot_is_registered_again_on_the_next_connect() {
    let (auth, resource) = servers(TestAuthConfig::default(), ResourceConfig::default()).await;
    let app = Spawn::default().start().await;
    let created = connect_ok(&app, custom(&resource)).await;
    let consent = app.client.get(created["auth_url"].as_str().unwrap()).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    auth.forget_registered_clients();
    let failed = app.client.get(&callback).send().await.unwrap();
    let body = assert_error(failed, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(body["details"]["step"], "token exchange");
    assert!(body["message"].as_str().unwrap().contains("invalid_client"), "{body}");

    let again = connect_ok(&app, custom(&resource)).await;
    assert_eq!(auth.registrations().len(), 2, "invalid_client made the service register anew");
    let done = consent_and_callback(&app, again["auth_url"].as_str().unwrap()).await;
    assert_eq!(done.status(), StatusCode::OK);
}

/// Issue 18 §1: metadata found only at the root well-known location commonly names the origin as
/// its `resource`; that parent covers the MCP server, and is the resource tokens are asked for.
#[tokio::test]
async fn a_server_whose_root_metadata_names_its_origin_connects_with_that_resource() {
    let (auth, resource) = servers(TestAuthConfig::default(), ResourceConfig::default()).await;
    let origin = resource.mcp_url().trim_end_matches("/mcp").to_owned();
    resource.configure(|c| {
        c.metadata_at = MetadataAt::Root;
        c.resource_override = Some(origin.clone());
    });
    let app = Spawn::default().start().await;
    let created = connect_ok(&app, custom(&resource)).await;
    assert_eq!(auth.authorize_requests().len(), 0);
    let done = consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(auth.authorize_requests()[0].get("resource"), Some(origin.as_str()), "the declared resource");
    assert_eq!(auth.token_requests()[0].resource.as_deref(), Some(origin.as_str()));
    let bearer = bearer_of(&app, created["ref_id"].as_str().unwrap()).await;
    assert_eq!(call_mcp(&resource, &bearer).await, StatusCode::OK, "the token works at the server");

    // A sibling path of the same origin is no parent: refused, nothing sent.
    resource.configure(|c| c.resource_override = Some(format!("{origin}/mc")));
    let response = app.post_json("/assets/connect", &custom(&resource)).await;
    assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
}

#[tokio::test]
async fn a_server_without_authorization_connects_directly() {
    let (_auth, resource) =
        servers(TestAuthConfig::default(), ResourceConfig { require_auth: false, ..Default::default() }).await;
    let app = Spawn::default().start().await;
    let created = connect_ok(&app, custom(&resource)).await;
    assert_eq!(created["status"], "connected");
    let credentials: Value = app
        .get(&format!("/assets/connections/{}/credentials", created["ref_id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(credentials["headers"], json!({}));
    assert_eq!(credentials["url"], resource.mcp_url());
}

#[tokio::test]
async fn metadata_is_found_at_the_well_known_urls_when_the_challenge_names_none() {
    for at in [MetadataAt::PathSuffixed, MetadataAt::Root] {
        let (_auth, resource) =
            servers(TestAuthConfig::default(), ResourceConfig { metadata_at: at, ..Default::default() }).await;
        let app = Spawn::default().start().await;
        let created = connect_ok(&app, custom(&resource)).await;
        let done = consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await;
        assert_eq!(done.status(), StatusCode::OK, "{at:?}");
    }
}

#[tokio::test]
async fn a_catalog_entry_with_discovery_is_available_and_connects_the_same_way() {
    let (auth, resource) = servers(TestAuthConfig::default(), ResourceConfig::default()).await;
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "docs", "display_name": "Docs", "transport": "streamable_http",
        "url": resource.mcp_url(), "auth_method": "oauth", "oauth": {"discovery": true, "scopes": ["ignored"]}
    }));
    let app = Spawn::default().catalog(catalog).start().await;
    let servers: Vec<Value> = app.get("/assets/servers").await.json().await.unwrap();
    assert_eq!(servers.iter().find(|s| s["server_name"] == "docs").unwrap()["status"], "available");
    let created = connect_ok(&app, json!({"server_name": "docs"})).await;
    let done = consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(auth.authorize_requests()[0].get("scope"), Some("read"), "the challenge's scope beats the catalog's");
    let own = app.url(&format!("/assets/oauth/callback/{}", app::issuer_key(auth.issuer())));
    assert_eq!(auth.authorize_requests()[0].get("redirect_uri"), Some(own.as_str()), "no pinned issuer: its own");
}

/// Each broken discovery step answers its code and step, and stores nothing.
#[tokio::test]
async fn every_discovery_failure_names_its_step_and_leaves_no_pending_connection() {
    let overrides = |key: &str, value: Value| {
        let mut auth = TestAuthConfig::default();
        auth.metadata_overrides.insert(key.to_owned(), value);
        auth
    };
    let cases: Vec<(&str, TestAuthConfig, ResourceConfig, &str)> = vec![
        (
            "resource metadata named but absent",
            TestAuthConfig::default(),
            ResourceConfig { metadata_at: MetadataAt::NamedButAbsent, ..Default::default() },
            "resource metadata",
        ),
        (
            "mismatched resource",
            TestAuthConfig::default(),
            ResourceConfig { resource_override: Some("http://127.0.0.1:9/other".into()), ..Default::default() },
            "resource metadata",
        ),
        (
            "no server metadata",
            TestAuthConfig { serve_metadata: false, ..Default::default() },
            ResourceConfig::default(),
            "authorization server metadata",
        ),
        (
            "mismatched issuer",
            overrides("issuer", json!("https://attacker.example")),
            ResourceConfig::default(),
            "authorization server metadata",
        ),
        (
            "no S256",
            overrides("code_challenge_methods_supported", json!(["plain"])),
            ResourceConfig::default(),
            "authorization server metadata",
        ),
        (
            "registration refused",
            TestAuthConfig { refuse_registrations: true, ..Default::default() },
            ResourceConfig::default(),
            "client registration",
        ),
        (
            "no way to register",
            TestAuthConfig { registration_enabled: false, ..Default::default() },
            ResourceConfig::default(),
            "client identity",
        ),
    ];
    for (name, auth_config, resource_config, step) in cases {
        let (_auth, resource) = servers(auth_config, resource_config).await;
        let app = Spawn::default().start().await;
        let response = app.post_json("/assets/connect", &custom(&resource)).await;
        let body = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
        assert_eq!(body["details"]["step"], step, "{name}: {body}");
        assert!(body["message"].as_str().unwrap().starts_with(step), "{name}: {body}");
        assert_eq!(connections(&app).await, Vec::<Value>::new(), "{name}: nothing is stored");
    }
}

#[tokio::test]
async fn an_unreachable_server_fails_at_the_probe() {
    let app = Spawn::default().start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let body = json!({"server_name": "gone", "server_config": {"url": format!("http://{closed}/mcp")}});
    let response = app.post_json("/assets/connect", &body).await;
    let error = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(error["details"]["step"], "probe");
    assert_eq!(connections(&app).await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_server_that_promises_iss_must_send_it() {
    let (auth, resource) =
        servers(TestAuthConfig { iss: IssMode::Missing, ..Default::default() }, ResourceConfig::default()).await;
    let app = Spawn::default().start().await;
    let created = connect_ok(&app, custom(&resource)).await;
    let response = consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "ISSUER_MISMATCH").await;
    assert_eq!(auth.code_exchanges(), 0);
}

#[tokio::test]
async fn a_client_id_metadata_document_is_used_when_the_server_supports_it_and_the_base_is_https() {
    let (auth, resource) =
        servers(TestAuthConfig { accept_client_id_urls: true, ..Default::default() }, ResourceConfig::default()).await;
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", "https://directory.example").start().await;
    let created = connect_ok(&app, custom(&resource)).await;
    assert!(auth.registrations().is_empty(), "no dynamic registration");
    let consent = app.client.get(created["auth_url"].as_str().unwrap()).send().await.unwrap();
    let location = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let key = app::issuer_key(auth.issuer());
    assert_eq!(location.path(), format!("/assets/oauth/callback/{key}"), "the issuer's own redirect URI");
    // The browser would reach the public base; the test calls this service directly.
    let callback = format!("{}?{}", app.url(location.path()), location.query().unwrap());
    let done = app.client.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let client_id = auth.token_requests()[0].client_id.clone();
    let document = format!("https://directory.example/oauth/client-metadata/{key}.json");
    assert_eq!(client_id.as_deref(), Some(document.as_str()), "the issuer's own document");
}

#[tokio::test]
async fn no_registered_client_secret_leaks_into_bodies_logs_or_the_database() {
    let (auth, resource) = servers(TestAuthConfig::default(), ResourceConfig::default()).await;
    let app = Spawn::default().start().await;
    let created = connect_ok(&app, custom(&resource)).await;
    let done = consent_and_callback(&app, created["auth_url"].as_str().unwrap()).await.text().await.unwrap();
    let secret = auth.registered_clients()[0].client_secret.clone().expect("a confidential client");
    let listed = app.get("/assets/connections").await.text().await.unwrap();
    for text in [&done, &listed, &created.to_string(), &captured_logs()] {
        assert!(!text.contains(&secret), "the client secret leaked");
    }
    let data_dir = app.data_dir.clone();
    app.stop().await;
    for file in ["ad.db", "ad.db-wal"] {
        let bytes = std::fs::read(data_dir.path().join(file)).unwrap_or_default();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "plaintext secret in {file}");
    }
}

/// With private networks refused, every non-public address class and plain http is refused
/// before any connection is made, as a validation error naming the probe.
#[tokio::test]
async fn ssrf_every_blocked_address_class_is_refused_at_the_probe() {
    let app = Spawn::default().var("AD_ALLOW_PRIVATE_NETWORKS", "false").start().await;
    let cases = [
        ("https://127.0.0.1/mcp", "loopback"),
        ("https://localhost/mcp", "loopback"),
        ("https://10.0.0.1/mcp", "private"),
        ("https://192.168.1.20/mcp", "private"),
        ("https://169.254.169.254/latest/mcp", "link-local"),
        ("https://[fe80::1]/mcp", "link-local"),
        ("https://[fd00::1]/mcp", "unique-local"),
        ("http://mcp.example.com/mcp", "only https"),
    ];
    for (url, class) in cases {
        let body = json!({"server_name": "probe-me", "server_config": {"url": url}});
        let response = app.post_json("/assets/connect", &body).await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("probe") && message.contains(class), "{url}: {message}");
        assert_eq!(error["details"]["field"], "server_config.url");
    }
    assert_eq!(connections(&app).await, Vec::<Value>::new());
}

#[tokio::test]
async fn the_client_metadata_document_is_served_without_a_key_only_for_an_https_base() {
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", "https://directory.example/").start().await;
    let response = app.client.get(app.url("/oauth/client-metadata.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["client_id"], "https://directory.example/oauth/client-metadata.json");
    assert_eq!(doc["redirect_uris"], json!(["https://directory.example/assets/oauth/callback"]));
    assert_eq!(
        (doc["token_endpoint_auth_method"].as_str(), doc["application_type"].as_str()),
        (Some("none"), Some("web"))
    );

    let key = app::issuer_key("https://as.example");
    let response = app.client.get(app.url(&format!("/oauth/client-metadata/{key}.json"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["client_id"], format!("https://directory.example/oauth/client-metadata/{key}.json"));
    assert_eq!(doc["redirect_uris"], json!([format!("https://directory.example/assets/oauth/callback/{key}")]));
    for bad in ["not-a-key", &key.to_uppercase(), &format!("{key}0")] {
        let response = app.client.get(app.url(&format!("/oauth/client-metadata/{bad}.json"))).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }

    let plain = Spawn::default().start().await;
    for path in ["/oauth/client-metadata.json".to_owned(), format!("/oauth/client-metadata/{key}.json")] {
        let response = plain.client.get(plain.url(&path)).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
}

/// A discovery entry pinned to its operator's authorization server, with the client registered
/// there (`catalog.md`'s advice when dynamic registration stops working).
fn pinned_entry(resource: &TestResourceServer, issuer: &str) -> Value {
    json!({
        "server_name": "pinned", "display_name": "Pinned", "transport": "streamable_http",
        "url": resource.mcp_url(), "auth_method": "oauth",
        "oauth": {"discovery": true, "issuer": issuer, "client_id": "pinned-client",
                  "client_secret_env": "PINNED_CLIENT_SECRET"}
    })
}

async fn pinned_app(entry: Value) -> TestApp {
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(entry);
    Spawn::default().var("PINNED_CLIENT_SECRET", "pinned-secret").catalog(catalog).start().await
}

#[tokio::test]
async fn a_pinned_issuer_the_resource_does_not_list_fails_the_connect_and_nothing_is_sent_to_the_other_server() {
    let honest = TestAuthServer::start(TestAuthConfig {
        clients: vec![test_oauth_server::TestClient::basic("pinned-client", "pinned-secret")],
        ..TestAuthConfig::default()
    })
    .await;
    let (rogue, resource) = servers(TestAuthConfig::default(), ResourceConfig::default()).await;
    let app = pinned_app(pinned_entry(&resource, honest.issuer())).await;

    let response = app.post_json("/assets/connect", &json!({"server_name": "pinned"})).await;
    let error = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(error["details"]["step"], "authorization server metadata", "{error}");
    assert!(connections(&app).await.is_empty(), "no pending connection is left");
    assert!(rogue.registrations().is_empty() && rogue.authorize_requests().is_empty());
    assert!(rogue.token_requests().is_empty(), "the catalog's client secret went nowhere");
    assert!(honest.token_requests().is_empty());
}

#[tokio::test]
async fn a_pinned_issuer_is_used_even_when_the_resource_lists_another_server_first() {
    let honest = TestAuthServer::start(TestAuthConfig {
        clients: vec![test_oauth_server::TestClient::basic("pinned-client", "pinned-secret")],
        ..TestAuthConfig::default()
    })
    .await;
    let rogue = TestAuthServer::start(TestAuthConfig::default()).await;
    let resource = honest.start_resource(ResourceConfig {
        authorization_servers_override: Some(vec![rogue.issuer().to_owned(), honest.issuer().to_owned()]),
        ..ResourceConfig::default()
    });
    let app = pinned_app(pinned_entry(&resource, honest.issuer())).await;

    let created = connect_ok(&app, json!({"server_name": "pinned"})).await;
    let auth_url = created["auth_url"].as_str().unwrap();
    assert!(auth_url.starts_with(honest.base_url()), "{auth_url}");
    let parsed = url::Url::parse(auth_url).unwrap();
    let redirect_uri = parsed.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
    assert_eq!(redirect_uri, app.url("/assets/oauth/callback"), "a pinned issuer keeps the shared redirect URI");
    let done = consent_and_callback(&app, auth_url).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(honest.token_requests()[0].client_id.as_deref(), Some("pinned-client"));
    assert!(rogue.authorize_requests().is_empty() && rogue.token_requests().is_empty());
}
