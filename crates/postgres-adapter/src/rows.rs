//! Rows as diesel reads and writes them, and their translation to and from domain values.
//! A row that does not decode is [`StoreError::Corrupt`], naming the table and field but never
//! a secret column's content.

use diesel::prelude::*;
use domain::{
    AuthMethod, Connection, ConnectionStatus, NewConnection, ParseError, RefId, Scopes, ServerName, Timestamp,
    Transport,
};
use ports::{AuditEvent, AuditKind, PendingFlow, Sealed, StoreError, StoredSecrets};

use crate::schema::{audit_events, connections, oauth_flows};

/// A connection without its secrets: what `get` and `list` read.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = connections, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ConnectionRow {
    ref_id: String,
    server_name: String,
    display_name: Option<String>,
    url: Option<String>,
    transport: String,
    auth_method: String,
    status: String,
    status_reason: Option<String>,
    scopes: String,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl ConnectionRow {
    pub(crate) fn into_domain(self) -> Result<Connection, StoreError> {
        let corrupt = |e: ParseError| corrupt("connections", &self.ref_id, e);
        let new = NewConnection {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            server_name: ServerName::parse(&self.server_name).map_err(corrupt)?,
            display_name: self.display_name.clone(),
            url: self.url.clone(),
            transport: Transport::parse(&self.transport).map_err(corrupt)?,
            auth_method: AuthMethod::parse(&self.auth_method).map_err(corrupt)?,
        };
        let status = ConnectionStatus::parse(&self.status)
            .ok_or_else(|| corrupt(ParseError::new("status", "is not a connection status")))?;
        let scopes = Scopes::parse_delimited(&self.scopes).map_err(corrupt)?;
        Ok(Connection::restore(
            new,
            status,
            self.status_reason,
            scopes,
            self.expires_at.map(Timestamp::from_unix),
            Timestamp::from_unix(self.created_at),
            Timestamp::from_unix(self.updated_at),
        ))
    }
}

/// The sealed secret columns of a connection.
#[derive(Queryable, Selectable)]
#[diesel(table_name = connections, check_for_backend(diesel::pg::Pg))]
pub(crate) struct SecretsRow {
    api_key: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
}

impl SecretsRow {
    pub(crate) fn into_domain(self) -> StoredSecrets {
        StoredSecrets {
            api_key: self.api_key.map(Sealed),
            access_token: self.access_token.map(Sealed),
            refresh_token: self.refresh_token.map(Sealed),
        }
    }
}

/// A whole new connection row, secrets included, as `recorded::InsertConnection` binds it.
pub(crate) struct NewConnectionRow<'a> {
    pub(crate) ref_id: &'a str,
    pub(crate) server_name: &'a str,
    pub(crate) display_name: Option<&'a str>,
    pub(crate) url: Option<&'a str>,
    pub(crate) transport: &'static str,
    pub(crate) auth_method: &'static str,
    pub(crate) status: &'static str,
    pub(crate) status_reason: Option<&'a str>,
    pub(crate) scopes: String,
    pub(crate) expires_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) api_key: Option<&'a [u8]>,
    pub(crate) access_token: Option<&'a [u8]>,
    pub(crate) refresh_token: Option<&'a [u8]>,
}

impl<'a> NewConnectionRow<'a> {
    pub(crate) fn new(c: &'a Connection, secrets: &'a StoredSecrets) -> Self {
        let bytes = |s: &'a Option<Sealed>| s.as_ref().map(|s| s.0.as_slice());
        Self {
            ref_id: c.ref_id.as_str(),
            server_name: c.server_name.as_str(),
            display_name: c.display_name.as_deref(),
            url: c.url.as_deref(),
            transport: c.transport.as_str(),
            auth_method: c.auth_method.as_str(),
            status: c.status().as_str(),
            status_reason: c.status_reason(),
            scopes: c.scopes.to_delimited(),
            expires_at: c.expires_at.map(Timestamp::unix),
            created_at: c.created_at.unix(),
            updated_at: c.updated_at.unix(),
            api_key: bytes(&secrets.api_key),
            access_token: bytes(&secrets.access_token),
            refresh_token: bytes(&secrets.refresh_token),
        }
    }
}

