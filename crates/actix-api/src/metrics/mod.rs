//! Prometheus metrics (the `prometheus` crate, one registry per service instance so tests that
//! run several services in one process never mix their counts).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ad_http_requests_total` | counter | `method`, `route` (the pattern, e.g. `/assets/connections/{ref_id}`, or `unmatched`), `status` |
//! | `ad_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `ad_db_pool_max_connections`, `ad_db_pool_connections`, `ad_db_pool_in_use`, `ad_db_pool_waiting` | gauge | — |
//! | `ad_oauth_flows_total` | counter | `event`: `started`, `completed`, `failed` |
//! | `ad_token_refreshes_total` | counter | `outcome`: `refreshed`, `already_fresh`, `expired`, `failed`, `skipped` |
//! | `ad_circuit_breaker_state` | gauge | `issuer` (scheme, host, port and path only); 0 closed, 1 half-open, 2 open |
//! | `ad_token_refresh_backlog`, `ad_token_refresh_backlog_oldest_seconds` | gauge | — |
//! | `ad_proxy_requests_total` | counter | `server` (a catalog name, or `custom`), `outcome`: `ok`, `upstream_4xx`, `upstream_5xx`, `unreachable`, `timeout`, `token_expired`, `insufficient_scope`, `refused` |
//! | `ad_proxy_bytes_total` | counter | `direction`: `in` (from clients), `out` (to them) |
//! | `ad_proxy_open_streams` | gauge | — |
//!
//! With [`ApiMetrics::with_tenant_labels`] (`METRICS_TENANT_LABELS=true`), the request metrics
//! and `ad_oauth_flows_total` also carry `tenant`: the engine key's tenant, or the empty value
//! for a request no key was accepted on. No metric ever carries an end user.
//!
//! Architecture invariant: no label value comes from a request except through a closed set
//! (methods, route patterns, status codes) or an issuer URL cut down to its origin and path, so a
//! `ref_id`, a query string or a secret can never become a label.

mod http;
mod proxy;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use domain::TenantId;
use ports::{BreakerState, FlowEvent, HealingStep, PoolStats, RefreshEvent};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub(crate) use http::record;
pub(crate) use proxy::{ProxyMetrics, ProxyOutcome};

/// The content type of [`ApiMetrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric the service exports. It is also the [`ports::Metrics`] the use cases report to,
/// and what issue 6's scheduler feeds (`refresh`, `circuit_breaker`).
pub struct ApiMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    flows: IntCounterVec,
    refreshes: IntCounterVec,
    breakers: IntGaugeVec,
    healing: IntCounterVec,
    webhooks: IntCounterVec,
    backlog: IntGauge,
    backlog_oldest: IntGauge,
    pool: Option<PoolGauges>,
    tenant_labels: bool,
    pub(crate) proxy: ProxyMetrics,
}

