//! Shared fixtures for the app layer's unit tests: catalog specs and a `Deps` of mocks.

use std::collections::BTreeMap;

use domain::{
    ApiKeySpec, AuthMethod, AuthSpec, Connection, ConnectionStatus, NewConnection, OAuthSpec, RefId, Scopes,
    ServerName, ServerSpec, Timestamp, TokenEndpointAuth, Transport,
};
use ports::mocks::{
    MockAuditLog, MockAuthorizationDiscovery, MockCipher, MockClock, MockConnectSessionStore, MockConnectionStore,
    MockFlowStore, MockIdSource, MockOAuthClient, MockRefreshQueue, MockRegistrationStore,
};
use ports::{CipherError, Sealed, StoredSecrets, TokenSet};
use secrecy::{ExposeSecret, SecretString};

use crate::{Catalog, CatalogEntry, Deps, Directory, Ports, Settings};

pub(crate) const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

/// The owner of the unit tests' calls and connections: tenant `default`, user `default`.
pub(crate) fn owner() -> domain::Owner {
    domain::Owner::default_owner()
}

pub(crate) fn api_key_spec(name: &str) -> ServerSpec {
    ServerSpec {
        name: ServerName::parse(name).unwrap(),
        display_name: name.to_uppercase(),
        transport: Transport::StreamableHttp,
        url: Some(format!("https://{name}.example/mcp")),
        description: None,
        auth: AuthSpec::ApiKey(ApiKeySpec { header: "X-Api-Key".into(), scheme: None }),
        exportable: true,
    }
}

pub(crate) fn oauth_spec(name: &str, issuer: &str) -> ServerSpec {
    ServerSpec {
        name: ServerName::parse(name).unwrap(),
        display_name: name.to_uppercase(),
        transport: Transport::StreamableHttp,
        url: Some(format!("https://{name}.example/mcp")),
        description: None,
        auth: AuthSpec::OAuth(OAuthSpec {
            discovery: false,
            issuer: Some(issuer.into()),
            authorization_endpoint: Some(format!("{issuer}/authorize")),
            token_endpoint: Some(format!("{issuer}/token")),
            revocation_endpoint: Some(format!("{issuer}/revoke")),
            client_id: Some("client-1".into()),
            client_secret_env: Some(format!("{}_CLIENT_SECRET", name.to_uppercase())),
            token_endpoint_auth_method: TokenEndpointAuth::ClientSecretBasic,
            scopes: Scopes::parse_delimited("read").unwrap(),
            extra_authorize_params: BTreeMap::new(),
            send_resource: true,
            registration: domain::RegistrationMode::Auto,
            grant: domain::OAuthGrant::AuthorizationCode,
        }),
        exportable: true,
    }
}

pub(crate) struct MockDeps;

impl Deps for MockDeps {
    type Connections = MockConnectionStore;
    type Flows = MockFlowStore;
    type Audit = MockAuditLog;
    type OAuth = MockOAuthClient;
    type Cipher = MockCipher;
    type Clock = MockClock;
    type Ids = MockIdSource;
    type Discovery = MockAuthorizationDiscovery;
    type Registrations = MockRegistrationStore;
    type Leases = MockRefreshQueue;
    type Sessions = MockConnectSessionStore;
    type Upstream = ports::mocks::MockMcpUpstream;
    type Events = ports::mocks::MockEventStore;
    type Webhooks = ports::mocks::MockWebhookSender;
}

/// Mocks with harmless defaults for the clock, ids, cipher and audit log; the test sets up the
/// store and OAuth client expectations it cares about.
pub(crate) struct Mocks {
    pub connections: MockConnectionStore,
    pub flows: MockFlowStore,
    pub oauth: MockOAuthClient,
    pub audit: MockAuditLog,
    pub discovery: MockAuthorizationDiscovery,
    pub registrations: MockRegistrationStore,
    /// Grants every lease and accepts every release unless a test replaces it.
    pub leases: MockRefreshQueue,
    /// Sweeps nothing unless a test replaces it.
    pub sessions: MockConnectSessionStore,
    pub upstream: ports::mocks::MockMcpUpstream,
    pub events: ports::mocks::MockEventStore,
    pub webhooks: ports::mocks::MockWebhookSender,
    /// The events' settings (defaults unless a test changes them).
    pub event_settings: crate::events::EventSettings,
    /// The proxy's settings (defaults unless a test changes them).
    pub proxy_settings: crate::ProxySettings,
}

