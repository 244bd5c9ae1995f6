use std::time::Duration;

use actix_web::http::Method;
use domain::TenantId;
use ports::{BreakerState, FlowEvent, Metrics, PoolStats, PoolStatus, RefreshEvent};

use super::http::issuer_label;
use super::*;

struct FixedPool;

impl PoolStats for FixedPool {
    fn pool_status(&self) -> PoolStatus {
        PoolStatus { max_size: 8, size: 5, in_use: 3, waiting: 2 }
    }
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
}

#[test]
fn every_closed_label_value_is_exported_from_the_start() {
    let text = ApiMetrics::new().render();
    for event in FlowEvent::ALL {
        assert_eq!(
            line(&text, &format!("ad_oauth_flows_total{{event=\"{}\"}}", event.as_str())).split(' ').nth(1),
            Some("0")
        );
    }
    for event in RefreshEvent::ALL {
        line(&text, &format!("ad_token_refreshes_total{{outcome=\"{}\"}}", event.as_str()));
    }
}

#[test]
fn the_port_counts_flows_refreshes_and_breaker_states() {
    let metrics = ApiMetrics::new();
    metrics.oauth_flow(FlowEvent::Started, &acme());
    metrics.oauth_flow(FlowEvent::Started, &TenantId::default_tenant());
    metrics.refresh(RefreshEvent::Expired);
    metrics.circuit_breaker("https://as.example/tenant/", BreakerState::Open);
    let text = metrics.render();
    assert_eq!(line(&text, "ad_oauth_flows_total{event=\"started\"}"), "ad_oauth_flows_total{event=\"started\"} 2");
    assert!(text.contains("ad_token_refreshes_total{outcome=\"expired\"} 1"), "{text}");
    assert!(text.contains("ad_circuit_breaker_state{issuer=\"https://as.example/tenant\"} 2"), "{text}");
    metrics.circuit_breaker("https://as.example/tenant", BreakerState::Closed);
    assert!(metrics.render().contains("ad_circuit_breaker_state{issuer=\"https://as.example/tenant\"} 0"));
}

#[test]
fn the_refresh_backlog_shows_the_last_rounds_report() {
    let metrics = ApiMetrics::new();
    assert!(metrics.render().lines().any(|l| l == "ad_token_refresh_backlog 0"));
    metrics.refresh_backlog(7, 95);
    let text = metrics.render();
    assert!(text.lines().any(|l| l == "ad_token_refresh_backlog 7"), "{text}");
    assert!(text.lines().any(|l| l == "ad_token_refresh_backlog_oldest_seconds 95"), "{text}");
}

#[test]
fn pool_gauges_are_read_at_every_scrape() {
    let text = ApiMetrics::new().with_pool(Arc::new(FixedPool)).render();
    for expected in
        ["ad_db_pool_max_connections 8", "ad_db_pool_connections 5", "ad_db_pool_in_use 3", "ad_db_pool_waiting 2"]
    {
        assert!(text.lines().any(|l| l == expected), "{expected} in\n{text}");
    }
}

#[test]
fn requests_are_counted_by_method_pattern_and_status() {
    let metrics = ApiMetrics::new();
    let route = "/assets/connections/{ref_id}";
    metrics.observe_request(&Method::GET, route, 404, Some(&acme()), Duration::from_millis(3));
    metrics.observe_request(&Method::from_bytes(b"BREW").unwrap(), "unmatched", 405, None, Duration::from_millis(1));
    let text = metrics.render();
    assert!(
        text.contains(r#"ad_http_requests_total{method="GET",route="/assets/connections/{ref_id}",status="404"} 1"#)
    );
    assert!(text.contains(r#"ad_http_requests_total{method="OTHER",route="unmatched",status="405"} 1"#), "{text}");
    assert!(text.contains(r#"ad_http_request_duration_seconds_count{method="GET""#), "{text}");
}

#[test]
fn an_issuer_label_keeps_only_origin_and_path() {
    assert_eq!(issuer_label("https://user:pa55@as.example:8443/t/?secret=x#frag"), "https://as.example:8443/t");
    assert_eq!(issuer_label("not a url"), "invalid");
    assert!(issuer_label(&format!("https://as.example/{}", "é".repeat(200))).len() <= 120);
}

#[test]
fn without_tenant_labels_no_metric_names_a_tenant() {
    let metrics = ApiMetrics::new();
    metrics.observe_request(&Method::GET, "/assets/connections", 200, Some(&acme()), Duration::from_millis(2));
    metrics.oauth_flow(FlowEvent::Completed, &acme());
    let text = metrics.render();
    assert!(!text.contains("tenant") && !text.contains("acme"), "{text}");
    assert!(text.contains(r#"ad_http_requests_total{method="GET",route="/assets/connections",status="200"} 1"#));
    assert!(text.contains(r#"ad_oauth_flows_total{event="completed"} 1"#), "{text}");
}

#[test]
fn with_tenant_labels_requests_and_flows_are_counted_per_tenant() {
    let metrics = ApiMetrics::with_tenant_labels();
    let route = "/assets/connections";
    metrics.observe_request(&Method::GET, route, 200, Some(&acme()), Duration::from_millis(2));
    metrics.observe_request(&Method::GET, route, 200, Some(&TenantId::default_tenant()), Duration::from_millis(2));
    metrics.observe_request(&Method::GET, "/health", 200, None, Duration::from_millis(1));
    metrics.oauth_flow(FlowEvent::Started, &acme());
    metrics.oauth_flow(FlowEvent::Started, &acme());
    let text = metrics.render();
    for expected in [
        r#"ad_http_requests_total{method="GET",route="/assets/connections",status="200",tenant="acme"} 1"#,
        r#"ad_http_requests_total{method="GET",route="/assets/connections",status="200",tenant="default"} 1"#,
        r#"ad_http_requests_total{method="GET",route="/health",status="200",tenant=""} 1"#,
        r#"ad_oauth_flows_total{event="started",tenant="acme"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == expected), "{expected} in\n{text}");
    }
    assert!(text.contains(r#"ad_http_request_duration_seconds_count{method="GET",route="/assets/connections",status="200",tenant="acme"} 1"#));
}
