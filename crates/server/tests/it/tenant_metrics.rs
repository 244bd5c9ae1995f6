//! Metrics and tenants (issue 15): no metric names a tenant unless the operator sets
//! `METRICS_TENANT_LABELS=true`, and none ever names an end user.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Spawn, TestApp};
use crate::owners::{Who, call};
use crate::tenants::{ACME_KEY, BETA_KEY, keys_file, keys_toml};

const USER: &str = "user-Distinctive-4242";

/// A service with tenants `acme` and `beta` (and `tenant_labels` as the setting), after each
/// tenant's `USER` connected an API-key server and listed; then its `/metrics`.
async fn metrics_after_two_tenants_called(tenant_labels: &str) -> String {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let app: TestApp = Spawn::default()
        .var("ENGINE_KEYS_FILE", &path.display().to_string())
        .var("METRICS_TENANT_LABELS", tenant_labels)
        .start()
        .await;
    let body = json!({"server_name": "keyed", "server_config": {"api_key": "k-metrics-1"}});
    for key in [ACME_KEY, BETA_KEY] {
        let who = Who { key, user: Some(USER) };
        assert!(call(&app, who, Method::POST, "/assets/connect", Some(&body)).await.status().is_success());
        assert!(call(&app, who, Method::GET, "/assets/connections", None).await.status().is_success());
    }
    app.client.get(app.url("/health")).send().await.unwrap();
    app.get("/metrics").await.text().await.unwrap()
}

#[tokio::test]
async fn by_default_no_metric_carries_a_tenant_or_a_user() {
    let text = metrics_after_two_tenants_called("false").await;
    assert!(!text.contains(USER), "a user id in the metrics");
    assert!(!text.contains("tenant") && !text.contains("acme") && !text.contains("beta"), "{text}");
    let posts = r#"ad_http_requests_total{method="POST",route="/assets/connect",status="200"} 2"#;
    assert!(text.lines().any(|l| l == posts), "both tenants' connects in one series: {text}");
}

#[tokio::test]
async fn with_tenant_labels_requests_are_counted_per_tenant_and_never_per_user() {
    let text = metrics_after_two_tenants_called("true").await;
    assert!(!text.contains(USER), "a user id in the metrics");
    for tenant in ["acme", "beta"] {
        for (method, route) in [("POST", "/assets/connect"), ("GET", "/assets/connections")] {
            let line = format!(
                r#"ad_http_requests_total{{method="{method}",route="{route}",status="200",tenant="{tenant}"}} 1"#
            );
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
    let metrics = r#"ad_http_requests_total{method="GET",route="/health",status="200",tenant=""} 1"#;
    assert!(text.lines().any(|l| l == metrics), "no key, no tenant: {text}");
}
