//! Values the cases store: connections in every shape, sealed secrets, flows, audit events, the
//! lifecycle events they announce and webhook endpoints.
//!
//! Every value is built from a small number `n`, so a case can make many distinct ones and
//! compare what the store returns with what it was given.

use domain::{
    Account, AuthMethod, Connection, ConnectionStatus, EventId, EventType, Label, NewConnection, Owner, ReasonCode,
    RefId, Scopes, ServerName, Standing, TenantId, Timestamp, Transport, UserId, WebhookId,
};
use ports::{AuditEvent, AuditKind, LifecycleEvent, Notice, PendingFlow, Sealed, StoredSecrets, Webhook};

/// The fixed "now" of the cases: stores never read the clock, so any instant does.
pub const T0: Timestamp = Timestamp::from_unix(1_800_000_000);

/// The `n`-th connection reference.
pub fn ref_id(n: u8) -> RefId {
    RefId::from_random([n; 16])
}

/// The owner of every fixture connection and event: tenant `default`, user `default`, as the
/// seed API's calls (which name neither) are.
pub fn seed_owner() -> Owner {
    Owner::default_owner()
}

/// The owner `user` of `tenant`.
pub fn owner(tenant: &str, user: &str) -> Owner {
    Owner::new(TenantId::parse(tenant).expect("a valid tenant"), UserId::parse(user).expect("a valid user"))
}

/// `connection` given to `owner` (its ref id and everything else kept).
pub fn owned_by(owner: &Owner, mut connection: Connection) -> Connection {
    connection.owner = owner.clone();
    connection
}

/// `event` recorded for `owner`.
pub fn event_of(owner: &Owner, event: AuditEvent) -> AuditEvent {
    AuditEvent { owner: owner.clone(), ..event }
}

fn new_connection(n: u8, transport: Transport, auth_method: AuthMethod) -> NewConnection {
    NewConnection {
        ref_id: ref_id(n),
        owner: seed_owner(),
        server_name: ServerName::parse(&format!("server-{n}")).expect("a valid server name"),
        label: None,
        display_name: None,
        url: None,
        transport,
        auth_method,
        exportable: true,
    }
}

/// A connection with every field set, including the optional ones and a status reason.
pub fn full_connection(n: u8) -> Connection {
    let mut new = new_connection(n, Transport::Sse, AuthMethod::OAuth);
    new.label = Some(Label::parse(&format!("Work account «{n}»")).expect("a valid label"));
    new.display_name = Some(format!("Custom server «{n}»"));
    new.url = Some(format!("https://mcp{n}.example/v1/mcp?tenant=a&x=1"));
    new.exportable = false;
    let mut connection = Connection::restore(
        new,
        ConnectionStatus::Expired,
        Some("invalid_grant: the refresh token was revoked".into()),
        Scopes::parse_delimited("channels:read chat:write offline_access").expect("valid scopes"),
        Some(T0.plus_seconds(3_600)),
        T0.plus_seconds(-86_400),
        T0,
    );
    connection.account = Some(Account::parse(&format!("ada+{n}@example.com «é»")).expect("a valid account"));
    connection
}

/// A connection with every optional field empty.
pub fn bare_connection(n: u8) -> Connection {
    Connection::connected(new_connection(n, Transport::Stdio, AuthMethod::None), T0)
}

/// A connection in the given shape, created at `T0`.
pub fn connection_with(n: u8, status: ConnectionStatus, auth: AuthMethod, transport: Transport) -> Connection {
    Connection::restore(
        new_connection(n, transport, auth),
        status,
        None,
        Scopes::parse_delimited("read").expect("valid scopes"),
        None,
        T0,
        T0,
    )
}

/// An OAuth connection waiting for its callback, created at `created_at`.
pub fn pending_connection(n: u8, created_at: Timestamp) -> Connection {
    let mut new = new_connection(n, Transport::StreamableHttp, AuthMethod::OAuth);
    new.url = Some(format!("https://mcp{n}.example/mcp"));
    Connection::pending(new, created_at)
}

