//! The composition root: the only place that names every concrete adapter and wires them into
//! the use cases and the HTTP API.

use std::marker::PhantomData;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_api::{ApiMetrics, ApiState, Exposure};
use actix_web::{HttpServer, web};
use app::{Deps, Directory, Ports, Settings};
use crypto_adapter::{Keyring, OsRandom};
use domain::Timestamp;
use oauth_adapter::{
    DiscoveryAdapter, HttpConfig, OAuthAdapter, SafeHttp, SigningKeys, UpstreamAdapter, WebhookAdapter,
};
use ports::{
    AuditLog, Clock, ConnectSessionStore, ConnectionStore, EventStore, FlowStore, PoolStats, RefreshQueue,
    RegistrationStore,
};
use secrecy::SecretString;
use tokio::task::JoinHandle;

use crate::config::{Config, RunMode};
use crate::database::Database;
use crate::engine_keys::{KeysReloader, reload_on_sighup};
use crate::{catalog, dev_keys};

/// Why the service could not start: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("{0}")]
    Keys(String),
    #[error("database: {0}")]
    Database(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("outbound HTTP client: {0}")]
    Http(String),
    #[error("cannot start the {name} thread: {source}")]
    Thread { name: &'static str, source: std::io::Error },
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // One reading of the time for both, so the seconds are always the milliseconds' own.
        Timestamp::from_unix(self.now_millis() / 1000)
    }

    fn now_millis(&self) -> i64 {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        i64::try_from(millis).unwrap_or(i64::MAX)
    }
}

/// The service's ports, over the store `S` chosen by `DATABASE_URL`.
pub struct ServiceDeps<S>(PhantomData<fn() -> S>);

impl<S> std::fmt::Debug for ServiceDeps<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceDeps")
    }
}

