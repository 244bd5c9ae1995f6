//! The real `actix_api::app` over mocked ports: a database that answers (or not) and holds no
//! connections.

use std::sync::Arc;

use actix_api::{ApiMetrics, ApiState, EngineKeys, Exposure};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::test as actix_test;
use actix_web::{App, web};
use app::{Catalog, CatalogEntry, Deps, Directory, Ports, Settings};
use domain::{AuthSpec, ServerName, ServerSpec, Timestamp, Transport};
use ports::StoreError;
use ports::mocks::{
    MockAuditLog, MockAuthorizationDiscovery, MockCipher, MockClock, MockConnectSessionStore, MockConnectionStore,
    MockFlowStore, MockIdSource, MockOAuthClient, MockRefreshQueue, MockRegistrationStore,
};
use serde_json::Value;

pub const KEY: &str = "engine-key-for-actix-tests";
/// A well-formed ref id no store holds.
pub const UNKNOWN_REF_ID: &str = "conn-aaaaaaaaaaaaaaaaaaaaaaaaaa";

pub struct MockDeps;

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

/// A directory whose database answers `ping` as `database_up` says and is otherwise empty.
pub fn directory(database_up: bool, metrics: Arc<ApiMetrics>) -> Directory<MockDeps> {
    let mut connections = MockConnectionStore::new();
    connections.expect_ping().returning(move || {
        if database_up { Ok(()) } else { Err(StoreError::Unavailable("connection refused".into())) }
    });
    connections.expect_list().returning(|_| Ok(Vec::new()));
    connections.expect_list_page().returning(|_, _| Ok(Vec::new()));
    connections.expect_users().returning(|_| Ok(Vec::new()));
    connections.expect_get().returning(|_, _| Ok(None));
    connections.expect_secrets().returning(|_, _| Ok(None));
    connections.expect_get_with_secrets().returning(|_, _| Ok(None));
    connections.expect_delete().returning(|_, _, _| Ok(None));
    connections.expect_insert().returning(|_, _, _, _| Ok(()));
    let mut flows = MockFlowStore::new();
    flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(None));
    flows.expect_delete_flows_of().returning(|_| Ok(0));
    let mut audit = MockAuditLog::new();
    audit.expect_record().returning(|_| Ok(()));
    audit.expect_events().returning(|_, _| Ok(Vec::new()));
    // No webhook endpoint and no event, for every tenant.
    let mut events = ports::mocks::MockEventStore::new();
    events.expect_events_after().returning(|_| Ok(Vec::new()));
    events.expect_webhooks().returning(|_| Ok(Vec::new()));
    events.expect_webhook().returning(|_, _| Ok(None));
    events.expect_delete_webhook().returning(|_, _| Ok(false));
    events.expect_retry_delivery().returning(|_, _, _, _| Ok(false));
    let mut clock = MockClock::new();
    clock.expect_now().return_const(Timestamp::from_unix(1_800_000_000));
    clock.expect_now_millis().return_const(1_800_000_000_000_i64);
    let mut ids = MockIdSource::new();
    ids.expect_ref_id().returning(|| domain::RefId::from_random([7; 16]));
    ids.expect_event_id().returning(|| domain::EventId::from_random([8; 16]));
    let ports = Ports::<MockDeps> {
        connections,
        flows,
        audit,
        oauth: MockOAuthClient::new(),
        cipher: MockCipher::new(),
        clock,
        ids,
        discovery: MockAuthorizationDiscovery::new(),
        registrations: MockRegistrationStore::new(),
        leases: MockRefreshQueue::new(),
        sessions: MockConnectSessionStore::new(),
        upstream: ports::mocks::MockMcpUpstream::new(),
        events,
        webhooks: ports::mocks::MockWebhookSender::new(),
    };
    let open = ServerSpec {
        name: ServerName::parse("open").unwrap(),
        display_name: "Open".into(),
        transport: Transport::StreamableHttp,
        url: Some("https://open.example/mcp".into()),
        description: None,
        auth: AuthSpec::None,
        exportable: true,
    };
    let settings = Settings {
        // https, so the client metadata document is offered (and routed) like every other endpoint.
        redirect_base_url: "https://directory.example".into(),
        return_url_allowlist: Vec::new(),
        flow_ttl_seconds: 600,
        connect_session_ttl_seconds: 600,
        credential_refresh_margin_seconds: 60,
        refresh: app::RefreshSettings::default(),
        registration_retry_seconds: 3_600,
        proxy: Default::default(),
        events: Default::default(),
    };
    Directory::with_metrics(ports, Catalog::new(vec![CatalogEntry::resolve(open, |_| None)]), settings, metrics)
}

/// How to build the app under test.
#[derive(Clone, Copy)]
pub struct Setup {
    pub database_up: bool,
    pub ready: bool,
    pub exposure: Exposure,
}

impl Default for Setup {
    fn default() -> Self {
        Self { database_up: true, ready: true, exposure: Exposure::default() }
    }
}

impl Setup {
    pub fn state(&self) -> ApiState<MockDeps> {
        let metrics = Arc::new(ApiMetrics::new());
        let state = ApiState::new(directory(self.database_up, metrics.clone()))
            .with_metrics(metrics)
            .with_exposure(self.exposure);
        if self.ready {
            state.mark_ready();
        }
        state
    }
}

pub fn app(
    state: ApiState<MockDeps>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let keys = web::Data::new(EngineKeys::new(EngineKeys::digest(KEY), None));
    actix_api::app(web::Data::new(state), keys)
}

/// An answer's status, headers and body (JSON when it parses, else a string).
pub struct Answer {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Sends `request` (a `TestRequest::to_request()`) to `app`.
pub async fn send<S, R, B>(app: &S, request: R) -> Answer
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = actix_test::call_service(app, request).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = actix_test::read_body(response).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

pub fn get(path: &str) -> actix_test::TestRequest {
    actix_test::TestRequest::get().uri(path).insert_header(("X-Engine-Key", KEY))
}
