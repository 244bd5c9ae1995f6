//! What an authorization server says never reaches the service's own answers (issue 20 item 6):
//! a refused registration or refresh is shown in fixed words per stable code, and the server's
//! own text (its description, or a code outside the RFCs) is not repeated.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{Failure, ResourceConfig, TestAuthConfig, TestAuthServer};

use crate::helpers::{Spawn, assert_error};
use crate::oauth_flow::{spawn_with_auth, start_flow};

#[tokio::test]
async fn a_refused_registration_is_shown_by_its_code_without_the_servers_description() {
    let auth = TestAuthServer::start(TestAuthConfig {
        clients: Vec::new(),
        refuse_registrations: true,
        ..TestAuthConfig::default()
    })
    .await;
    let resource = auth.start_resource(ResourceConfig::default());
    let app = Spawn::default().start().await;
    let body = json!({"server_name": "my-docs", "server_config": {"url": resource.mcp_url()}});
    let response = app.post_json("/assets/connect", &body).await;
    let error = assert_error(response, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("invalid_client_metadata"), "the RFC 7591 code is named: {message}");
    assert!(!message.contains("registration is closed"), "the server's description is repeated: {message}");
}

#[tokio::test]
async fn a_refused_refresh_is_answered_in_fixed_words_without_the_servers_code() {
    let expired_at_once = TestAuthConfig { access_token_lifetime: Some(Duration::ZERO), ..TestAuthConfig::default() };
    let (app, auth) = spawn_with_auth(expired_at_once).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);

    auth.configure(|c| c.token_failure = Some(Failure::Refuse("call_\u{202e}555_now")));
    let response = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_client_error() || status.is_server_error(), "{status} {body}");
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("555") && !message.contains("call_"), "the server's code is repeated: {message}");
    assert!(message.contains("outside RFC 6749"), "{message}");
}

#[tokio::test]
async fn a_token_endpoint_answering_no_oauth_response_is_shown_without_quoting_its_headers() {
    let (app, auth) = spawn_with_auth(TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    auth.configure(|c| c.token_failure = Some(Failure::Garbage));
    let response = app.client.get(&callback).header("Accept", "application/json").send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(!body.contains("555"), "the token endpoint's header is repeated: {body}");
    let listed: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    assert!(!listed["status_reason"].as_str().unwrap_or_default().contains("555"), "{listed}");
}
