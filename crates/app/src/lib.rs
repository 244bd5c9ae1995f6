//! The use cases of the Asset Directory: list the catalog, connect (OAuth, API key or no auth),
//! complete the OAuth callback, hand out credentials, and disconnect with revocation.
//!
//! Architecture invariant: this crate is generic over the ports (`Deps`) and never names an
//! adapter. It does no I/O of its own; everything outside goes through a port.

mod catalog;
mod error;
pub mod events;
mod flow;
mod lifecycle;
mod redirect;
pub mod reencrypt;
mod refusal;
mod use_cases;

pub use catalog::{Availability, Catalog, CatalogEntry};
pub use error::Error;
pub use lifecycle::{Reauthorization, RefreshSettings, Refresher, RoundReport, SchedulerHealth, SchedulerMonitor};
pub use redirect::{is_issuer_key, issuer_key};
pub use use_cases::callback::{CallbackFailure, CallbackInput, CallbackOutcome};
pub use use_cases::credentials::{Credential, RefreshOutcome};
pub use use_cases::disconnect::Forgotten;
pub use use_cases::flow_parts::{ConnectOutcome, ConnectRequest, CustomServer};
pub use use_cases::identity::ClientMetadata;
pub use use_cases::identity_assertion::{IdentityAssertionParts, IdentityProvider, IdentityProviders};
pub use use_cases::own_client::GivenClientParts;
pub use use_cases::proxy::{Proxied, ProxyFailure, ProxyRequest, ProxyTarget};
pub use use_cases::proxy_token::{PROXY_TOKEN_PREFIX, ProxyToken};
pub use use_cases::sessions::{MAX_ALLOWED_SERVERS, OpenedSession, SessionRequest};

pub use use_cases::listing::ConnectionPage;

use std::sync::Arc;

use ports::{
    AuditLog, AuthorizationDiscovery, Cipher, Clock, ConnectSessionStore, ConnectionStore, EventStore, FlowStore,
    IdSource, McpUpstream, Metrics, NoMetrics, OAuthClient, RefreshQueue, RegistrationStore, WebhookSender,
};

/// The concrete port implementations a [`Directory`] runs on, chosen by the composition root.
pub trait Deps: Send + Sync + 'static {
    type Connections: ConnectionStore;
    type Flows: FlowStore;
    type Audit: AuditLog;
    type OAuth: OAuthClient;
    type Cipher: Cipher;
    type Clock: Clock;
    type Ids: IdSource;
    type Discovery: AuthorizationDiscovery;
    type Registrations: RegistrationStore;
    type Leases: RefreshQueue;
    type Sessions: ConnectSessionStore;
    type Upstream: McpUpstream;
    type Events: EventStore;
    type Webhooks: WebhookSender;
}

/// Settings the use cases need (the server builds them from its configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public base URL; OAuth redirect URIs and client metadata documents live under it
    /// (`redirect.rs`).
    pub redirect_base_url: String,
    /// URL prefixes a `return_to` may start with.
    pub return_url_allowlist: Vec<String>,
    /// Life of a pending authorization, in seconds.
    pub flow_ttl_seconds: i64,
    /// Life of a connect session, in seconds (`CONNECT_SESSION_TTL_SECONDS`).
    pub connect_session_ttl_seconds: i64,
    /// Credentials refresh a token that expires within this many seconds before handing it out.
    pub credential_refresh_margin_seconds: i64,
    /// The background refresh, its leases, backoff and circuit breakers (spec §7).
    pub refresh: RefreshSettings,
    /// At most one registration fallback per issuer within this many seconds
    /// (`REGISTRATION_RETRY_SECONDS`, see `use_cases::healing`).
    pub registration_retry_seconds: i64,
    /// The MCP proxy (issue 16): see [`ProxySettings`].
    pub proxy: ProxySettings,
    /// Lifecycle events and their webhooks (issue 17).
    pub events: events::EventSettings,
}

/// The MCP proxy's settings.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Life of a proxy token, in seconds (`PROXY_TOKEN_TTL_SECONDS`).
    pub token_ttl_seconds: i64,
    /// Whether a connect that does not say is exportable (`CREDENTIALS_EXPORTABLE`).
    pub exportable_by_default: bool,
    /// Scope challenges in a row a connection may meet with a reauthorization offered
    /// (`STEP_UP_MAX_ATTEMPTS`).
    pub step_up_max_attempts: u32,
    /// How long this replica's proxy reuses a credential it opened, at most
    /// (`PROXY_CREDENTIAL_CACHE_MS`; zero reads the store on every call): see
    /// `use_cases::credential_cache`.
    pub credential_cache: std::time::Duration,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            token_ttl_seconds: 900,
            exportable_by_default: true,
            step_up_max_attempts: 2,
            credential_cache: std::time::Duration::from_secs(1),
        }
    }
}