impl Mocks {
    pub(crate) fn new() -> Self {
        let mut audit = MockAuditLog::new();
        audit.expect_record().returning(|_| Ok(()));
        Self {
            connections: MockConnectionStore::new(),
            flows: MockFlowStore::new(),
            oauth: MockOAuthClient::new(),
            audit,
            discovery: MockAuthorizationDiscovery::new(),
            registrations: MockRegistrationStore::new(),
            leases: granting_leases(),
            sessions: sweeping_no_sessions(),
            upstream: ports::mocks::MockMcpUpstream::new(),
            events: ports::mocks::MockEventStore::new(),
            webhooks: ports::mocks::MockWebhookSender::new(),
            event_settings: Default::default(),
            proxy_settings: Default::default(),
        }
    }

    pub(crate) fn directory(self) -> Directory<MockDeps> {
        self.directory_with_metrics(std::sync::Arc::new(ports::NoMetrics))
    }

    pub(crate) fn directory_with_metrics(self, metrics: std::sync::Arc<dyn ports::Metrics>) -> Directory<MockDeps> {
        let now = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(NOW.unix()));
        self.directory_at(metrics, now, crate::RefreshSettings::default())
    }

    /// A directory whose clock reads `now` (seconds), so a test can move time, with `refresh`.
    pub(crate) fn directory_at(
        self,
        metrics: std::sync::Arc<dyn ports::Metrics>,
        now: std::sync::Arc<std::sync::atomic::AtomicI64>,
        refresh: crate::RefreshSettings,
    ) -> Directory<MockDeps> {
        let mut clock = MockClock::new();
        let seconds = std::sync::Arc::clone(&now);
        clock.expect_now().returning(move || Timestamp::from_unix(seconds.load(std::sync::atomic::Ordering::SeqCst)));
        clock.expect_now_millis().returning(move || now.load(std::sync::atomic::Ordering::SeqCst) * 1000);
        let mut ids = MockIdSource::new();
        ids.expect_ref_id().returning(|| RefId::from_random([1; 16]));
        ids.expect_secret_token().returning(|| SecretString::from("token-0123456789abcdefghijklmnopqrstuvwxyzAB"));
        let event_ids = std::sync::atomic::AtomicU8::new(0);
        ids.expect_event_id().returning(move || {
            domain::EventId::from_random([event_ids.fetch_add(1, std::sync::atomic::Ordering::SeqCst); 16])
        });
        ids.expect_webhook_id().returning(|| domain::WebhookId::from_random([9; 16]));
        ids.expect_signing_secret().returning(|| SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        let catalog = Catalog::new(vec![
            CatalogEntry::resolve(api_key_spec("exa"), |_| None),
            CatalogEntry::resolve(oauth_spec("acme", "https://as.example"), |_| Some("client-secret".into())),
        ]);
        let settings = Settings {
            redirect_base_url: "http://127.0.0.1:8000".into(),
            return_url_allowlist: vec!["https://app.example".into()],
            flow_ttl_seconds: 600,
            connect_session_ttl_seconds: 600,
            credential_refresh_margin_seconds: 60,
            refresh,
            registration_retry_seconds: 3_600,
            proxy: self.proxy_settings,
            events: self.event_settings,
        };
        let ports = Ports::<MockDeps> {
            connections: self.connections,
            flows: self.flows,
            audit: self.audit,
            oauth: self.oauth,
            cipher: fake_cipher(),
            clock,
            ids,
            discovery: self.discovery,
            registrations: self.registrations,
            leases: self.leases,
            sessions: self.sessions,
            upstream: self.upstream,
            events: self.events,
            webhooks: self.webhooks,
        };
        Directory::with_metrics(ports, catalog, settings, metrics)
    }
}

/// A session store in which the sweep finds nothing expired.
pub(crate) fn sweeping_no_sessions() -> MockConnectSessionStore {
    let mut sessions = MockConnectSessionStore::new();
    sessions.expect_delete_expired_sessions().returning(|_| Ok(0));
    sessions.expect_delete_sessions_of().returning(|_| Ok(0));
    sessions
}

/// A refresh queue that grants every lease (with no failures behind it) and accepts every release.
pub(crate) fn granting_leases() -> MockRefreshQueue {
    let mut leases = MockRefreshQueue::new();
    leases
        .expect_try_lease()
        .returning(|ref_id, _, _, _| Ok(Some(ports::Lease { ref_id: ref_id.clone(), failures: 0 })));
    leases.expect_release().returning(|_, _, _| Ok(true));
    leases
}

/// Remembers every flow and refresh event reported, in order.
#[derive(Default)]
pub(crate) struct RecordedMetrics {
    pub flows: std::sync::Mutex<Vec<ports::FlowEvent>>,
    pub refreshes: std::sync::Mutex<Vec<ports::RefreshEvent>>,
    pub breakers: std::sync::Mutex<Vec<(String, ports::BreakerState)>>,
    /// `(due, oldest_due_seconds)` of every backlog report.
    pub backlog: std::sync::Mutex<Vec<(u64, u64)>>,
}

