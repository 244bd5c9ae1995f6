//! The writes of `ConnectionStore`, each with the audit events that describe it, as one statement:
//! data-modifying common table expressions, so that a change and its record are one implicit
//! transaction and one round trip (docs/benchmarks.md has what that saved).
//!
//! Written by hand because diesel's query builder has no `WITH`. Each type's SQL text is the same
//! whatever the values (everything that varies is bound, the events as arrays), so diesel
//! prepares it once per connection and caches it under the type: a type here must never vary
//! its text.

use diesel::QueryResult;
use diesel::dsl::SqlTypeOf;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Bool, Nullable, Text};
use domain::{Connection, ConnectionStatus, Owner, RefId};
use ports::{AuditEvent, PendingFlow, SecretsUpdate, StoredSecrets};

use diesel_store::audit::NewAuditRow;
use diesel_store::connections::{self, ConnectionChanges, NewConnectionRow, SecretsColumns};

/// Binds, separated by commas.
macro_rules! binds {
    ($out:ident; $($ty:ty => $value:expr),+ $(,)?) => {{
        let mut first = true;
        $(
            if !std::mem::take(&mut first) {
                $out.push_sql(", ");
            }
            $out.push_bind_param::<$ty, _>($value)?;
        )+
    }};
}

/// One event's values, for `SELECT <these> FROM <the changed row>`.
fn push_event<'b>(out: &mut AstPass<'_, 'b, Pg>, e: &'b NewAuditRow<'_>) -> QueryResult<()> {
    binds!(out;
        Text => &e.ref_id,
        Text => &e.tenant_id,
        Text => &e.user_id,
        Text => &e.server_name,
        Text => &e.kind,
        Nullable<Text> => &e.detail,
        BigInt => &e.at,
        Nullable<Text> => &e.event_id,
        Nullable<Text> => &e.event_type,
        Nullable<Text> => &e.event_standing,
        Nullable<Text> => &e.event_previous,
        Nullable<Text> => &e.event_reason,
    );
    Ok(())
}

/// The columns of an audit event, its lifecycle event's last (issue 17: a trigger copies those
/// into `events` and queues its deliveries).
macro_rules! audit_columns {
    () => {
        "ref_id, tenant_id, user_id, server_name, kind, detail, at, \
         event_id, event_type, event_standing, event_previous, event_reason"
    };
}

const INSERT_EVENT: &str = concat!("INSERT INTO audit_events (", audit_columns!(), ") SELECT ");

/// `INSERT` a connection, its pending flow if it has one, and its events, in their order.
pub(crate) struct InsertConnection<'a> {
    /// diesel's own `INSERT` of the row, walked inside the statement's first `WITH` clause.
    insert: connections::Insert<'a>,
    flow: FlowColumns<'a>,
    events: EventArrays<'a>,
}

/// A flow's columns, all `NULL` when there is no flow (and then no row is inserted).
#[derive(Default)]
struct FlowColumns<'a> {
    present: bool,
    state_hash: Option<&'a str>,
    issuer: Option<&'a str>,
    iss_required: Option<bool>,
    pkce_verifier: Option<&'a [u8]>,
    redirect_uri: Option<&'a str>,
    scopes: Option<String>,
    resource: Option<&'a str>,
    return_to: Option<&'a str>,
    created_at: Option<i64>,
    expires_at: Option<i64>,
    browser_hash: Option<&'a str>,
}

impl<'a> FlowColumns<'a> {
    fn new(flow: Option<&'a PendingFlow>) -> Self {
        let Some(f) = flow else { return Self::default() };
        Self {
            present: true,
            state_hash: Some(&f.state_hash),
            issuer: f.issuer.as_deref(),
            iss_required: Some(f.iss_required),
            pkce_verifier: Some(&f.pkce_verifier.0),
            redirect_uri: Some(&f.redirect_uri),
            scopes: Some(f.scopes.to_delimited()),
            resource: f.resource.as_deref(),
            return_to: f.return_to.as_deref(),
            created_at: Some(f.created_at.unix()),
            expires_at: Some(f.expires_at.unix()),
            browser_hash: f.browser_hash.as_deref(),
        }
    }
}

/// Events as parallel arrays, so that one statement text records any number of them.
struct EventArrays<'a> {
    ref_ids: Vec<&'a str>,
    tenant_ids: Vec<&'a str>,
    user_ids: Vec<&'a str>,
    server_names: Vec<&'a str>,
    kinds: Vec<&'static str>,
    details: Vec<Option<&'a str>>,
    ats: Vec<i64>,
    event_ids: Vec<Option<&'a str>>,
    event_types: Vec<Option<&'static str>>,
    event_standings: Vec<Option<&'static str>>,
    event_previous: Vec<Option<&'static str>>,
    event_reasons: Vec<Option<&'static str>>,
}