/// The ports, bundled by value.
#[derive(Debug)]
pub struct Ports<D: Deps> {
    pub connections: D::Connections,
    pub flows: D::Flows,
    pub audit: D::Audit,
    pub oauth: D::OAuth,
    pub cipher: D::Cipher,
    pub clock: D::Clock,
    pub ids: D::Ids,
    pub discovery: D::Discovery,
    pub registrations: D::Registrations,
    pub leases: D::Leases,
    pub sessions: D::Sessions,
    pub upstream: D::Upstream,
    pub events: D::Events,
    pub webhooks: D::Webhooks,
}

/// The Asset Directory's use cases. Cheap to clone; every clone shares the same ports.
pub struct Directory<D: Deps> {
    inner: Arc<Inner<D>>,
}

struct Inner<D: Deps> {
    ports: Ports<D>,
    catalog: Catalog,
    settings: Settings,
    refresh_locks: use_cases::credentials::RefreshLocks,
    lifecycle: lifecycle::Lifecycle,
    listing: use_cases::listing::SharedListing,
    healing: use_cases::healing::Healing,
    metrics: Arc<dyn Metrics>,
    identity_providers: Arc<IdentityProviders>,
    proxy: use_cases::proxy::ProxyState,
    credential_cache: use_cases::credential_cache::CredentialCache,
}

impl<D: Deps> Clone for Directory<D> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<D: Deps> std::fmt::Debug for Directory<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("servers", &self.inner.catalog.entries().len()).finish_non_exhaustive()
    }
}

impl<D: Deps> Directory<D> {
    pub fn new(ports: Ports<D>, catalog: Catalog, settings: Settings) -> Self {
        Self::with_metrics(ports, catalog, settings, Arc::new(NoMetrics))
    }

    /// Like [`Directory::new`], reporting OAuth flows, refreshes and circuit breakers to `metrics`.
    pub fn with_metrics(ports: Ports<D>, catalog: Catalog, settings: Settings, metrics: Arc<dyn Metrics>) -> Self {
        let lifecycle = lifecycle::Lifecycle::new(&settings.refresh);
        let credential_cache = use_cases::credential_cache::CredentialCache::new(settings.proxy.credential_cache);
        Self {
            inner: Arc::new(Inner {
                ports,
                catalog,
                settings,
                refresh_locks: Default::default(),
                lifecycle,
                listing: Default::default(),
                healing: Default::default(),
                metrics,
                identity_providers: Default::default(),
                proxy: Default::default(),
                credential_cache,
            }),
        }
    }

    /// Takes identity assertions of each tenant's users to `providers` when a connect names no
    /// identity provider of its own (whoever holds `providers` may replace them at any time).
    ///
    /// # Panics
    /// When called on a directory that has been cloned already (it is part of building one).
    #[must_use]
    pub fn with_identity_providers(mut self, providers: Arc<IdentityProviders>) -> Self {
        Arc::get_mut(&mut self.inner).expect("set while the directory is built").identity_providers = providers;
        self
    }

    pub(crate) fn identity_providers(&self) -> &IdentityProviders {
        &self.inner.identity_providers
    }

    /// Where the use cases report what happened, for the operator to count.
    pub fn metrics(&self) -> &dyn Metrics {
        &*self.inner.metrics
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn ports(&self) -> &Ports<D> {
        &self.inner.ports
    }

    /// This replica's name on the leases it takes (refreshes, webhook deliveries).
    pub(crate) fn replica(&self) -> &str {
        self.inner.lifecycle.owner()
    }

    pub(crate) fn healing(&self) -> &use_cases::healing::Healing {
        &self.inner.healing
    }

    /// Runs `work` on its own task to its end, even when the caller's future is dropped (a
    /// client that hangs up drops its request's): what a provider has done (a refresh token
    /// rotated, a code redeemed) is stored, never lost halfway.
    pub(crate) async fn to_completion<R, F>(&self, work: impl FnOnce(Self) -> F) -> R
    where
        F: Future<Output = R> + Send + 'static,
        R: Send + 'static,
    {
        match tokio::spawn(work(self.clone())).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down, and this caller with it.
            Err(_) => std::future::pending().await,
        }
    }

    /// Whether the database answers.
    pub async fn check_database(&self) -> Result<(), Error> {
        Ok(self.ports().connections.ping().await?)
    }
}

#[cfg(test)]
mod test_support;
