//! Where the service listens, and which documents answer without the engine key.

use std::net::SocketAddr;
use std::time::Duration;

use super::{ConfigError, Source, invalid};

/// The HTTP listener. Reads:
///
/// - `LISTEN_ADDR`: the address to listen on (default `127.0.0.1:8000`);
/// - `REQUEST_BODY_TIMEOUT_SECONDS`: how long a request's body may take to arrive, counted from
///   its head, before the answer is `408` (default 15, at least 1);
/// - `OPENAPI_PUBLIC`: serve `GET /openapi.json` without `X-Engine-Key` (default `false`);
/// - `METRICS_PUBLIC`: serve `GET /metrics` without `X-Engine-Key` (default `false`);
/// - `METRICS_TENANT_LABELS`: label the request and OAuth flow metrics with the tenant (default
///   `false`; never with the end user).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen_addr: SocketAddr,
    /// How long a request's body may take to arrive, from its head on; then `408`.
    pub request_body_timeout: Duration,
    /// `GET /openapi.json` answers without `X-Engine-Key`.
    pub openapi_public: bool,
    /// `GET /metrics` answers without `X-Engine-Key` (for a scraper that cannot send headers).
    pub metrics_public: bool,
    /// The request and OAuth flow metrics carry a `tenant` label.
    pub metrics_tenant_labels: bool,
}

/// The HTTP workers: one per core, each a thread with a runtime of its own (and, on
/// PostgreSQL, a lane of the pool of its own).
pub fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl HttpConfig {
    pub(super) const VARIABLES: &'static [&'static str] =
        &["LISTEN_ADDR", "REQUEST_BODY_TIMEOUT_SECONDS", "OPENAPI_PUBLIC", "METRICS_PUBLIC", "METRICS_TENANT_LABELS"];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let listen_addr = source.text("LISTEN_ADDR")?.unwrap_or_else(|| "127.0.0.1:8000".to_owned());
        Ok(Self {
            listen_addr: listen_addr
                .parse()
                .map_err(|_| invalid("LISTEN_ADDR", "must be an address like 127.0.0.1:8000"))?,
            // 0 would refuse every body.
            request_body_timeout: Duration::from_secs(
                source.number::<u64>("REQUEST_BODY_TIMEOUT_SECONDS")?.unwrap_or(15).max(1),
            ),
            openapi_public: source.flag("OPENAPI_PUBLIC")?.unwrap_or(false),
            metrics_public: source.flag("METRICS_PUBLIC")?.unwrap_or(false),
            metrics_tenant_labels: source.flag("METRICS_TENANT_LABELS")?.unwrap_or(false),
        })
    }
}
