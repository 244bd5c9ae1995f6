//! Registration that heals itself, and the client identity a connect may fix (issue 18 §2):
//! `client_registration` (`auto`, `preregistered`, `cimd`, `dcr`), a refused Client ID Metadata
//! Document client that makes `auto` register one, and a forgotten registered client registered
//! again, never more than once per issuer within `REGISTRATION_RETRY_SECONDS`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{ResourceConfig, TestAuthConfig, TestAuthServer, TestResourceServer};

use crate::helpers::{Spawn, TestApp, assert_error};

/// The public base the metadata documents live under (the tests call the service directly).
const BASE: &str = "https://directory.example";

async fn servers(auth: TestAuthConfig) -> (TestAuthServer, TestResourceServer) {
    let auth = TestAuthServer::start(TestAuthConfig { clients: Vec::new(), ..auth }).await;
    let resource = auth.start_resource(ResourceConfig::default());
    (auth, resource)
}

/// A server that advertises client ID metadata documents but refuses them at `/authorize`.
async fn refusing_documents() -> (TestAuthServer, TestResourceServer) {
    servers(TestAuthConfig { accept_client_id_urls: true, refuse_client_id_urls: true, ..Default::default() }).await
}

fn custom(resource: &TestResourceServer, registration: Option<&str>) -> Value {
    let mut config = json!({"url": resource.mcp_url()});
    if let Some(mode) = registration {
        config["client_registration"] = json!(mode);
    }
    json!({"server_name": "my-docs", "server_config": config})
}

fn client_id_of(auth_url: &str) -> String {
    let url = url::Url::parse(auth_url).unwrap();
    url.query_pairs().find(|(k, _)| k == "client_id").map(|(_, v)| v.into_owned()).expect("a client_id")
}