struct PoolGauges {
    stats: Arc<dyn PoolStats>,
    max: IntGauge,
    open: IntGauge,
    in_use: IntGauge,
    waiting: IntGauge,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiMetrics").field("pool", &self.pool.is_some()).finish_non_exhaustive()
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiMetrics {
    /// A fresh registry with every metric at zero (and no pool gauges), no tenant label.
    pub fn new() -> Self {
        Self::build(false)
    }

    /// As [`ApiMetrics::new`], with a `tenant` label on the request and flow metrics.
    pub fn with_tenant_labels() -> Self {
        Self::build(true)
    }

    fn build(tenant_labels: bool) -> Self {
        let registry = Registry::new();
        let tenant: &[&str] = if tenant_labels { &["tenant"] } else { &[] };
        let request_labels = [&["method", "route", "status"][..], tenant].concat();
        let requests = IntCounterVec::new(
            Opts::new("ad_http_requests_total", "HTTP requests answered, by method, route pattern and status."),
            &request_labels,
        )
        .expect("a valid metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new("ad_http_request_duration_seconds", "Time to answer an HTTP request, in seconds."),
            &request_labels,
        )
        .expect("a valid metric definition");
        let flows = IntCounterVec::new(
            Opts::new("ad_oauth_flows_total", "OAuth authorizations started, completed and failed."),
            &[&["event"][..], tenant].concat(),
        )
        .expect("a valid metric definition");
        let refreshes =
            IntCounterVec::new(Opts::new("ad_token_refreshes_total", "Token refreshes, by outcome."), &["outcome"])
                .expect("a valid metric definition");
        let breakers = IntGaugeVec::new(
            Opts::new("ad_circuit_breaker_state", "Circuit breaker per issuer: 0 closed, 1 half-open, 2 open."),
            &["issuer"],
        )
        .expect("a valid metric definition");
        let healing = IntCounterVec::new(
            Opts::new(
                "ad_registration_healing_total",
                "Registrations that healed themselves, by step (cimd_to_dcr, registered_again).",
            ),
            &["step"],
        )
        .expect("a valid metric definition");
        let webhooks = IntCounterVec::new(
            Opts::new(
                "ad_webhook_attempts_total",
                "Webhook delivery attempts, by outcome (delivered, retry, failed, gone, postponed).",
            ),
            &["outcome"],
        )
        .expect("a valid metric definition");
        for metric in [&requests, &flows, &refreshes, &healing, &webhooks] {
            registry.register(Box::new(metric.clone())).expect("each metric is registered once");
        }
        registry.register(Box::new(latency.clone())).expect("each metric is registered once");
        registry.register(Box::new(breakers.clone())).expect("each metric is registered once");
        let backlog =
            IntGauge::new("ad_token_refresh_backlog", "Tokens due for a refresh after the last scheduler round.")
                .expect("a valid metric definition");
        let backlog_oldest = IntGauge::new(
            "ad_token_refresh_backlog_oldest_seconds",
            "How long the most overdue token has been due, after the last scheduler round.",
        )
        .expect("a valid metric definition");
        for gauge in [&backlog, &backlog_oldest] {
            registry.register(Box::new(gauge.clone())).expect("each metric is registered once");
        }
        // Every closed label value shows from the start, at zero, so rates work from the first
        // scrape (tenants are not a closed set: theirs show from their first flow).
        if !tenant_labels {
            for event in FlowEvent::ALL {
                flows.with_label_values(&[event.as_str()]);
            }
        }
        for event in RefreshEvent::ALL {
            refreshes.with_label_values(&[event.as_str()]);
        }
        for step in HealingStep::ALL {
            healing.with_label_values(&[step.as_str()]);
        }
        for outcome in ports::AttemptOutcome::NAMES {
            webhooks.with_label_values(&[outcome]);
        }
        let proxy = ProxyMetrics::register(&registry);
        Self {
            proxy,
            registry,
            requests,
            latency,
            flows,
            refreshes,
            breakers,
            healing,
            webhooks,
            backlog,
            backlog_oldest,
            pool: None,
            tenant_labels,
        }
    }

    /// Adds the pool gauges, read from `stats` at every scrape.
    #[must_use]
    pub fn with_pool(mut self, stats: Arc<dyn PoolStats>) -> Self {
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).expect("a valid metric definition");
            self.registry.register(Box::new(gauge.clone())).expect("each metric is registered once");
            gauge
        };
        self.pool = Some(PoolGauges {
            max: gauge("ad_db_pool_max_connections", "Most connections the database pool opens."),
            open: gauge("ad_db_pool_connections", "Database connections open now."),
            in_use: gauge("ad_db_pool_in_use", "Database connections lent out now."),
            waiting: gauge("ad_db_pool_waiting", "Callers waiting for a database connection now."),
            stats,
        });
        self
    }

    /// The Prometheus text format of every metric, as of now.
    pub fn render(&self) -> String {
        if let Some(pool) = &self.pool {
            let status = pool.stats.pool_status();
            pool.max.set(gauge_value(status.max_size));
            pool.open.set(gauge_value(status.size));
            pool.in_use.set(gauge_value(status.in_use));
            pool.waiting.set(gauge_value(status.waiting));
        }
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }

    /// Counts one answered request. `route` is a registered pattern or `unmatched`; `tenant`
    /// is the accepted key's, if any (a label only with tenant labels on).
    pub(crate) fn observe_request(
        &self,
        method: &Method,
        route: &str,
        status: u16,
        tenant: Option<&TenantId>,
        elapsed: Duration,
    ) {
        let status = status.to_string();
        let labels = self.labels(&[http::method_label(method), route, status.as_str()], tenant);
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }

    /// `closed`, then the tenant (empty when none) if tenant labels are on.
    fn labels<'a>(&self, closed: &[&'a str], tenant: Option<&'a TenantId>) -> Vec<&'a str> {
        let mut labels = closed.to_vec();
        if self.tenant_labels {
            labels.push(tenant.map_or("", TenantId::as_str));
        }
        labels
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl ports::Metrics for ApiMetrics {
    fn oauth_flow(&self, event: FlowEvent, tenant: &TenantId) {
        self.flows.with_label_values(&self.labels(&[event.as_str()], Some(tenant))).inc();
    }

    fn refresh(&self, event: RefreshEvent) {
        self.refreshes.with_label_values(&[event.as_str()]).inc();
    }

    fn circuit_breaker(&self, issuer: &str, state: BreakerState) {
        self.breakers.with_label_values(&[&http::issuer_label(issuer)]).set(state.level());
    }

    fn registration_healing(&self, step: HealingStep) {
        self.healing.with_label_values(&[step.as_str()]).inc();
    }

    fn webhook_attempt(&self, outcome: &'static str) {
        self.webhooks.with_label_values(&[outcome]).inc();
    }

    fn refresh_backlog(&self, due: u64, oldest_due_seconds: u64) {
        self.backlog.set(i64::try_from(due).unwrap_or(i64::MAX));
        self.backlog_oldest.set(i64::try_from(oldest_due_seconds).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests;