impl ports::Metrics for RecordedMetrics {
    fn oauth_flow(&self, event: ports::FlowEvent, _tenant: &domain::TenantId) {
        self.flows.lock().unwrap().push(event);
    }
    fn refresh(&self, event: ports::RefreshEvent) {
        self.refreshes.lock().unwrap().push(event);
    }
    fn circuit_breaker(&self, issuer: &str, state: ports::BreakerState) {
        self.breakers.lock().unwrap().push((issuer.to_owned(), state));
    }
    fn refresh_backlog(&self, due: u64, oldest_due_seconds: u64) {
        self.backlog.lock().unwrap().push((due, oldest_due_seconds));
    }
}

/// A transparent "cipher" that tags plaintext with its associated data, so tests can see what
/// was sealed where, and opening with the wrong associated data fails as the real one does.
pub(crate) fn fake_cipher() -> MockCipher {
    let mut cipher = MockCipher::new();
    cipher.expect_seal().returning(|p, aad| Sealed(format!("{aad}|{}", p.expose_secret()).into_bytes()));
    cipher.expect_open().returning(|sealed, aad| {
        let text = String::from_utf8(sealed.0.clone()).map_err(|_| CipherError::Corrupt)?;
        let (bound, plain) = text.split_once('|').ok_or(CipherError::Corrupt)?;
        if bound == aad { Ok(SecretString::from(plain.to_owned())) } else { Err(CipherError::Corrupt) }
    });
    cipher.expect_is_current().return_const(true);
    cipher
}

/// The metadata of an authorization server at `issuer` with the usual endpoints under it, no
/// registration endpoint, `S256`, and `iss` as `promises_iss` says.
pub(crate) fn server_metadata(issuer: &str, promises_iss: bool) -> ports::AuthServerMetadata {
    ports::AuthServerMetadata {
        issuer: issuer.into(),
        authorization_endpoint: Some(format!("{issuer}/authorize")),
        token_endpoint: format!("{issuer}/token"),
        revocation_endpoint: None,
        registration_endpoint: None,
        scopes_supported: None,
        code_challenge_methods_supported: vec!["S256".into()],
        token_endpoint_auth_methods_supported: None,
        iss_parameter_supported: promises_iss,
        client_id_metadata_document_supported: false,
        default_endpoints: false,
        grant_types_supported: None,
        response_types_supported: None,
    }
}

/// A public client dynamically registered at `issuer` as `client_id`, for flows that come back
/// at `redirect_uri`.
pub(crate) fn public_registration(issuer: &str, client_id: &str, redirect_uri: String) -> ports::ClientRegistration {
    ports::ClientRegistration {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: None,
        auth: TokenEndpointAuth::None,
        redirect_uri,
        secret_expires_at: None,
        created_at: NOW,
    }
}

/// An empty body stream, without a stream library.
pub(crate) fn empty_body() -> impl futures_core::Stream<Item = Result<bytes::Bytes, ports::UpstreamError>> + Send {
    struct Empty;
    impl futures_core::Stream for Empty {
        type Item = Result<bytes::Bytes, ports::UpstreamError>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(None)
        }
    }
    Empty
}

/// A connection's id made of `n`.
pub(crate) fn ref_id(n: u8) -> RefId {
    RefId::from_random([n; 16])
}

/// A connected `acme` connection (a static catalog entry whose token endpoint is
/// `https://as.example/token`) expiring in `expires_in` seconds.
pub(crate) fn connection(ref_id: &RefId, status: ConnectionStatus, expires_in: i64) -> Connection {
    let new = acme_oauth(ref_id);
    Connection::restore(new, status, None, Scopes::empty(), Some(NOW.plus_seconds(expires_in)), NOW, NOW)
}

/// Secrets as the fake cipher seals them.
pub(crate) fn secrets(ref_id: &RefId, refresh: &str) -> StoredSecrets {
    StoredSecrets {
        api_key: None,
        access_token: Some(Sealed(format!("connections/{ref_id}/access_token|at").into_bytes())),
        refresh_token: Some(Sealed(format!("connections/{ref_id}/refresh_token|{refresh}").into_bytes())),
    }
}

pub(crate) fn tokens(expires_in: u64) -> TokenSet {
    TokenSet {
        access_token: SecretString::from("at-new"),
        refresh_token: Some(SecretString::from("rt-new")),
        expires_in: Some(expires_in),
        scopes: None,
        account: None,
    }
}

/// A new OAuth connection `ref_id` of [`owner`] to the `acme` catalog entry.
pub(crate) fn acme_oauth(ref_id: &RefId) -> NewConnection {
    NewConnection {
        ref_id: ref_id.clone(),
        owner: owner(),
        server_name: ServerName::parse("acme").unwrap(),
        label: None,
        display_name: None,
        url: Some("https://acme.example/mcp".into()),
        transport: Transport::StreamableHttp,
        auth_method: AuthMethod::OAuth,
        exportable: true,
    }
}