impl<'a> EventArrays<'a> {
    fn new(events: &'a [AuditEvent]) -> Self {
        let rows: Vec<NewAuditRow<'a>> = events.iter().map(NewAuditRow::new).collect();
        Self {
            ref_ids: events.iter().map(|e| e.ref_id.as_str()).collect(),
            tenant_ids: events.iter().map(|e| e.owner.tenant.as_str()).collect(),
            user_ids: events.iter().map(|e| e.owner.user.as_str()).collect(),
            server_names: events.iter().map(|e| e.server_name.as_str()).collect(),
            kinds: events.iter().map(|e| e.kind.as_str()).collect(),
            details: events.iter().map(|e| e.detail.as_deref()).collect(),
            ats: events.iter().map(|e| e.at.unix()).collect(),
            event_ids: rows.iter().map(|r| r.event_id).collect(),
            event_types: rows.iter().map(|r| r.event_type).collect(),
            event_standings: rows.iter().map(|r| r.event_standing).collect(),
            event_previous: rows.iter().map(|r| r.event_previous).collect(),
            event_reasons: rows.iter().map(|r| r.event_reason).collect(),
        }
    }
}

impl<'a> InsertConnection<'a> {
    pub(crate) fn new(
        connection: &'a Connection,
        secrets: &'a StoredSecrets,
        flow: Option<&'a PendingFlow>,
        events: &'a [AuditEvent],
    ) -> Self {
        Self {
            insert: connections::insert(NewConnectionRow::new(connection, secrets)),
            flow: FlowColumns::new(flow),
            events: EventArrays::new(events),
        }
    }
}

impl QueryId for InsertConnection<'_> {
    type QueryId = InsertConnection<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for InsertConnection<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (f, e) = (&self.flow, &self.events);
        out.push_sql("WITH inserted AS (");
        self.insert.walk_ast(out.reborrow())?;
        out.push_sql(
            " RETURNING ref_id), \
             flow AS (INSERT INTO oauth_flows (ref_id, state_hash, issuer, iss_required, pkce_verifier, \
             redirect_uri, scopes, resource, return_to, created_at, expires_at, browser_hash) SELECT ref_id, ",
        );
        binds!(out;
            Nullable<Text> => &f.state_hash,
            Nullable<Text> => &f.issuer,
            Nullable<Bool> => &f.iss_required,
            Nullable<Binary> => &f.pkce_verifier,
            Nullable<Text> => &f.redirect_uri,
            Nullable<Text> => &f.scopes,
            Nullable<Text> => &f.resource,
            Nullable<Text> => &f.return_to,
            Nullable<BigInt> => &f.created_at,
            Nullable<BigInt> => &f.expires_at,
            Nullable<Text> => &f.browser_hash,
        );
        out.push_sql(" FROM inserted WHERE ");
        out.push_bind_param::<Bool, _>(&f.present)?;
        // ORDINALITY keeps the events in their order, and so their ids (the log's order).
        out.push_sql(concat!(
            ") INSERT INTO audit_events (",
            audit_columns!(),
            ") SELECT e.ref_id, e.tenant_id, e.user_id, e.server_name, e.kind, e.detail, e.at, e.event_id, \
             e.event_type, e.event_standing, e.event_previous, e.event_reason FROM inserted, unnest("
        ));
        binds!(out;
            Array<Text> => &e.ref_ids,
            Array<Text> => &e.tenant_ids,
            Array<Text> => &e.user_ids,
            Array<Text> => &e.server_names,
            Array<Text> => &e.kinds,
            Array<Nullable<Text>> => &e.details,
            Array<BigInt> => &e.ats,
            Array<Nullable<Text>> => &e.event_ids,
            Array<Nullable<Text>> => &e.event_types,
            Array<Nullable<Text>> => &e.event_standings,
            Array<Nullable<Text>> => &e.event_previous,
            Array<Nullable<Text>> => &e.event_reasons,
        );
        out.push_sql(concat!(") WITH ORDINALITY AS e (", audit_columns!(), ", n) ORDER BY e.n"));
        Ok(())
    }
}