/// An OAuth connection that completed its authorization at `T0`, with tokens expiring in an hour.
pub fn connected_oauth_connection(n: u8) -> Connection {
    let mut connection = pending_connection(n, T0.plus_seconds(-60));
    connection
        .complete_authorization(
            Scopes::parse_delimited("read write").expect("valid scopes"),
            Some(T0.plus_seconds(3_600)),
            T0,
        )
        .expect("a pending connection completes");
    connection
}

/// Opaque bytes standing in for a sealed secret: a label followed by bytes that are not UTF-8
/// and a NUL, so a store that treats them as text is caught.
pub fn sealed(label: &str) -> Sealed {
    let mut bytes = vec![0x01, 0x00, 0xFF, 0xFE];
    bytes.extend_from_slice(label.as_bytes());
    bytes.extend_from_slice(&[0x00, 0x80, 0xC3]);
    Sealed(bytes)
}

/// Every byte value once, in a scrambled order.
pub fn every_byte() -> Sealed {
    Sealed((0..=255u8).map(|b| b.wrapping_mul(167).wrapping_add(13)).collect())
}

/// All three secrets, each distinct and tagged with `label`.
pub fn all_secrets(label: &str) -> StoredSecrets {
    StoredSecrets {
        api_key: Some(sealed(&format!("{label}/api_key"))),
        access_token: Some(sealed(&format!("{label}/access_token"))),
        refresh_token: Some(sealed(&format!("{label}/refresh_token"))),
    }
}

/// A flow of connection `ref_id` with every field set.
pub fn full_flow(state_hash: &str, ref_id: &RefId, expires_at: Timestamp) -> PendingFlow {
    PendingFlow {
        state_hash: state_hash.to_owned(),
        ref_id: ref_id.clone(),
        issuer: Some("https://auth.example/tenant".into()),
        iss_required: true,
        pkce_verifier: sealed(&format!("flows/{state_hash}/pkce_verifier")),
        redirect_uri: "https://directory.example/assets/oauth/callback".into(),
        scopes: Scopes::parse_delimited("read write offline_access").expect("valid scopes"),
        resource: Some("https://mcp.example/mcp".into()),
        return_to: Some("https://app.example/done?tab=connections".into()),
        created_at: expires_at.plus_seconds(-600),
        expires_at,
        browser_hash: Some(browser_hash(state_hash)),
    }
}

/// The hash of the browser nonce a full flow of `state_hash` is bound to (64 hex characters).
pub fn browser_hash(state_hash: &str) -> String {
    state_hash.chars().rev().collect()
}

/// A flow of connection `ref_id` with every optional field empty.
pub fn bare_flow(state_hash: &str, ref_id: &RefId, expires_at: Timestamp) -> PendingFlow {
    PendingFlow {
        issuer: None,
        iss_required: false,
        scopes: Scopes::empty(),
        resource: None,
        return_to: None,
        browser_hash: None,
        ..full_flow(state_hash, ref_id, expires_at)
    }
}

/// A state hash as the app makes them: 64 lowercase hex characters, distinct per `n`.
pub fn state_hash(n: u32) -> String {
    format!("{:064x}", u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
}

/// An audit event of `ref_id`.
pub fn event(ref_id: &RefId, kind: AuditKind, detail: Option<&str>, at: Timestamp) -> AuditEvent {
    AuditEvent {
        ref_id: ref_id.clone(),
        owner: seed_owner(),
        server_name: ServerName::parse("linear").expect("a valid server name"),
        kind,
        detail: detail.map(str::to_owned),
        at,
        notice: None,
    }
}

/// The event a case's update records: the one its new status calls for.
pub fn change(connection: &Connection) -> AuditEvent {
    let kind = match connection.status() {
        ConnectionStatus::PendingOAuth => AuditKind::Reauthorized,
        ConnectionStatus::Connected => AuditKind::Connected,
        ConnectionStatus::Expired => AuditKind::Expired,
        ConnectionStatus::Failed => AuditKind::Failed,
    };
    AuditEvent { server_name: connection.server_name.clone(), ..event(&connection.ref_id, kind, None, T0) }
}

/// The event a case's delete records.
pub fn disconnected(ref_id: &RefId) -> AuditEvent {
    event(ref_id, AuditKind::Disconnected, None, T0)
}

/// A small deterministic generator (xorshift) for the cases that pick at random: seeded, so a
/// failing run repeats exactly.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).expect("less than n")
    }
}