impl<S> Deps for ServiceDeps<S>
where
    S: ConnectionStore
        + FlowStore
        + AuditLog
        + RegistrationStore
        + RefreshQueue
        + ConnectSessionStore
        + EventStore
        + Clone,
{
    type Connections = S;
    type Flows = S;
    type Audit = S;
    type OAuth = OAuthAdapter;
    type Cipher = Keyring;
    type Clock = SystemClock;
    type Ids = OsRandom;
    type Discovery = DiscoveryAdapter;
    type Registrations = S;
    type Leases = S;
    type Sessions = S;
    type Upstream = UpstreamAdapter;
    type Events = S;
    type Webhooks = WebhookAdapter;
}

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    background: Vec<JoinHandle<()>>,
    keys: KeysReloader,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Application {
    /// Resolves keys, loads the catalog, opens the database (running its migrations) and binds
    /// the listener.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let addr = config.http.listen_addr;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Listen { addr: addr.to_string(), source })?;
        Self::build_on(config, listener).await
    }

    /// Like [`Application::build`], on a listener bound already (tests bind port 0 first so the
    /// redirect URI can name the port).
    pub async fn build_on(config: Config, listener: TcpListener) -> Result<Self, StartupError> {
        let keys = KeysReloader::start(&config)?;
        let keyring = (keyring(&config)?, signing_keys(&config)?);
        let catalog = catalog::load(config.catalog.path.as_deref(), &|var| config.env.get(var))?;
        check_signing(&catalog, &keyring.1)?;
        match Database::open(&config.database).await.map_err(|e| StartupError::Database(e.to_string()))? {
            Database::Sqlite(store) => Self::assemble(config, listener, (store, None), keyring, keys, catalog),
            Database::Postgres(store) => {
                let own = crate::database::dispatcher_pool(&config.database)
                    .map_err(|e| StartupError::Database(e.to_string()))?;
                Self::assemble(config, listener, (store, Some(own)), keyring, keys, catalog)
            }
        }
    }

    fn assemble<S>(
        config: Config,
        listener: TcpListener,
        (store, dispatcher_store): (S, Option<S>),
        (keyring, signing): (Keyring, SigningKeys),
        keys: KeysReloader,
        catalog: app::Catalog,
    ) -> Result<Self, StartupError>
    where
        S: ConnectionStore
            + FlowStore
            + AuditLog
            + RegistrationStore
            + RefreshQueue
            + ConnectSessionStore
            + EventStore
            + PoolStats
            + Clone,
    {
        let metrics =
            if config.http.metrics_tenant_labels { ApiMetrics::with_tenant_labels() } else { ApiMetrics::new() };
        let metrics = Arc::new(metrics.with_pool(Arc::new(store.clone())));
        let timeout = config.oauth.outbound_timeout;
        let outbound = HttpConfig {
            allow_private_networks: config.oauth.allow_private_networks,
            connect_timeout: timeout.min(HttpConfig::default().connect_timeout),
            request_timeout: timeout,
        };
        let http = SafeHttp::new(&outbound).map_err(|e| StartupError::Http(e.to_string()))?;
        let upstream = UpstreamAdapter::new(outbound, config.proxy.first_byte_timeout, config.proxy.idle_timeout)
            .map_err(|e| StartupError::Http(e.to_string()))?;
        let webhooks = WebhookAdapter::new(&HttpConfig { request_timeout: config.events.timeout, ..outbound })
            .map_err(|e| StartupError::Http(e.to_string()))?;
        let revoke_timeout = timeout.min(oauth_adapter::DEFAULT_REVOKE_TIMEOUT);
        let ports = Ports::<ServiceDeps<S>> {
            connections: store.clone(),
            flows: store.clone(),
            audit: store.clone(),
            oauth: OAuthAdapter::new(http.clone())
                .with_revoke_timeout(revoke_timeout)
                .with_signing_keys(signing.clone()),
            cipher: keyring,
            clock: SystemClock,
            ids: OsRandom,
            discovery: DiscoveryAdapter::new(http),
            registrations: store.clone(),
            leases: store.clone(),
            sessions: store.clone(),
            upstream,
            events: store,
            webhooks,
        };
        let settings = Settings {
            redirect_base_url: config.oauth.redirect_base_url.clone(),
            return_url_allowlist: config.oauth.return_url_allowlist.clone(),
            flow_ttl_seconds: secs(config.oauth.flow_ttl),
            connect_session_ttl_seconds: secs(config.sessions.ttl),
            credential_refresh_margin_seconds: 60,
            registration_retry_seconds: secs(config.oauth.registration_retry),
            refresh: config.refresh.settings(),
            proxy: config.proxy.settings(),
            events: config.events.settings(),
        };
        let directory = Directory::with_metrics(ports, catalog, settings, metrics.clone())
            .with_identity_providers(keys.identity_providers());
        let refresher = app::Refresher::new(directory.clone());
        let scheduler = job_probe(refresher.monitor(), "refresh");
        let sweeper = app::SchedulerMonitor::new(config.refresh.interval, std::time::Instant::now());
        let flow_sweeper = job_probe(sweeper.clone(), "sweep");
        let mut background = vec![
            tokio::spawn(sweep_flows(directory.clone(), config.refresh.interval, sweeper)),
            tokio::spawn(refresher.run()),
            tokio::spawn(record_proxy_use(directory.clone())),
        ];
        // Deliveries yield the CPU to requests (crate::background).
        // On PostgreSQL its store work goes through a pool of its own, driven on its thread; on
        // SQLite (one writer thread for all) it stays on this runtime.
        let dispatcher = app::events::Dispatcher::new(directory.clone());
        let dispatcher = match dispatcher_store {
            Some(own) => dispatcher.with_events_store(own),
            None => dispatcher.with_store_runtime(tokio::runtime::Handle::current()),
        };
        background.push(
            crate::background::spawn_yielding("webhooks", move || dispatcher.run())
                .map_err(|source| StartupError::Thread { name: "webhooks", source })?,
        );
        // Without a keys file SIGHUP keeps its default action, as before tenants existed.
        if keys.has_file() {
            background.push(tokio::spawn(reload_on_sighup(keys.clone())));
        }

        let addr = listener.local_addr().map_err(|source| StartupError::Listen { addr: "?".into(), source })?;
        let port =
            listener.local_addr().map_err(|source| StartupError::Listen { addr: addr.to_string(), source })?.port();
        let exposure =
            Exposure { openapi_public: config.http.openapi_public, metrics_public: config.http.metrics_public };
        let state = web::Data::new(
            ApiState::new(directory)
                .with_jwks(signing.jwks())
                .with_metrics(metrics)
                .with_exposure(exposure)
                .with_request_body_timeout(config.http.request_body_timeout)
                .with_subsystem("scheduler", scheduler)
                .with_subsystem("flow_sweeper", flow_sweeper),
        );
        let (served, guarded) = (state.clone(), keys.keys());
        let server = HttpServer::new(move || actix_api::app(served.clone(), guarded.clone()))
            .workers(crate::config::worker_threads())
            // A client that closes its side has gone: its answer (a proxied stream above all) is
            // dropped at once, which closes the call to the MCP server, rather than written on
            // until a write fails (a resuming client would meet its old stream still open).
            .h1_allow_half_closed(false)
            // A proxied answer is written in several small pieces (head, chunks, end); with
            // Nagle's algorithm a piece after the first waits for the client's delayed ACK (some
            // 40 ms: the p99 of proxied calls at half the peak was 44 ms, 2.5 ms without it).
            .tcp_nodelay(true)
            .listen(listener)
            .map_err(|source| StartupError::Listen { addr: addr.to_string(), source })?
            .shutdown_timeout(10)
            .run();
        state.mark_ready();
        tracing::info!(%addr, port, "asset directory listening");
        Ok(Self { port, server, background, keys })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What `SIGHUP` calls: reads the keys file again (tests call it in-process).
    pub fn keys_reloader(&self) -> KeysReloader {
        self.keys.clone()
    }

    /// A handle that stops the server gracefully (tests use it to restart on the same data).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests and stops background work.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        result
    }
}

