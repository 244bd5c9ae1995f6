//! The service on PostgreSQL: several replicas on one database behave as one service.
//! Each test gets its own schema on the server named by `AD_TEST_DATABASE_URL`.

use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use store_contract::proxy::CuttableProxy;
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::helpers::{Spawn, TestApp, assert_error};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, start_flow};

fn server_url() -> String {
    std::env::var("AD_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| panic!("AD_TEST_DATABASE_URL is not set: run `cargo xtask test`, which provides PostgreSQL"))
}

/// A fresh schema on the test server, and a URL whose sessions see only it.
pub async fn fresh_database_url() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "ad_it_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let mut url = url::Url::parse(&server_url()).unwrap();
    let ours = format!("options=-c%20search_path%3D{schema}");
    let query = match url.query() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs}&{ours}"),
        _ => ours,
    };
    url.set_query(Some(&query));
    url.into()
}

/// The public base URL replicas behind one load balancer share.
const PUBLIC_BASE: &str = "http://localhost:9";

async fn replica(database_url: &str, catalog: Option<Value>) -> TestApp {
    let mut spawn = Spawn::default()
        .var("DATABASE_URL", database_url)
        .var("ACME_CLIENT_SECRET", CLIENT_SECRET)
        .var("OAUTH_REDIRECT_BASE_URL", PUBLIC_BASE);
    if let Some(catalog) = catalog {
        spawn = spawn.catalog(catalog);
    }
    spawn.start().await
}

#[tokio::test]
async fn two_replicas_on_one_database_see_the_same_connections() {
    let url = fresh_database_url().await;
    let a = replica(&url, None).await;
    let b = replica(&url, None).await;
    let created = a.connect(json!({"server_name": "keyed", "server_config": {"api_key": "k-shared"}})).await;
    let ref_id = created["ref_id"].as_str().unwrap();

    let listed: Vec<Value> = b.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["ref_id"], ref_id);
    let credentials: Value = b.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    assert_eq!(credentials["headers"]["X-Api-Key"], "k-shared", "a secret sealed on one replica opens on the other");

    assert_eq!(b.delete(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);
    let listed: Vec<Value> = a.get("/assets/connections").await.json().await.unwrap();
    assert!(listed.is_empty());
    assert_error(
        a.delete(&format!("/assets/connections/{ref_id}")).await,
        StatusCode::NOT_FOUND,
        "CONNECTION_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn an_oauth_flow_started_on_one_replica_completes_and_serves_credentials_on_the_other() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let url = fresh_database_url().await;
    let a = replica(&url, Some(oauth_catalog(&auth))).await;
    let b = replica(&url, Some(oauth_catalog(&auth))).await;
    let (ref_id, callback) = start_flow(&a, json!({"server_name": "acme"})).await;
    // The provider redirects to the public base; the balancer sends the callback to B, then a replay to A.
    let on_b = callback.replace(PUBLIC_BASE, &b.address);
    let done = b.client.get(&on_b).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let on_a = callback.replace(PUBLIC_BASE, &a.address);
    assert_error(a.client.get(&on_a).send().await.unwrap(), StatusCode::BAD_REQUEST, "INVALID_STATE").await;

    let credentials: Value = a.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    let token = credentials["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ");
    assert!(auth.token_is_active(token));
    assert_eq!(auth.code_exchanges(), 1);
}

#[tokio::test]
async fn a_restart_on_postgres_keeps_connections() {
    let url = fresh_database_url().await;
    let a = replica(&url, None).await;
    let created = a.connect(json!({"server_name": "open"})).await;
    a.stop().await;
    let again = replica(&url, None).await;
    let listed: Vec<Value> = again.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed[0]["ref_id"], created["ref_id"]);
}

#[tokio::test]
async fn a_database_outage_answers_503_and_the_service_recovers_without_a_restart() {
    let url = fresh_database_url().await;
    let proxy = CuttableProxy::in_front_of(&url).await;
    let app = Spawn::default().var("DATABASE_URL", &proxy.route(&url)).var("DATABASE_TIMEOUT_MS", "1000").start().await;
    let created = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": "k-outage"}})).await;
    let ref_id = created["ref_id"].as_str().unwrap();

    proxy.cut();
    let down = app.get("/assets/connections").await;
    assert_eq!(down.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    assert_error(down, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
    let write = app.post_json("/assets/connect", &json!({"server_name": "open"})).await;
    assert_error(write, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.silence();
    let hung = app.get(&format!("/assets/connections/{ref_id}")).await;
    assert_error(hung, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;

    proxy.restore();
    let mut back = None;
    for _ in 0..50 {
        let response = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
        if response.status() == StatusCode::OK {
            back = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let credentials = back.expect("the service answers again once the database is back");
    assert_eq!(credentials["headers"]["X-Api-Key"], "k-outage", "the secret acknowledged before the outage is intact");
}