/// Follows `auth_url` to the provider and its answer back to this service (the browser would
/// reach the public base; the test calls the service directly); the callback's answer.
async fn through_the_provider(app: &TestApp, auth_url: &str) -> reqwest::Response {
    let consent = app.client.get(auth_url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    let location = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let callback = format!("{}?{}", app.url(location.path()), location.query().unwrap());
    app.client.get(&callback).send().await.unwrap()
}

async fn events(app: &TestApp, ref_id: &str) -> Vec<Value> {
    app.get(&format!("/assets/connections/{ref_id}/events")).await.json().await.unwrap()
}

async fn healing_count(app: &TestApp, step: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let series = format!("ad_registration_healing_total{{step=\"{step}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)?.parse().ok()).expect("the series is exported from the start")
}

#[tokio::test]
async fn a_refused_client_id_metadata_document_makes_the_next_connect_register_a_client() {
    let (auth, resource) = refusing_documents().await;
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", BASE).start().await;

    let first = app.connect(custom(&resource, None)).await;
    assert!(client_id_of(first["auth_url"].as_str().unwrap()).starts_with(BASE), "auto tries the document first");
    let refused = through_the_provider(&app, first["auth_url"].as_str().unwrap()).await;
    assert!(!refused.status().is_success(), "the refused flow fails");
    let ref_id = first["ref_id"].as_str().unwrap();
    let fallback = events(&app, ref_id).await.into_iter().find(|e| e["event"] == "registration_fallback");
    let detail = fallback.expect("an audit event for the fallback")["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("unauthorized_client"), "{detail}");
    assert_eq!(healing_count(&app, "cimd_to_dcr").await, 1);
    assert!(auth.registrations().is_empty());

    let second = app.connect(custom(&resource, None)).await;
    assert_eq!(auth.registrations().len(), 1, "registered instead");
    let client_id = client_id_of(second["auth_url"].as_str().unwrap());
    assert_eq!(client_id, auth.registered_clients()[0].client_id);
    let done = through_the_provider(&app, second["auth_url"].as_str().unwrap()).await;
    assert_eq!(done.status(), StatusCode::OK, "connected with the registered client");

    // The refusal is remembered for the window: still one fallback, however often it is asked.
    let third = app.connect(custom(&resource, None)).await;
    assert_eq!(client_id_of(third["auth_url"].as_str().unwrap()), client_id);
    assert_eq!(healing_count(&app, "cimd_to_dcr").await, 1);
}

#[tokio::test]
async fn with_cimd_only_a_refused_document_is_never_replaced_by_a_registration() {
    let (auth, resource) = refusing_documents().await;
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", BASE).start().await;
    let first = app.connect(custom(&resource, Some("cimd"))).await;
    through_the_provider(&app, first["auth_url"].as_str().unwrap()).await;
    let second = app.connect(custom(&resource, Some("cimd"))).await;
    assert!(client_id_of(second["auth_url"].as_str().unwrap()).starts_with(BASE), "still the document");
    assert!(auth.registrations().is_empty());
}

#[tokio::test]
async fn with_dcr_a_client_is_registered_where_documents_are_supported() {
    let (auth, resource) = servers(TestAuthConfig { accept_client_id_urls: true, ..Default::default() }).await;
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", BASE).start().await;
    let auto = app.connect(custom(&resource, None)).await;
    assert!(client_id_of(auto["auth_url"].as_str().unwrap()).starts_with(BASE), "auto: the document");
    let dcr = app.connect(custom(&resource, Some("dcr"))).await;
    assert_eq!(auth.registrations().len(), 1);
    assert_eq!(client_id_of(dcr["auth_url"].as_str().unwrap()), auth.registered_clients()[0].client_id);
}

#[tokio::test]
async fn a_client_registration_the_service_does_not_know_or_cannot_honour_is_a_validation_error() {
    let (auth, resource) = servers(TestAuthConfig::default()).await;
    let app = Spawn::default().start().await;
    for (body, expect) in [
        (custom(&resource, Some("sometimes")), "auto, preregistered, cimd, dcr"),
        (custom(&resource, Some("preregistered")), "give server_config.client_id"),
        (
            json!({"server_name": "acme", "server_config": {"client_registration": "dcr"}}),
            "only with server_config.url",
        ),
    ] {
        let response = app.post_json("/assets/connect", &body).await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], "server_config.client_registration", "{error}");
        assert!(error["message"].as_str().unwrap().contains(expect), "{error}");
    }
    assert!(auth.registrations().is_empty() && auth.authorize_requests().is_empty(), "nothing was sent");
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(listed.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_forgotten_registered_client_is_registered_again_once_within_the_window() {
    let (auth, resource) =
        servers(TestAuthConfig { access_token_lifetime: Some(Duration::from_secs(30)), ..Default::default() }).await;
    let app = Spawn::default().start().await;
    let connect = || async {
        let created = app.connect(custom(&resource, None)).await;
        assert_eq!(through_the_provider(&app, created["auth_url"].as_str().unwrap()).await.status(), StatusCode::OK);
        created["ref_id"].as_str().unwrap().to_owned()
    };
    let first = connect().await;
    assert_eq!(auth.registrations().len(), 1);

    // The server forgets its clients; the token is due, so this refresh meets invalid_client.
    auth.forget_registered_clients();
    app.get(&format!("/assets/connections/{first}/credentials")).await;
    let forgotten = events(&app, &first).await.into_iter().any(|e| e["event"] == "client_forgotten");
    assert!(forgotten, "{:?}", events(&app, &first).await);
    let second = connect().await;
    assert_eq!(auth.registrations().len(), 2, "registered again");
    let registered_again = auth.registered_clients()[0].client_id.clone();

    // Forgotten once more within the window: kept, never registered a third time.
    auth.forget_registered_clients();
    app.get(&format!("/assets/connections/{second}/credentials")).await;
    let third = app.connect(custom(&resource, None)).await;
    assert_eq!(auth.registrations().len(), 2, "no loop of registrations");
    assert_eq!(client_id_of(third["auth_url"].as_str().unwrap()), registered_again, "the one kept");
    assert_eq!(healing_count(&app, "registered_again").await, 1);
}

#[tokio::test]
async fn a_refusal_never_leaves_auto_without_a_client_where_nothing_can_be_registered() {
    // A refusal arrives through the browser, so anyone with a flow can send one: where the
    // server offers no registration, the document stays the way in.
    let (auth, resource) = servers(TestAuthConfig {
        accept_client_id_urls: true,
        refuse_client_id_urls: true,
        registration_enabled: false,
        ..Default::default()
    })
    .await;
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", BASE).start().await;
    let first = app.connect(custom(&resource, None)).await;
    through_the_provider(&app, first["auth_url"].as_str().unwrap()).await;
    let second = app.connect(custom(&resource, None)).await;
    assert!(client_id_of(second["auth_url"].as_str().unwrap()).starts_with(BASE), "{second}");
    assert!(auth.registrations().is_empty(), "nothing could be registered, and nothing was tried");
}
