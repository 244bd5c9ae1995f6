//! The ports of the Asset Directory: every trait the use cases need from the outside world,
//! with the error enums adapters translate their infrastructure failures into.
//!
//! Architecture invariant: this crate names no adapter technology (no SQL, HTTP client or
//! cipher crate). An adapter implements these traits; the app layer only ever sees them.
//! With the `mocks` feature every trait gets a `mockall` mock for the app layer's unit tests.

mod audit;
mod cipher;
mod clock;
mod discovery;
mod events;
mod metrics;
mod oauth;
mod page;
mod pool;
mod refresh;
mod registration;
mod rekey;
mod session;
mod store;
mod upstream;

pub use audit::{AuditEvent, AuditKind, AuditLog};
pub use cipher::{Cipher, CipherError, Sealed};
pub use clock::{Clock, IdSource};
pub use discovery::{
    AuthServerMetadata, AuthorizationDiscovery, DiscoveryError, DiscoveryErrorKind, DiscoveryStep, ProtectedResource,
    RegisteredClient, RegistrationRequest, ResourceAccess,
};
pub use events::{
    AttemptOutcome, Attempted, Delivery, DeliveryState, DueDelivery, EventQuery, EventStore, FeedPosition,
    LifecycleEvent, Notice, SecretRotation, SendError, Webhook, WebhookMessage, WebhookSender, WebhookUpdate,
};
pub use metrics::{BreakerState, FlowEvent, HealingStep, Metrics, NoMetrics, RefreshEvent};
pub use oauth::{
    AuthorizationRequest, ClientCredentials, ClientKey, OAuthClient, OAuthError, TokenEndpoint, TokenHint, TokenSet,
};
pub use page::{ConnectionPosition, ConnectionQuery, StatusCounts, UserQuery, UserSummary};
pub use pool::{PoolStats, PoolStatus};
pub use refresh::{DueStats, DueWindow, Lease, RefreshQueue, RetryState};
pub use registration::{
    BoundIdentityProvider, ClientRegistration, DiscoveredAuthorization, OwnClient, RegistrationStore,
};
pub use rekey::{RekeyStore, SealedEntry, SealedField};
pub use session::ConnectSessionStore;
pub use store::{ConnectionStore, FlowStore, PendingFlow, SecretsUpdate, StoreError, StoredSecrets};
pub use upstream::{McpUpstream, UpstreamBody, UpstreamError, UpstreamMethod, UpstreamRequest, UpstreamResponse};

/// A boxed error from an adapter's infrastructure, kept as the `source` of a port error so the
/// full chain can be logged for 5xx answers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[cfg(feature = "mocks")]
pub mod mocks {
    //! `mockall` mocks of every port.
    pub use crate::audit::MockAuditLog;
    pub use crate::cipher::MockCipher;
    pub use crate::clock::{MockClock, MockIdSource};
    pub use crate::discovery::MockAuthorizationDiscovery;
    pub use crate::events::{MockEventStore, MockWebhookSender};
    pub use crate::oauth::MockOAuthClient;
    pub use crate::refresh::MockRefreshQueue;
    pub use crate::registration::MockRegistrationStore;
    pub use crate::session::MockConnectSessionStore;
    pub use crate::store::{MockConnectionStore, MockFlowStore};
    pub use crate::upstream::MockMcpUpstream;
}
