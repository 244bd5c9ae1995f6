//! `POST /assets/connect` refuses what it would otherwise drop without a word (issue 20): an
//! unknown field, a key for a server that takes none, a URL for a catalog server, a
//! `server_config` that is not an object. Each refusal names the field and repeats no value.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::TestAuthConfig;

use crate::helpers::{TestApp, assert_error, spawn_app};
use crate::oauth_flow::spawn_with_auth;

/// Posts `body`, expects `422 VALIDATION_ERROR` naming `field`, and checks the message repeats
/// no value of the body.
async fn refused(app: &TestApp, body: Value, field: &str, secret: &str) {
    let response = app.post_json("/assets/connect", &body).await;
    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], field, "{body}: {error}");
    assert!(!error.to_string().contains(secret), "{error} repeats a value of {body}");
}

async fn nothing_stored(app: &TestApp) {
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(list.is_empty(), "{list:?}");
}

#[tokio::test]
async fn an_unknown_field_at_either_level_is_refused_naming_it_and_nothing_is_stored() {
    let app = spawn_app().await;
    refused(&app, json!({"server_name": "open", "lable": "sk-top-7Qx"}), "lable", "sk-top-7Qx").await;
    let nested = json!({"server_name": "keyed", "server_config": {"api_key": "sk-key-7Qx", "apikey": "sk-mis-7Qx"}});
    refused(&app, nested, "server_config.apikey", "sk-").await;
    let reconnect =
        json!({"server_name": "keyed", "server_config": {"ref_id": "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa", "foo": 1}});
    refused(&app, reconnect, "server_config.foo", "conn-aaaa").await;
    let deeper = json!({"server_name": "keyed", "server_config": {"identity_assertion": {"id_token": "eyJ-7Qx", "idtoken": "eyJ-8Qx"}}});
    refused(&app, deeper, "server_config.identity_assertion.idtoken", "eyJ-").await;
    nothing_stored(&app).await;
}

#[tokio::test]
async fn an_unknown_field_whose_name_is_not_a_plain_word_is_refused_without_repeating_it() {
    let app = spawn_app().await;
    let odd = "sk-\u{202e}odd name".to_owned() + &"x".repeat(80);
    refused(&app, json!({"server_name": "open", "server_config": {odd.clone(): 1}}), "server_config.*", "sk-").await;
    refused(&app, json!({"server_name": "open", odd: 1}), "*", "sk-").await;
    nothing_stored(&app).await;
}

#[tokio::test]
async fn an_api_key_for_a_server_that_takes_none_is_refused_without_repeating_it() {
    let (app, _auth) = spawn_with_auth(TestAuthConfig::default()).await;
    for server in ["open", "acme"] {
        let body = json!({"server_name": server, "server_config": {"api_key": "sk-unwanted-7Qx"}});
        refused(&app, body, "server_config.api_key", "sk-unwanted").await;
    }
    let custom = json!({"server_name": "my-docs",
        "server_config": {"url": "https://docs.example/mcp", "api_key": "sk-unwanted-7Qx"}});
    refused(&app, custom, "server_config.api_key", "sk-unwanted").await;
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_url_transport_or_display_name_for_a_catalog_server_is_refused() {
    let app = spawn_app().await;
    let fields = [
        ("url", "https://elsewhere.example/mcp", "elsewhere"),
        ("transport", "sse", "\"sse\""),
        ("display_name", "Not Open 7Qx", "7Qx"),
    ];
    for (field, value, unrepeated) in fields {
        let body = json!({"server_name": "open", "server_config": {field: value}});
        refused(&app, body, &format!("server_config.{field}"), unrepeated).await;
    }
    let keyed = json!({"server_name": "keyed",
        "server_config": {"api_key": "sk-key-7Qx", "url": "https://elsewhere.example/mcp"}});
    refused(&app, keyed, "server_config.url", "sk-key").await;
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_server_config_that_is_not_an_object_is_refused_and_null_is_allowed() {
    let app = spawn_app().await;
    for config in [json!("sk-string-7Qx"), json!(["sk-array-7Qx"]), json!(42), json!(true)] {
        refused(&app, json!({"server_name": "keyed", "server_config": config}), "server_config", "7Qx").await;
    }
    nothing_stored(&app).await;
    let open = app.connect(json!({"server_name": "open", "server_config": null})).await;
    assert_eq!(open["status"], "connected");
}

#[tokio::test]
async fn a_return_to_whose_query_carries_what_the_redirect_adds_is_refused_naming_only_those() {
    let app = spawn_app().await;
    let cases = [
        ("ref_id=conn-forged7Qx", &["ref_id"][..]),
        ("tab=1&status=forged7Qx", &["status"]),
        ("%65rror=forged7Qx", &["error"]),
        ("error=forged7Qx&ref_id=forged7Qx&status=forged7Qx", &["ref_id", "status", "error"]),
    ];
    for (query, named) in cases {
        let return_to = format!("https://app.example/done?{query}");
        for body in [
            json!({"server_name": "open", "return_to": return_to}),
            json!({"server_name": "keyed", "return_to": return_to,
                "server_config": {"ref_id": "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa"}}),
        ] {
            let response = app.post_json("/assets/connect", &body).await;
            let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
            assert_eq!(error["details"]["field"], "return_to", "{error}");
            let message = error["message"].as_str().unwrap();
            for name in named {
                assert!(message.contains(name), "{message} names {name}");
            }
            assert!(!message.contains("forged7Qx"), "{message} repeats a value");
        }
    }
    nothing_stored(&app).await;
    let kept = app.connect(json!({"server_name": "open", "return_to": "https://app.example/done?tab=1#error"})).await;
    assert_eq!(kept["status"], "connected", "other parameters and a fragment are the app's own");
}

#[tokio::test]
async fn a_field_sent_twice_in_server_config_is_refused_not_resolved_to_the_last() {
    let app = spawn_app().await;
    for body in [
        r#"{"server_name":"keyed","server_config":{"api_key":"sk-first-7Qx","api_key":"sk-second-7Qx"}}"#,
        r#"{"server_name":"keyed","server_config":{"ref_id":"conn-aaaaaaaaaaaaaaaaaaaaaaaaaa","ref_id":null}}"#,
    ] {
        let response = app
            .client
            .post(app.url("/assets/connect"))
            .header("X-Engine-Key", &app.key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
        assert!(!error.to_string().contains("sk-"), "{error} repeats a value");
    }
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused_even_where_serde_would_read_it_as_fields() {
    let app = spawn_app().await;
    // serde reads a struct from an array, field by field: `["open"]` would be a connect to `open`.
    for (path, body) in [("/assets/connect", r#"["open"]"#), ("/assets/connect-sessions", "[null, null]")] {
        let response = app
            .client
            .post(app.url(path))
            .header("X-Engine-Key", &app.key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    }
    nothing_stored(&app).await;
}