/// `error: cause: cause…`, so the operator sees why (refused, bad URL), never a password: the
/// adapters' errors do not carry the URL.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Fails pending flows that outlived their TTL, every tick, leaving a beat for `/health`.
async fn sweep_flows<D: Deps>(directory: Directory<D>, every: Duration, monitor: app::SchedulerMonitor) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        monitor.round_started(std::time::Instant::now());
        let swept = directory.sweep_expired_flows().await;
        monitor.round_ended(std::time::Instant::now(), swept.is_ok());
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(failed = n, "pending authorizations expired"),
            Err(e) => tracing::warn!(error = %e, "could not sweep expired authorizations"),
        }
    }
}

/// How often the proxy's use of connections is written (`last_used_at`): a batch per period
/// instead of a write per proxied call.
const PROXY_USE_EVERY: Duration = Duration::from_secs(5);

async fn record_proxy_use<D: Deps>(directory: Directory<D>) {
    let mut ticker = tokio::time::interval(PROXY_USE_EVERY);
    loop {
        ticker.tick().await;
        if let Err(e) = directory.flush_proxy_use().await {
            tracing::warn!(error = %e, "could not record when connections were last used");
        }
    }
}

/// The keyring of `AD_ENCRYPTION_KEY` and `AD_ENCRYPTION_KEYS_PREVIOUS` (in development, the
/// generated key of the data directory).
pub(crate) fn keyring(config: &Config) -> Result<Keyring, StartupError> {
    let s = &config.secrets;
    let current = match (&s.encryption_key, config.mode) {
        (Some(key), _) => key.clone(),
        (None, RunMode::Development) => dev_secret(config, "encryption-key", Keyring::generate_key)?,
        (None, RunMode::Production) => {
            return Err(StartupError::Keys("AD_ENV=production requires AD_ENCRYPTION_KEY".into()));
        }
    };
    Keyring::new(&current, &s.previous_keys).map_err(|e| StartupError::Keys(e.to_string()))
}

