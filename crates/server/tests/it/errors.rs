//! Every failure answers the contract's error format with its stable code, and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn malformed_json_is_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/assets/connect"))
        .header("X-Engine-Key", &app.key)
        .header("Content-Type", "application/json")
        .body("{\"server_name\": ")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn a_wrong_content_type_is_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/assets/connect"))
        .header("X-Engine-Key", &app.key)
        .header("Content-Type", "text/plain")
        .body(r#"{"server_name":"open"}"#)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn a_missing_field_is_invalid_request_and_names_it() {
    let app = spawn_app().await;
    let body =
        assert_error(app.post_json("/assets/connect", &json!({})).await, StatusCode::BAD_REQUEST, "INVALID_REQUEST")
            .await;
    assert!(body["message"].as_str().unwrap().contains("server_name"), "{body}");
}

#[tokio::test]
async fn an_oversize_body_is_payload_too_large() {
    let app = spawn_app().await;
    let big = json!({"server_name": "open", "server_config": {"display_name": "x".repeat(70 * 1024)}});
    assert_error(app.post_json("/assets/connect", &big).await, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
        .await;
}

#[tokio::test]
async fn unknown_routes_and_methods_have_their_codes() {
    let app = spawn_app().await;
    assert_error(app.get("/assets/nope").await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_error(app.get("/nope").await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_error(app.delete("/assets/servers").await, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    assert_error(app.get("/assets/connect").await, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn an_unknown_server_is_server_not_found() {
    let app = spawn_app().await;
    let response = app.post_json("/assets/connect", &json!({"server_name": "nowhere"})).await;
    assert_error(response, StatusCode::NOT_FOUND, "SERVER_NOT_FOUND").await;
}

#[tokio::test]
async fn a_malformed_server_name_is_a_validation_error() {
    let app = spawn_app().await;
    let response = app.post_json("/assets/connect", &json!({"server_name": "Not A Name"})).await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(body["details"]["field"], "server_name");
}

#[tokio::test]
async fn an_api_key_server_without_its_key_is_a_validation_error_and_stores_nothing() {
    let app = spawn_app().await;
    let response = app.post_json("/assets/connect", &json!({"server_name": "keyed", "server_config": {}})).await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(body["details"]["field"], "server_config.api_key");
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(list.is_empty());
}

#[tokio::test]
async fn unknown_or_malformed_ref_ids_are_connection_not_found() {
    let app = spawn_app().await;
    for path in [
        "/assets/connections/conn-aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "/assets/connections/not-a-ref",
        "/assets/connections/conn-aaaaaaaaaaaaaaaaaaaaaaaaaa/credentials",
    ] {
        assert_error(app.get(path).await, StatusCode::NOT_FOUND, "CONNECTION_NOT_FOUND").await;
    }
}

#[tokio::test]
async fn a_return_to_outside_the_allowlist_is_a_validation_error() {
    let app = spawn_app().await;
    let response =
        app.post_json("/assets/connect", &json!({"server_name": "open", "return_to": "https://evil.example/"})).await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(body["details"]["field"], "return_to");
}
