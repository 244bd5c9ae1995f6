//! The seed API end to end for servers that need no OAuth.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Spawn, assert_error, spawn_app};

#[tokio::test]
async fn the_catalog_lists_every_server_with_its_shape() {
    let app = spawn_app().await;
    let response = app.get("/assets/servers").await;
    assert_eq!(response.status(), StatusCode::OK);
    let servers: Vec<Value> = response.json().await.unwrap();
    let keyed = servers.iter().find(|s| s["server_name"] == "keyed").expect("keyed listed");
    assert_eq!(keyed["display_name"], "Keyed");
    assert_eq!(keyed["transport"], "streamable_http");
    assert_eq!(keyed["auth_method"], "api_key");
    assert_eq!(keyed["status"], "available");
    assert_eq!(servers.len(), 3);
}

#[tokio::test]
async fn an_api_key_connection_goes_from_connect_to_list_to_credentials_to_disconnect() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": "k-abc"}})).await;
    assert_eq!(created["status"], "connected");
    let ref_id = created["ref_id"].as_str().unwrap().to_owned();
    assert!(ref_id.starts_with("conn-") && ref_id.len() > 20);

    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(
        (c["ref_id"].as_str(), c["server_name"].as_str(), c["status"].as_str()),
        (Some(&*ref_id), Some("keyed"), Some("connected"))
    );
    assert_eq!(c["scopes"], json!([]));
    assert_eq!(c["expires_at"], Value::Null);
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));

    let one: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    assert_eq!(one["ref_id"], ref_id);

    let credentials = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    assert_eq!(credentials.status(), StatusCode::OK);
    assert_eq!(credentials.headers()["cache-control"], "no-store");
    let credentials: Value = credentials.json().await.unwrap();
    assert_eq!(credentials["headers"], json!({"X-Api-Key": "k-abc"}));
    assert_eq!(credentials["url"], "https://keyed.example/mcp");
    assert_eq!(credentials["transport"], "streamable_http");

    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    assert_eq!(gone.status(), StatusCode::OK);
    assert_eq!(gone.json::<Value>().await.unwrap(), json!({"status": "disconnected", "ref_id": ref_id}));
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(list.is_empty());
    assert_error(
        app.get(&format!("/assets/connections/{ref_id}")).await,
        StatusCode::NOT_FOUND,
        "CONNECTION_NOT_FOUND",
    )
    .await;
    assert_error(
        app.delete(&format!("/assets/connections/{ref_id}")).await,
        StatusCode::NOT_FOUND,
        "CONNECTION_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_scheme_prefixes_the_key_in_the_credential() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "bearer", "server_config": {"api_key": "k-1"}})).await;
    let path = format!("/assets/connections/{}/credentials", created["ref_id"].as_str().unwrap());
    let credentials: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(credentials["headers"], json!({"Authorization": "Bearer k-1"}));
    assert_eq!(credentials["transport"], "sse");
}

#[tokio::test]
async fn a_server_without_auth_connects_at_once_and_its_credential_has_no_headers() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "open", "server_config": null})).await;
    assert_eq!(created["status"], "connected");
    let path = format!("/assets/connections/{}/credentials", created["ref_id"].as_str().unwrap());
    let credentials: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(credentials["headers"], json!({}));
}

#[tokio::test]
async fn two_connections_to_one_server_have_their_own_ref_ids() {
    let app = spawn_app().await;
    let a = app.connect(json!({"server_name": "open"})).await;
    let b = app.connect(json!({"server_name": "open"})).await;
    assert_ne!(a["ref_id"], b["ref_id"]);
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(list.len(), 2);
    // Oldest first; connections made in the same second are ordered by ref_id.
    let order: Vec<(String, String)> = list
        .iter()
        .map(|c| (c["created_at"].as_str().unwrap().to_owned(), c["ref_id"].as_str().unwrap().to_owned()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[tokio::test]
async fn a_restart_keeps_connections_and_their_secrets() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": "k-survives"}})).await;
    let ref_id = created["ref_id"].as_str().unwrap().to_owned();
    let data_dir = app.stop().await;

    let again = Spawn::default().data_dir(data_dir).start().await;
    let list: Vec<Value> = again.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["ref_id"], ref_id);
    let credentials: Value =
        again.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    assert_eq!(credentials["headers"]["X-Api-Key"], "k-survives");
}

#[tokio::test]
async fn generated_development_keys_are_reused_after_a_restart() {
    let app = Spawn::default().var("ENGINE_API_KEY", "").start().await;
    let key_file = app.data_dir.path().join("engine-key");
    let key = std::fs::read_to_string(&key_file).expect("a development engine key was generated");
    assert!(key.trim().len() >= 32);
    let data_dir = app.stop().await;
    let mut again = Spawn::default().var("ENGINE_API_KEY", "").data_dir(data_dir).start().await;
    again.key = key.trim().to_owned();
    assert_eq!(again.get("/assets/connections").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_answers_without_a_key() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["subsystems"]["database"]["status"], "ok");
    assert!(body.get("details").is_none() && body.get("error").is_none(), "a healthy answer is no error body: {body}");
}
