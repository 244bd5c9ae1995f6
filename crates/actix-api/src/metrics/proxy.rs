//! The MCP proxy's metrics: calls by catalog server and outcome, bytes each way, open streams.
//! A server outside the catalog counts as `custom` (its name is its user's choice, not a closed
//! set); no `ref_id`, path or user reaches a label.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// How a proxied call ended: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyOutcome {
    /// The MCP server answered `2xx`/`3xx`.
    Ok,
    /// The MCP server answered `4xx`, passed on.
    Upstream4xx,
    /// The MCP server answered `5xx`, passed on.
    Upstream5xx,
    /// No answer: unreachable, reset or refused by the address guard (`502`).
    Unreachable,
    /// No first byte in time (`504`).
    Timeout,
    /// The token was refused for good (`401 MCP_TOKEN_EXPIRED`).
    TokenExpired,
    /// A scope challenge (`403 INSUFFICIENT_SCOPE`).
    InsufficientScope,
    /// Refused before any call: unknown connection, not ready, wrong transport.
    Refused,
}

impl ProxyOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Upstream4xx => "upstream_4xx",
            Self::Upstream5xx => "upstream_5xx",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::TokenExpired => "token_expired",
            Self::InsufficientScope => "insufficient_scope",
            Self::Refused => "refused",
        }
    }

    /// The outcome of an answer the MCP server gave with `status`.
    pub(crate) fn of_status(status: u16) -> Self {
        match status {
            500.. => Self::Upstream5xx,
            400..=499 => Self::Upstream4xx,
            _ => Self::Ok,
        }
    }
}

pub(crate) struct ProxyMetrics {
    calls: IntCounterVec,
    bytes: IntCounterVec,
    open_streams: IntGauge,
}

impl ProxyMetrics {
    pub(super) fn register(registry: &Registry) -> Self {
        let calls = IntCounterVec::new(
            Opts::new("ad_proxy_requests_total", "Calls through the MCP proxy, by catalog server and outcome."),
            &["server", "outcome"],
        )
        .expect("a valid metric definition");
        let bytes = IntCounterVec::new(
            Opts::new("ad_proxy_bytes_total", "Body bytes through the MCP proxy: `in` from clients, `out` to them."),
            &["direction"],
        )
        .expect("a valid metric definition");
        let open_streams = IntGauge::new("ad_proxy_open_streams", "Answers the MCP proxy is streaming now.")
            .expect("a valid metric definition");
        for metric in [&calls, &bytes] {
            registry.register(Box::new(metric.clone())).expect("each metric is registered once");
        }
        registry.register(Box::new(open_streams.clone())).expect("each metric is registered once");
        for direction in ["in", "out"] {
            bytes.with_label_values(&[direction]);
        }
        Self { calls, bytes, open_streams }
    }

    /// Counts a call to `server` (a catalog name, or `custom`).
    pub(crate) fn call(&self, server: &str, outcome: ProxyOutcome) {
        self.calls.with_label_values(&[server, outcome.as_str()]).inc();
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.bytes.with_label_values(&["in"]).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.bytes.with_label_values(&["out"]).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// One more open stream until the returned guard drops.
    pub(crate) fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }
}

/// An answer being streamed; counted in `ad_proxy_open_streams` while it lives.
pub(crate) struct OpenStream(IntGauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}
