//! `/health`, `/health/live` and `/health/ready`.

use std::sync::Arc;

use actix_api::{SubsystemHealth, SubsystemStatus};
use actix_web::test as actix_test;

use crate::support::{Setup, app, send};

fn plain(path: &str) -> actix_test::TestRequest {
    actix_test::TestRequest::get().uri(path)
}

#[actix_web::test]
async fn a_healthy_service_reports_each_subsystem() {
    let app = actix_test::init_service(app(Setup::default().state())).await;
    let health = send(&app, plain("/health").to_request()).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.body["subsystems"]["database"]["status"], "ok");
    assert_eq!(health.body["subsystems"]["scheduler"]["status"], "not_running");
    assert!(health.body["uptime_seconds"].is_u64() && health.body["version"].is_string());
    assert!(health.body.get("error").is_none());
    assert_eq!(send(&app, plain("/health/ready").to_request()).await.body["status"], "ready");
    assert_eq!(send(&app, plain("/health/live").to_request()).await.body["status"], "alive");
}

#[actix_web::test]
async fn a_dead_database_is_503_for_health_and_readiness_but_not_for_liveness() {
    let app = actix_test::init_service(app(Setup { database_up: false, ..Setup::default() }.state())).await;
    let health = send(&app, plain("/health").to_request()).await;
    assert_eq!(health.status, 503);
    assert_eq!(health.body["status"], "unavailable");
    assert_eq!(health.body["subsystems"]["database"]["status"], "unavailable");
    assert_eq!(health.body["error"], "SERVICE_UNAVAILABLE", "clients routing on `error` understand it");
    assert_eq!(health.headers.get("retry-after").unwrap(), "1");
    assert!(!health.text.contains("connection refused"), "the cause stays in the logs");
    let ready = send(&app, plain("/health/ready").to_request()).await;
    assert_eq!((ready.status, ready.body["error"].as_str()), (503, Some("SERVICE_UNAVAILABLE")));
    assert_eq!(send(&app, plain("/health/live").to_request()).await.status, 200);
}

#[actix_web::test]
async fn a_service_still_starting_is_alive_but_not_ready() {
    let app = actix_test::init_service(app(Setup { ready: false, ..Setup::default() }.state())).await;
    let ready = send(&app, plain("/health/ready").to_request()).await;
    assert_eq!(ready.status, 503);
    assert!(ready.body["message"].as_str().unwrap().contains("starting"));
    assert_eq!(send(&app, plain("/health/live").to_request()).await.status, 200);
}

#[actix_web::test]
async fn a_degraded_subsystem_degrades_the_service_without_failing_it() {
    let probe = Arc::new(|| SubsystemHealth::new(SubsystemStatus::Degraded, Some("falling behind".into())));
    let state = Setup::default().state().with_subsystem("scheduler", probe);
    let app = actix_test::init_service(app(state)).await;
    let health = send(&app, plain("/health").to_request()).await;
    assert_eq!((health.status, health.body["status"].as_str()), (200, Some("degraded")));
    assert_eq!(health.body["subsystems"]["scheduler"]["detail"], "falling behind");
}