/// The columns an update may change (what a state transition touches), as
/// `recorded::UpdateConnection` binds them.
pub(crate) struct ConnectionChanges<'a> {
    pub(crate) status: &'static str,
    pub(crate) status_reason: Option<&'a str>,
    pub(crate) scopes: String,
    pub(crate) expires_at: Option<i64>,
    pub(crate) updated_at: i64,
}

impl<'a> ConnectionChanges<'a> {
    pub(crate) fn new(c: &'a Connection) -> Self {
        Self {
            status: c.status().as_str(),
            status_reason: c.status_reason(),
            scopes: c.scopes.to_delimited(),
            expires_at: c.expires_at.map(Timestamp::unix),
            updated_at: c.updated_at.unix(),
        }
    }
}

/// A pending OAuth flow, read and written whole (`None` inserted as `NULL`, so that the insert
/// is a cached prepared statement, as for [`NewConnectionRow`]).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_flows, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub(crate) struct FlowRow {
    state_hash: String,
    ref_id: String,
    issuer: Option<String>,
    iss_required: bool,
    pkce_verifier: Vec<u8>,
    redirect_uri: String,
    scopes: String,
    resource: Option<String>,
    return_to: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl FlowRow {
    pub(crate) fn new(f: &PendingFlow) -> Self {
        Self {
            state_hash: f.state_hash.clone(),
            ref_id: f.ref_id.as_str().to_owned(),
            issuer: f.issuer.clone(),
            iss_required: f.iss_required,
            pkce_verifier: f.pkce_verifier.0.clone(),
            redirect_uri: f.redirect_uri.clone(),
            scopes: f.scopes.to_delimited(),
            resource: f.resource.clone(),
            return_to: f.return_to.clone(),
            created_at: f.created_at.unix(),
            expires_at: f.expires_at.unix(),
        }
    }

    pub(crate) fn into_domain(self) -> Result<PendingFlow, StoreError> {
        let corrupt = |e: ParseError| corrupt("oauth_flows", &self.ref_id, e);
        Ok(PendingFlow {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            scopes: Scopes::parse_delimited(&self.scopes).map_err(corrupt)?,
            state_hash: self.state_hash,
            issuer: self.issuer,
            iss_required: self.iss_required,
            pkce_verifier: Sealed(self.pkce_verifier),
            redirect_uri: self.redirect_uri,
            resource: self.resource,
            return_to: self.return_to,
            created_at: Timestamp::from_unix(self.created_at),
            expires_at: Timestamp::from_unix(self.expires_at),
        })
    }
}

/// One audit line as stored; `id` orders a connection's events.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AuditRow {
    ref_id: String,
    server_name: String,
    kind: String,
    detail: Option<String>,
    at: i64,
}

impl AuditRow {
    pub(crate) fn into_domain(self) -> Result<AuditEvent, StoreError> {
        let corrupt = |e: ParseError| corrupt("audit_events", &self.ref_id, e);
        Ok(AuditEvent {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            server_name: ServerName::parse(&self.server_name).map_err(corrupt)?,
            kind: AuditKind::parse(&self.kind)
                .ok_or_else(|| corrupt(ParseError::new("kind", "is not an audit event kind")))?,
            detail: self.detail,
            at: Timestamp::from_unix(self.at),
        })
    }
}

/// A new audit event (`None` inserted as `NULL`, so that the insert is a cached prepared
/// statement, as for [`NewConnectionRow`]).
#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub(crate) struct NewAuditRow<'a> {
    pub(crate) ref_id: &'a str,
    pub(crate) server_name: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) detail: Option<&'a str>,
    pub(crate) at: i64,
}

impl<'a> NewAuditRow<'a> {
    pub(crate) fn new(e: &'a AuditEvent) -> Self {
        Self {
            ref_id: e.ref_id.as_str(),
            server_name: e.server_name.as_str(),
            kind: e.kind.as_str(),
            detail: e.detail.as_deref(),
            at: e.at.unix(),
        }
    }
}

/// Names the table and row at fault. The key is a public handle; the row's ref id may itself
/// be what is damaged, so only a bounded prefix of it is repeated.
fn corrupt(table: &str, key: &str, e: ParseError) -> StoreError {
    let key: String = key.chars().take(40).collect();
    StoreError::Corrupt(format!("{table} row `{key}`: {e}"))
}
