//! What the use cases report for the operator to count (flows, refreshes, circuit breakers).
//! The adapter behind it decides how: the service exports them to Prometheus.
//!
//! Every value here is a closed set, an issuer URL or a tenant; nothing a caller sends, no
//! secret, no end user and no `ref_id` can reach a label through this port.

use domain::TenantId;

/// A step in the life of an OAuth authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowEvent {
    /// An authorization URL was handed out.
    Started,
    /// The callback stored the tokens.
    Completed,
    /// The flow ended without tokens: denied, wrong issuer, failed exchange or past its TTL.
    Failed,
}

impl FlowEvent {
    pub const ALL: [Self; 3] = [Self::Started, Self::Completed, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// How one attempt to refresh a token ended (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshEvent {
    /// New tokens were stored.
    Refreshed,
    /// Another caller or replica had refreshed it already; nothing to do.
    AlreadyFresh,
    /// The grant is gone for good (`invalid_grant`); the connection is now `expired`.
    Expired,
    /// A transient failure (timeout, 5xx, 429): retried later with backoff.
    Failed,
    /// Not attempted because the issuer's circuit breaker is open.
    Skipped,
}

impl RefreshEvent {
    pub const ALL: [Self; 5] = [Self::Refreshed, Self::AlreadyFresh, Self::Expired, Self::Failed, Self::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::AlreadyFresh => "already_fresh",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// A step of registration that heals itself (issue 18 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealingStep {
    /// A refused Client ID Metadata Document client: dynamic registration from now on.
    CimdToDcr,
    /// A registered client the server forgot was forgotten, to be registered again.
    RegisteredAgain,
}

impl HealingStep {
    pub const ALL: [Self; 2] = [Self::CimdToDcr, Self::RegisteredAgain];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CimdToDcr => "cimd_to_dcr",
            Self::RegisteredAgain => "registered_again",
        }
    }
}

/// The state of the circuit breaker that guards one issuer (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// One trial call is allowed to see whether the issuer recovered.
    HalfOpen,
    /// Calls are refused without reaching the issuer.
    Open,
}

impl BreakerState {
    pub const ALL: [Self; 3] = [Self::Closed, Self::HalfOpen, Self::Open];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }

    /// The gauge value exported for this state: 0 closed, 1 half-open, 2 open.
    pub fn level(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Where the use cases report what happened. Implementations must be cheap, must not block and
/// must not fail: metrics never change the outcome of a request.
pub trait Metrics: Send + Sync + 'static {
    /// An OAuth authorization of a connection of `tenant` moved on. The tenant is a label only
    /// where the operator turned tenant labels on.
    fn oauth_flow(&self, event: FlowEvent, tenant: &TenantId);

    /// A token refresh ended (the scheduler and the credentials route both refresh).
    fn refresh(&self, event: RefreshEvent);

    /// The circuit breaker of the authorization server `issuer` is now in `state`. Report every
    /// change; reporting the same state again is harmless.
    fn circuit_breaker(&self, issuer: &str, state: BreakerState);

    /// After each scheduler round: how many tokens are due now (leased and backed-off ones
    /// included), and for how many seconds the most overdue of them has been due (0 when none
    /// is). Does nothing unless an implementation exports it.
    fn refresh_backlog(&self, _due: u64, _oldest_due_seconds: u64) {}

    /// Registration at an authorization server healed itself by `step` (which server is in the
    /// audit event and the log: custom servers name any issuer, too many for labels). Does
    /// nothing unless an implementation exports it.
    fn registration_healing(&self, _step: HealingStep) {}

    /// A webhook delivery attempt ended (one of `AttemptOutcome::NAMES`).
    fn webhook_attempt(&self, _outcome: &'static str) {}
}

/// Counts nothing: for tests and for a `Directory` built without metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn oauth_flow(&self, _event: FlowEvent, _tenant: &TenantId) {}
    fn refresh(&self, _event: RefreshEvent) {}
    fn circuit_breaker(&self, _issuer: &str, _state: BreakerState) {}
}