/// The signing keys of `AD_SIGNING_KEY` and `AD_SIGNING_KEYS_PREVIOUS` (in development, the
/// generated key of the data directory; in production none unless configured).
pub(crate) fn signing_keys(config: &Config) -> Result<SigningKeys, StartupError> {
    let s = &config.secrets;
    let current = match (&s.signing_key, config.mode) {
        (Some(key), _) => Some(key.clone()),
        (None, RunMode::Development) => Some(dev_secret(config, "signing-key.pem", SigningKeys::generate)?),
        (None, RunMode::Production) => None,
    };
    SigningKeys::new(current.as_ref(), &s.previous_signing_keys).map_err(|e| {
        let which = match (current.is_some(), e.position) {
            (true, 1) => "AD_SIGNING_KEY".to_owned(),
            (true, n) => format!("AD_SIGNING_KEYS_PREVIOUS, key {} of the list", n - 1),
            (false, n) => format!("AD_SIGNING_KEYS_PREVIOUS, key {n} of the list"),
        };
        StartupError::Keys(format!("{which}: not an EC P-256 private key in PKCS #8 PEM"))
    })
}

/// A catalog entry whose client signs with the service's key cannot work without one: refused at
/// start-up rather than at its first token call.
fn check_signing(catalog: &app::Catalog, keys: &SigningKeys) -> Result<(), StartupError> {
    let signs = |e: &&app::CatalogEntry| matches!(&e.spec.auth, domain::AuthSpec::OAuth(o) if o.token_endpoint_auth_method == domain::TokenEndpointAuth::PrivateKeyJwt);
    match catalog.entries().iter().find(signs) {
        Some(entry) if !keys.can_sign() => Err(StartupError::Keys(format!(
            "catalog entry {} uses private_key_jwt, which signs with the service's key: set AD_SIGNING_KEY",
            entry.spec.name
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn dev_secret(
    config: &Config,
    name: &str,
    generate: impl FnOnce() -> SecretString,
) -> Result<SecretString, StartupError> {
    let secret = dev_keys::load_or_create(&config.secrets.data_dir, name, generate)
        .map_err(|e| StartupError::Keys(format!("{}: {e}", config.secrets.data_dir.join(name).display())))?;
    if secret.created {
        tracing::warn!(path = %secret.path.display(), "generated a development {name}; keep this file private");
    } else {
        tracing::info!(path = %secret.path.display(), "using the development {name}");
    }
    Ok(secret.value)
}

/// `/health`'s view of a periodic background job (`what` names its rounds). The details are
/// fixed words: the logs have the causes.
fn job_probe(monitor: app::SchedulerMonitor, what: &'static str) -> actix_api::HealthProbe {
    use actix_api::{SubsystemHealth, SubsystemStatus};
    use app::SchedulerHealth;
    Arc::new(move || match monitor.health(std::time::Instant::now()) {
        SchedulerHealth::Ok => SubsystemHealth::new(SubsystemStatus::Ok, None),
        SchedulerHealth::Starting => {
            SubsystemHealth::new(SubsystemStatus::Ok, Some(format!("the first {what} round is running")))
        }
        SchedulerHealth::Failing => SubsystemHealth::new(
            SubsystemStatus::Degraded,
            Some(format!("the last {what} round failed (the database?); see the logs")),
        ),
        SchedulerHealth::Late { seconds, running: true } => SubsystemHealth::new(
            SubsystemStatus::Degraded,
            Some(format!("a {what} round has been running for {seconds} s")),
        ),
        SchedulerHealth::Late { seconds, running: false } => {
            SubsystemHealth::new(SubsystemStatus::Degraded, Some(format!("no {what} round has ended for {seconds} s")))
        }
    })
}
