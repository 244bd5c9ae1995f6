//! One struct per shape of row. Reading a row back into the domain re-validates every value:
//! a row that does not decode is reported as [`StoreError::Corrupt`], never trusted.

use diesel::prelude::*;
use domain::{
    AuthMethod, Connection, ConnectionStatus, NewConnection, ParseError, RefId, Scopes, ServerName, Timestamp,
    Transport,
};
use ports::{AuditEvent, AuditKind, PendingFlow, Sealed, SecretsUpdate, StoreError, StoredSecrets};

use crate::schema::{audit_events, connections, oauth_flows};

/// The error for a row that does not decode, naming the row by a bounded prefix of its `ref_id`
/// (whatever the column holds, it is not repeated whole).
fn corrupt(what: &str, ref_id: &str, error: ParseError) -> StoreError {
    let shown: String = ref_id.chars().take(RefId::PREFIX.len() + 26).collect();
    StoreError::Corrupt(format!("{what} {shown}: {error}"))
}

/// A connection without its secrets.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = connections, check_for_backend(diesel::sqlite::Sqlite))]
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
    pub(crate) fn from_domain(c: &Connection) -> Self {
        Self {
            ref_id: c.ref_id.as_str().to_owned(),
            server_name: c.server_name.as_str().to_owned(),
            display_name: c.display_name.clone(),
            url: c.url.clone(),
            transport: c.transport.as_str().to_owned(),
            auth_method: c.auth_method.as_str().to_owned(),
            status: c.status().as_str().to_owned(),
            status_reason: c.status_reason().map(str::to_owned),
            scopes: c.scopes.to_delimited(),
            expires_at: c.expires_at.map(Timestamp::unix),
            created_at: c.created_at.unix(),
            updated_at: c.updated_at.unix(),
        }
    }

    pub(crate) fn into_domain(self) -> Result<Connection, StoreError> {
        let corrupt = |e| corrupt("connection", &self.ref_id, e);
        let status = ConnectionStatus::parse(&self.status)
            .ok_or_else(|| corrupt(ParseError::new("status", "is not a connection status")))?;
        let new = NewConnection {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            server_name: ServerName::parse(&self.server_name).map_err(corrupt)?,
            display_name: self.display_name,
            url: self.url,
            transport: Transport::parse(&self.transport).map_err(corrupt)?,
            auth_method: AuthMethod::parse(&self.auth_method).map_err(corrupt)?,
        };
        Ok(Connection::restore(
            new,
            status,
            self.status_reason,
            Scopes::parse_delimited(&self.scopes).map_err(corrupt)?,
            self.expires_at.map(Timestamp::from_unix),
            Timestamp::from_unix(self.created_at),
            Timestamp::from_unix(self.updated_at),
        ))
    }
}

/// A new connection together with its sealed secrets (no `Debug`: rows with secrets stay out of logs).
#[derive(Insertable)]
#[diesel(table_name = connections)]
pub(crate) struct NewConnectionRow {
    #[diesel(embed)]
    connection: ConnectionRow,
    api_key: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
}

impl NewConnectionRow {
    pub(crate) fn from_domain(connection: &Connection, secrets: &StoredSecrets) -> Self {
        let bytes = |sealed: &Option<Sealed>| sealed.as_ref().map(|s| s.0.clone());
        Self {
            connection: ConnectionRow::from_domain(connection),
            api_key: bytes(&secrets.api_key),
            access_token: bytes(&secrets.access_token),
            refresh_token: bytes(&secrets.refresh_token),
        }
    }
}

/// What an update writes: the mutable part of a connection and, as the [`SecretsUpdate`] says,
/// its tokens. A token column that is `None` here is left as it is; `Some(None)` nulls it.
#[derive(AsChangeset)]
#[diesel(table_name = connections, treat_none_as_null = true)]
pub(crate) struct ConnectionChanges {
    status: String,
    status_reason: Option<String>,
    scopes: String,
    expires_at: Option<i64>,
    updated_at: i64,
    #[diesel(treat_none_as_null = false)]
    access_token: Option<Option<Vec<u8>>>,
    #[diesel(treat_none_as_null = false)]
    refresh_token: Option<Option<Vec<u8>>>,
}

impl ConnectionChanges {
    pub(crate) fn from_domain(c: &Connection, secrets: &SecretsUpdate) -> Self {
        let (access_token, refresh_token) = match secrets {
            SecretsUpdate::Keep => (None, None),
            SecretsUpdate::Tokens { access_token, refresh_token } => {
                (Some(Some(access_token.0.clone())), refresh_token.as_ref().map(|r| Some(r.0.clone())))
            }
            SecretsUpdate::ClearTokens => (Some(None), Some(None)),
        };
        Self {
            status: c.status().as_str().to_owned(),
            status_reason: c.status_reason().map(str::to_owned),
            scopes: c.scopes.to_delimited(),
            expires_at: c.expires_at.map(Timestamp::unix),
            updated_at: c.updated_at.unix(),
            access_token,
            refresh_token,
        }
    }
}

/// The sealed secrets of one connection.
#[derive(Queryable, Selectable)]
#[diesel(table_name = connections, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct SecretsRow {
    api_key: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
}

impl From<SecretsRow> for StoredSecrets {
    fn from(row: SecretsRow) -> Self {
        Self {
            api_key: row.api_key.map(Sealed),
            access_token: row.access_token.map(Sealed),
            refresh_token: row.refresh_token.map(Sealed),
        }
    }
}

/// A pending OAuth flow, with its sealed PKCE verifier.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_flows, check_for_backend(diesel::sqlite::Sqlite))]
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
    /// The connection the flow belongs to.
    pub(crate) fn ref_id(&self) -> &str {
        &self.ref_id
    }

    pub(crate) fn from_domain(flow: &PendingFlow) -> Self {
        Self {
            state_hash: flow.state_hash.clone(),
            ref_id: flow.ref_id.as_str().to_owned(),
            issuer: flow.issuer.clone(),
            iss_required: flow.iss_required,
            pkce_verifier: flow.pkce_verifier.0.clone(),
            redirect_uri: flow.redirect_uri.clone(),
            scopes: flow.scopes.to_delimited(),
            resource: flow.resource.clone(),
            return_to: flow.return_to.clone(),
            created_at: flow.created_at.unix(),
            expires_at: flow.expires_at.unix(),
        }
    }

    pub(crate) fn into_domain(self) -> Result<PendingFlow, StoreError> {
        let corrupt = |e| corrupt("flow of connection", &self.ref_id, e);
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

/// One audit event; its id is the database's and only orders the log.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct AuditRow {
    ref_id: String,
    server_name: String,
    kind: String,
    detail: Option<String>,
    at: i64,
}

impl AuditRow {
    pub(crate) fn from_domain(event: &AuditEvent) -> Self {
        Self {
            ref_id: event.ref_id.as_str().to_owned(),
            server_name: event.server_name.as_str().to_owned(),
            kind: event.kind.as_str().to_owned(),
            detail: event.detail.clone(),
            at: event.at.unix(),
        }
    }

    pub(crate) fn into_domain(self) -> Result<AuditEvent, StoreError> {
        let corrupt = |e| corrupt("audit event of", &self.ref_id, e);
        Ok(AuditEvent {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            server_name: ServerName::parse(&self.server_name).map_err(corrupt)?,
            kind: AuditKind::parse(&self.kind)
                .ok_or_else(|| corrupt(ParseError::new("kind", "is not an audit kind")))?,
            detail: self.detail,
            at: Timestamp::from_unix(self.at),
        })
    }
}
