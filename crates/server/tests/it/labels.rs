//! Labels: the caller's own name for a connection, so that one server can be connected more than
//! once (a work and a personal account) and the connections told apart.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn one_server_connected_twice_lists_both_connections_each_with_its_label() {
    let app = spawn_app().await;
    let work = app.connect(json!({"server_name": "keyed", "label": "work", "server_config": {"api_key": "k-1"}})).await;
    let personal = app
        .connect(json!({"server_name": "keyed", "label": "Personal «é»", "server_config": {"api_key": "k-2"}}))
        .await;
    let unlabelled = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": "k-3"}})).await;

    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    let label_of = |created: &Value| {
        let listed = list.iter().find(|c| c["ref_id"] == created["ref_id"]).expect("listed");
        listed.get("label").cloned()
    };
    assert_eq!(label_of(&work), Some(json!("work")));
    assert_eq!(label_of(&personal), Some(json!("Personal «é»")));
    assert_eq!(label_of(&unlabelled), None, "no label, no field");
    let one: Value =
        app.get(&format!("/assets/connections/{}", work["ref_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(one["label"], "work");
}

#[tokio::test]
async fn a_label_that_is_empty_too_long_or_holds_control_characters_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    for label in [json!(""), json!("x".repeat(65)), json!("a\nb"), json!("\u{202e}gnp.exe"), json!(42)] {
        let response = app.post_json("/assets/connect", &json!({"server_name": "open", "label": label})).await;
        if label.is_string() {
            let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
            assert_eq!(body["details"]["field"], "label", "{label}: {body}");
        } else {
            assert!(response.status().is_client_error(), "{label}: {}", response.status());
        }
    }
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(list.is_empty(), "{list:?}");
}

#[tokio::test]
async fn a_reconnect_in_place_keeps_its_label_and_refuses_a_new_one() {
    let app = spawn_app().await;
    let body =
        json!({"server_name": "keyed", "label": "new", "server_config": {"ref_id": "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa"}});
    let response = app.post_json("/assets/connect", &body).await;
    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "label");
}