/// The `n`-th session token hash (64 hex characters, as a SHA-256 is stored).
pub fn session_token_hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A connect session of `owner` expiring at `expires_at`, with every field set: two allowed
/// servers and a `return_to`.
pub fn full_session(n: u8, owner: &Owner, expires_at: Timestamp) -> domain::ConnectSession {
    domain::ConnectSession {
        token_hash: session_token_hash(n),
        owner: owner.clone(),
        allowed_servers: Some(vec![
            ServerName::parse("github").expect("a valid server name"),
            ServerName::parse(&format!("server-{n}")).expect("a valid server name"),
        ]),
        return_to: Some(format!("https://app.example/done?n={n}&x=1")),
        created_at: expires_at.plus_seconds(-600),
        expires_at,
    }
}

/// The `n`-th lifecycle event id.
pub fn event_id(n: u32) -> EventId {
    let mut bytes = [0x5A; 16];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    EventId::from_random(bytes)
}

/// The notice of a `kind` event (the `n`-th id), with where such an event leaves a connection.
pub fn notice(n: u32, kind: EventType) -> Notice {
    use ConnectionStatus::{Connected, Expired, Failed, PendingOAuth};
    let status = Standing::Status;
    let (standing, previous, reason) = match kind {
        EventType::Connected => (status(Connected), None, ReasonCode::Authorized),
        EventType::Failed => (status(Failed), Some(status(PendingOAuth)), ReasonCode::ConsentDenied),
        EventType::Expired => (status(Expired), Some(status(Connected)), ReasonCode::InvalidGrant),
        EventType::RefreshFailing => (status(Connected), Some(status(Connected)), ReasonCode::ProviderUnavailable),
        EventType::Recovered => (status(Connected), Some(status(Connected)), ReasonCode::Refreshed),
        EventType::ReauthorizationRequired => {
            (status(PendingOAuth), Some(status(Connected)), ReasonCode::InsufficientScope)
        }
        EventType::Disconnected => (Standing::Disconnected, Some(status(Connected)), ReasonCode::UserDisconnected),
        EventType::RevocationFailed => (Standing::Disconnected, None, ReasonCode::RevocationFailed),
    };
    Notice { id: event_id(n), kind, standing, previous, reason }
}

/// `event` announcing `notice`.
pub fn announcing(event: AuditEvent, notice: Notice) -> AuditEvent {
    AuditEvent { notice: Some(notice), ..event }
}

/// The lifecycle event an audit event with a notice records, with `seq` 0 (the store numbers it).
pub fn lifecycle(event: &AuditEvent) -> LifecycleEvent {
    let notice = event.notice.clone().expect("an audit event with a notice");
    LifecycleEvent {
        seq: 0,
        id: notice.id,
        kind: notice.kind,
        at: event.at,
        ref_id: event.ref_id.clone(),
        server_name: event.server_name.clone(),
        owner: event.owner.clone(),
        standing: notice.standing,
        previous: notice.previous,
        reason: notice.reason,
    }
}

/// `events` with their `seq` set to 0, to compare with [`lifecycle`]'s.
pub fn unnumbered(events: &[LifecycleEvent]) -> Vec<LifecycleEvent> {
    events.iter().map(|e| LifecycleEvent { seq: 0, ..e.clone() }).collect()
}

/// The tenant `name`.
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("a valid tenant")
}

/// An enabled endpoint of `tenant` taking `events` (`None`: every type), created `n` seconds
/// after `T0`, with a signing secret and no previous one.
pub fn webhook(n: u8, tenant: &str, events: Option<Vec<EventType>>) -> Webhook {
    let at = T0.plus_seconds(i64::from(n));
    Webhook {
        id: WebhookId::from_random([n; 16]),
        tenant: self::tenant(tenant),
        url: format!("https://hooks{n}.example/in?tenant={tenant}&x=1"),
        events,
        secret: sealed(&format!("webhooks/{n}/secret")),
        previous_secret: None,
        enabled: true,
        disabled_reason: None,
        created_at: at,
        updated_at: at,
    }
}
