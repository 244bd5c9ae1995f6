//! What operators use, on the real service: readiness, the OpenAPI document and metrics behind
//! the engine key unless made public, and request ids that tie an answer to its log lines.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Spawn, assert_error, captured_logs, spawn_app};

#[tokio::test]
async fn a_started_service_is_live_ready_and_healthy_without_a_key() {
    let app = spawn_app().await;
    for (path, status) in [("/health/live", "alive"), ("/health/ready", "ready"), ("/health", "ok")] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], status, "{path}");
    }
    let health: Value = app.client.get(app.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["subsystems"]["database"]["status"], "ok");
    // The first rounds run at start; until one has ended its job is `ok` with a detail.
    for job in ["scheduler", "flow_sweeper"] {
        let started = std::time::Instant::now();
        let mut subsystem = health["subsystems"][job].clone();
        while subsystem.get("detail").is_some() && started.elapsed() < std::time::Duration::from_secs(10) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let health: Value = app.client.get(app.url("/health")).send().await.unwrap().json().await.unwrap();
            subsystem = health["subsystems"][job].clone();
        }
        assert_eq!(subsystem, json!({"status": "ok"}), "a round of {job} has ended and did its work");
    }
}

#[tokio::test]
async fn metrics_and_the_openapi_document_need_the_key_by_default() {
    let app = spawn_app().await;
    for path in ["/metrics", "/openapi.json"] {
        let keyless = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(keyless, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path} with the key");
    }
}

#[tokio::test]
async fn metrics_and_the_openapi_document_can_be_made_public() {
    let app = Spawn::default().var("METRICS_PUBLIC", "true").var("OPENAPI_PUBLIC", "true").start().await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.unwrap().contains("ad_oauth_flows_total{event=\"started\"}"));
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["paths"]["/metrics"]["get"]["security"], json!([]), "the document says it is public");
}

#[tokio::test]
async fn metrics_count_requests_by_pattern_and_show_the_pool() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "keyed", "server_config": {"api_key": "k-metrics"}})).await;
    let ref_id = created["ref_id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"ad_http_requests_total{method="GET",route="/assets/connections/{ref_id}",status="200"} 1"#)
    );
    assert!(text.contains(r#"ad_http_requests_total{method="POST",route="/assets/connect",status="200"} 1"#));
    let max = text.lines().find(|l| l.starts_with("ad_db_pool_max_connections ")).expect("pool gauges");
    assert_ne!(max, "ad_db_pool_max_connections 0");
    assert!(text.contains("ad_db_pool_waiting "));
    assert!(!text.contains(ref_id), "a ref_id became a label");
}

#[tokio::test]
async fn an_error_body_names_the_request_id_its_log_lines_carry() {
    let app = spawn_app().await;
    let path = "/assets/connections/conn-bbbbbbbbbbbbbbbbbbbbbbbbbb";
    let response =
        app.client.get(app.url(path)).header("X-Engine-Key", "wrong-key-for-request-ids").send().await.unwrap();
    let header = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    assert_eq!(body["details"]["request_id"], header.as_str());
    let logs = captured_logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&header)).collect();
    assert!(
        lines.iter().any(|l| l.contains("rejected engine key") && l.contains(path)),
        "the guard's warning carries the request id: {lines:?}"
    );
    for line in &lines {
        let parsed: Value = serde_json::from_str(line).expect("JSON log lines");
        assert_eq!(parsed["span"]["request_id"], header.as_str(), "{line}");
        assert_eq!(parsed["span"]["http.route"], "/assets/connections/{ref_id}", "the pattern, not the path: {line}");
    }
}

#[tokio::test]
async fn the_pool_gauges_read_the_configured_pool_on_either_store() {
    let postgres = crate::postgres::fresh_database_url().await;
    for database_url in [None, Some(postgres.as_str())] {
        let mut spawn = Spawn::default().var("DATABASE_POOL_SIZE", "3");
        if let Some(url) = database_url {
            spawn = spawn.var("DATABASE_URL", url);
        }
        let app = spawn.start().await;
        assert_eq!(app.get("/assets/connections").await.status(), StatusCode::OK);
        let text = app.get("/metrics").await.text().await.unwrap();
        let store = if database_url.is_some() { "postgres" } else { "sqlite" };
        assert!(text.lines().any(|l| l == "ad_db_pool_max_connections 3"), "{store}: {text}");
        let open = text.lines().find_map(|l| l.strip_prefix("ad_db_pool_connections ")).unwrap();
        assert!(open.parse::<u32>().unwrap() >= 1, "{store}: a connection was opened");
    }
}
