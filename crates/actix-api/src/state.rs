//! What every handler shares: the use cases, the metrics, and what `/health` reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use app::{Deps, Directory};

use crate::metrics::ApiMetrics;
use crate::routes::health::{HealthProbe, SubsystemHealth, SubsystemStatus};

/// Which operator endpoints answer without `X-Engine-Key` (`OPENAPI_PUBLIC`, `METRICS_PUBLIC`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    pub openapi_public: bool,
    pub metrics_public: bool,
}

/// How long a request's body may take to arrive unless configured: a slow mobile link sends
/// 64 KiB in well under that.
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(15);

/// What every handler shares.
pub struct ApiState<D: Deps> {
    pub directory: Directory<D>,
    pub started: Instant,
    pub metrics: Arc<ApiMetrics>,
    pub exposure: Exposure,
    /// How long a request's body may take to arrive (`REQUEST_BODY_TIMEOUT_SECONDS`).
    pub request_body_timeout: Duration,
    ready: AtomicBool,
    subsystems: Vec<(&'static str, HealthProbe)>,
    pub(crate) listing_body: crate::routes::connections::ListingBody,
    /// The public JWK Set of the service's signing keys (`GET /oauth/jwks.json`).
    pub(crate) jwks: serde_json::Value,
}

impl<D: Deps> std::fmt::Debug for ApiState<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("directory", &self.directory)
            .field("exposure", &self.exposure)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl<D: Deps> ApiState<D> {
    /// Not ready until [`ApiState::mark_ready`]; the scheduler reports `not_running` until a
    /// probe for it is added.
    pub fn new(directory: Directory<D>) -> Self {
        let not_running: HealthProbe = Arc::new(|| {
            SubsystemHealth::new(SubsystemStatus::NotRunning, Some("the refresh scheduler is not started".into()))
        });
        Self {
            directory,
            started: Instant::now(),
            metrics: Arc::new(ApiMetrics::new()),
            exposure: Exposure::default(),
            request_body_timeout: DEFAULT_REQUEST_BODY_TIMEOUT,
            ready: AtomicBool::new(false),
            subsystems: vec![("scheduler", not_running)],
            listing_body: Default::default(),
            jwks: serde_json::json!({"keys": []}),
        }
    }

    /// Publishes `jwks`, the public halves of the service's signing keys, at `/oauth/jwks.json`.
    #[must_use]
    pub fn with_jwks(mut self, jwks: serde_json::Value) -> Self {
        self.jwks = jwks;
        self
    }

    /// Exports `metrics` at `/metrics` (give the same instance to `Directory::with_metrics`).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<ApiMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    #[must_use]
    pub fn with_exposure(mut self, exposure: Exposure) -> Self {
        self.exposure = exposure;
        self
    }

    #[must_use]
    pub fn with_request_body_timeout(mut self, timeout: Duration) -> Self {
        self.request_body_timeout = timeout;
        self
    }

    /// Reports subsystem `name` in `/health` (replacing an earlier probe of that name). A
    /// subsystem that is `degraded` or `unavailable` makes the service `degraded`, still `200`;
    /// only the database makes it `503`.
    #[must_use]
    pub fn with_subsystem(mut self, name: &'static str, probe: HealthProbe) -> Self {
        self.subsystems.retain(|(n, _)| *n != name);
        self.subsystems.push((name, probe));
        self
    }

    /// Start-up has finished: `/health/ready` may answer `200` (when the database answers).
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn subsystems(&self) -> impl Iterator<Item = (&'static str, &HealthProbe)> {
        self.subsystems.iter().map(|(name, probe)| (*name, probe))
    }
}