/// `UPDATE` a connection if its status is still the expected one, and record the event if it
/// was: the statement's row count (0 or 1) says which. A token column is set only when its
/// change says so (`CASE WHEN set THEN value ELSE column END`), so the text never varies and the
/// statement is prepared once per connection. Written by hand over the shared
/// [`ConnectionChanges`] rather than walking diesel's `UPDATE`, which diesel never caches as a
/// prepared statement (a changeset's text may vary): that cost a fifth of the OAuth flows/s.
/// So an updatable `connections` column is added here too (migrations/README.md).
pub(crate) struct UpdateConnection<'a> {
    ref_id: &'a str,
    tenant_id: &'a str,
    user_id: &'a str,
    expected: &'static str,
    changes: ConnectionChanges<'a>,
    set_access: bool,
    access_token: Option<&'a [u8]>,
    set_refresh: bool,
    refresh_token: Option<&'a [u8]>,
    event: NewAuditRow<'a>,
}

impl<'a> UpdateConnection<'a> {
    pub(crate) fn new(
        connection: &'a Connection,
        expected: ConnectionStatus,
        secrets: &'a SecretsUpdate,
        event: &'a AuditEvent,
    ) -> Self {
        let changes = ConnectionChanges::new(connection, secrets);
        Self {
            ref_id: connection.ref_id.as_str(),
            tenant_id: connection.owner.tenant.as_str(),
            user_id: connection.owner.user.as_str(),
            expected: expected.as_str(),
            set_access: changes.access_token.is_some(),
            access_token: changes.access_token.flatten(),
            set_refresh: changes.refresh_token.is_some(),
            refresh_token: changes.refresh_token.flatten(),
            changes,
            event: NewAuditRow::new(event),
        }
    }
}

impl QueryId for UpdateConnection<'_> {
    type QueryId = UpdateConnection<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for UpdateConnection<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let c = &self.changes;
        out.push_sql("WITH changed AS (UPDATE connections SET account = ");
        out.push_bind_param::<Nullable<Text>, _>(&c.account)?;
        out.push_sql(", status = ");
        out.push_bind_param::<Text, _>(&c.status)?;
        out.push_sql(", status_reason = ");
        out.push_bind_param::<Nullable<Text>, _>(&c.status_reason)?;
        out.push_sql(", scopes = ");
        out.push_bind_param::<Text, _>(&c.scopes)?;
        out.push_sql(", expires_at = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&c.expires_at)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<BigInt, _>(&c.updated_at)?;
        out.push_sql(", access_token = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.set_access)?;
        out.push_sql(" THEN ");
        out.push_bind_param::<Nullable<Binary>, _>(&self.access_token)?;
        out.push_sql(" ELSE access_token END, refresh_token = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.set_refresh)?;
        out.push_sql(" THEN ");
        out.push_bind_param::<Nullable<Binary>, _>(&self.refresh_token)?;
        out.push_sql(" ELSE refresh_token END WHERE ref_id = ");
        out.push_bind_param::<Text, _>(&self.ref_id)?;
        out.push_sql(" AND tenant_id = ");
        out.push_bind_param::<Text, _>(&self.tenant_id)?;
        out.push_sql(" AND user_id = ");
        out.push_bind_param::<Text, _>(&self.user_id)?;
        out.push_sql(" AND status = ");
        out.push_bind_param::<Text, _>(&self.expected)?;
        out.push_sql(" RETURNING 1) ");
        out.push_sql(INSERT_EVENT);
        push_event(&mut out, &self.event)?;
        out.push_sql(" FROM changed");
        Ok(())
    }
}

/// `DELETE` a connection (diesel's own statement, `diesel_store::connections::delete`, returning
/// its secrets; its flows go by `ON DELETE CASCADE`) and record the event if this statement was
/// the one that deleted it; returns the deleted row's secrets.
pub(crate) struct DeleteConnection<'a> {
    delete: connections::Delete<'a>,
    event: NewAuditRow<'a>,
}

impl<'a> DeleteConnection<'a> {
    pub(crate) fn new(owner: &'a Owner, ref_id: &'a RefId, event: &'a AuditEvent) -> Self {
        Self { delete: connections::delete(owner, ref_id.as_str()), event: NewAuditRow::new(event) }
    }
}

impl QueryId for DeleteConnection<'_> {
    type QueryId = DeleteConnection<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for DeleteConnection<'_> {
    type SqlType = SqlTypeOf<SecretsColumns>;
}

impl QueryFragment<Pg> for DeleteConnection<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH deleted AS (");
        self.delete.walk_ast(out.reborrow())?;
        out.push_sql("), recorded AS (");
        out.push_sql(INSERT_EVENT);
        push_event(&mut out, &self.event)?;
        // The secrets in the order the DELETE returned them, SecretsColumns' order.
        out.push_sql(" FROM deleted) SELECT * FROM deleted");
        Ok(())
    }
}
