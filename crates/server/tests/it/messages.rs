//! No error message repeats a value from the request (the error schema's promise, issue 20):
//! not a server name, not a method, not the path of a URL the service was asked to probe. The
//! host of a URL the service called is the one deliberate exception (docs/decisions.md).

use reqwest::{Method, StatusCode};
use serde_json::json;
use test_oauth_server::{MetadataAt, ResourceConfig, TestAuthConfig, TestAuthServer};

use crate::helpers::{Spawn, assert_error, spawn_app};
use crate::oauth_flow::oauth_catalog;

fn message(body: &serde_json::Value) -> &str {
    body["message"].as_str().unwrap()
}

#[tokio::test]
async fn an_unknown_server_name_is_not_repeated() {
    let app = spawn_app().await;
    let response = app.post_json("/assets/connect", &json!({"server_name": "nowhere-zq7"})).await;
    let body = assert_error(response, StatusCode::NOT_FOUND, "SERVER_NOT_FOUND").await;
    assert!(!message(&body).contains("nowhere-zq7"), "{body}");
}

#[tokio::test]
async fn an_unavailable_server_is_refused_without_repeating_its_name() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let app = Spawn::default().catalog(oauth_catalog(&auth)).start().await;
    let response = app.post_json("/assets/connect", &json!({"server_name": "acme"})).await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert!(!message(&body).contains("acme"), "{body}");
    assert!(message(&body).contains("ACME_CLIENT_SECRET"), "the operator's fix is still named: {body}");
}

#[tokio::test]
async fn a_method_a_route_does_not_serve_is_not_repeated() {
    let app = spawn_app().await;
    let method = Method::from_bytes(b"FROBNICATE").unwrap();
    let response =
        app.client.request(method, app.url("/assets/servers")).header("X-Engine-Key", &app.key).send().await.unwrap();
    assert!(response.headers().contains_key("allow"), "the Allow header says what is served");
    let body = assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    assert!(!message(&body).contains("FROBNICATE"), "{body}");
}

#[tokio::test]
async fn a_discovery_failure_names_the_host_it_called_but_not_the_path_it_was_given() {
    let auth = TestAuthServer::start(TestAuthConfig { clients: Vec::new(), ..TestAuthConfig::default() }).await;
    let resource =
        auth.start_resource(ResourceConfig { metadata_at: MetadataAt::NamedButAbsent, ..Default::default() });
    let app = Spawn::default().start().await;
    let url = resource.mcp_url();
    let path = url::Url::parse(&url).unwrap().path().to_owned();
    let connect = json!({"server_name": "my-docs", "server_config": {"url": url}});
    let response = app.post_json("/assets/connect", &connect).await;
    let body = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(body["details"]["step"], "resource metadata");
    assert!(message(&body).contains("127.0.0.1"), "{body}");
    assert!(!message(&body).contains(&path), "a URL's path can hold a secret: {body}");
}
