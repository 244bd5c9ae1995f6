//! The `connections` table: a connection's row without its secrets, its sealed secrets, what an
//! insert and an update write, and the queries of `ConnectionStore` that diesel can express.
//! Every query a caller's request reaches filters on the owner's columns ([`owned_by`]); the
//! ones that do not (`…_any`, [`pending_before`]) are the background work's.

use diesel::dsl::{And, Asc, Eq, Filter, Find, Lt, Order, Returning, Select, Set, Values};
use diesel::prelude::*;
use domain::{
    Account, AuthMethod, Connection, ConnectionStatus, Label, NewConnection, OAuthGrant, Owner, ParseError, RefId,
    Scopes, ServerName, TenantId, Timestamp, Transport, UserId,
};
use ports::{ConnectionQuery, Sealed, SecretsUpdate, StatusCounts, StoreError, StoredSecrets, UserQuery, UserSummary};

use crate::corrupt;
use crate::schema::connections;

columns! {
    /// The columns of a [`ConnectionRow`], in its order (it reads them by position).
    ConnectionColumns, CONNECTION = connections(
        ref_id, tenant_id, user_id, server_name, label, account, display_name, url, transport, auth_method, status, status_reason,
        scopes, grant_type, expires_at, created_at, updated_at, exportable, last_used_at,
    )
}

/// A connection without its secrets: what `get` and `list` read.
#[derive(Debug, Queryable)]
pub struct ConnectionRow {
    ref_id: String,
    tenant_id: String,
    user_id: String,
    server_name: String,
    label: Option<String>,
    account: Option<String>,
    display_name: Option<String>,
    url: Option<String>,
    transport: String,
    auth_method: String,
    status: String,
    status_reason: Option<String>,
    scopes: String,
    grant_type: String,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    exportable: bool,
    last_used_at: Option<i64>,
}

impl ConnectionRow {
    pub fn into_domain(self) -> Result<Connection, StoreError> {
        let corrupt = |e| corrupt("connections", &self.ref_id, e);
        let status = ConnectionStatus::parse(&self.status)
            .ok_or_else(|| corrupt(ParseError::new("status", "is not a connection status")))?;
        let new = NewConnection {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            owner: owner(&self.tenant_id, &self.user_id).map_err(corrupt)?,
            server_name: ServerName::parse(&self.server_name).map_err(corrupt)?,
            label: self.label.as_deref().map(Label::parse).transpose().map_err(corrupt)?,
            display_name: self.display_name,
            url: self.url,
            transport: Transport::parse(&self.transport).map_err(corrupt)?,
            auth_method: AuthMethod::parse(&self.auth_method).map_err(corrupt)?,
            exportable: true,
        };
        let account = self.account.as_deref().map(Account::parse).transpose().map_err(corrupt)?;
        let mut connection = Connection::restore(
            new,
            status,
            self.status_reason,
            Scopes::parse_delimited(&self.scopes).map_err(corrupt)?,
            self.expires_at.map(Timestamp::from_unix),
            Timestamp::from_unix(self.created_at),
            Timestamp::from_unix(self.updated_at),
        );
        connection.account = account;
        connection.grant = OAuthGrant::parse(&self.grant_type).map_err(corrupt)?;
        connection.exportable = self.exportable;
        connection.last_used_at = self.last_used_at.map(Timestamp::from_unix);
        Ok(connection)
    }
}

/// The owner stored in a row's `tenant_id` and `user_id`.
pub(crate) fn owner(tenant_id: &str, user_id: &str) -> Result<Owner, ParseError> {
    Ok(Owner::new(TenantId::parse(tenant_id)?, UserId::parse(user_id)?))
}

columns! {
    /// The columns of a [`SecretsRow`], in its order.
    SecretsColumns, SECRETS = connections(api_key, access_token, refresh_token)
}

/// The sealed secret columns of a connection (its `Debug` shows no secret).
#[derive(Queryable)]
pub struct SecretsRow {
    api_key: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
}

impl std::fmt::Debug for SecretsRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsRow").finish_non_exhaustive()
    }
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

/// A whole new connection row, secrets included. `None` is inserted as `NULL`, so the
/// statement's text never varies and a backend can cache it prepared.
#[derive(Insertable)]
#[diesel(table_name = connections, treat_none_as_default_value = false)]
pub struct NewConnectionRow<'a> {
    pub ref_id: &'a str,
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub server_name: &'a str,
    pub label: Option<&'a str>,
    pub account: Option<&'a str>,
    pub grant_type: &'a str,
    pub exportable: bool,
    pub display_name: Option<&'a str>,
    pub url: Option<&'a str>,
    pub transport: &'static str,
    pub auth_method: &'static str,
    pub status: &'static str,
    pub status_reason: Option<&'a str>,
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub api_key: Option<&'a [u8]>,
    pub access_token: Option<&'a [u8]>,
    pub refresh_token: Option<&'a [u8]>,
}

impl std::fmt::Debug for NewConnectionRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConnectionRow").field("ref_id", &self.ref_id).finish_non_exhaustive()
    }
}

impl<'a> NewConnectionRow<'a> {
    pub fn new(c: &'a Connection, secrets: &'a StoredSecrets) -> Self {
        let bytes = |s: &'a Option<Sealed>| s.as_ref().map(|s| s.0.as_slice());
        Self {
            ref_id: c.ref_id.as_str(),
            tenant_id: c.owner.tenant.as_str(),
            user_id: c.owner.user.as_str(),
            server_name: c.server_name.as_str(),
            label: c.label.as_ref().map(Label::as_str),
            account: c.account.as_ref().map(Account::as_str),
            grant_type: c.grant.as_str(),
            exportable: c.exportable,
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

/// What an update writes: the mutable part of a connection and, as its [`SecretsUpdate`] says,
/// its tokens. A token field that is `None` leaves its column as it is; `Some(None)` nulls it.
#[derive(AsChangeset)]
#[diesel(table_name = connections, treat_none_as_null = true)]
pub struct ConnectionChanges<'a> {
    pub account: Option<&'a str>,
    pub status: &'static str,
    pub status_reason: Option<&'a str>,
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub updated_at: i64,
    #[diesel(treat_none_as_null = false)]
    pub access_token: Option<Option<&'a [u8]>>,
    #[diesel(treat_none_as_null = false)]
    pub refresh_token: Option<Option<&'a [u8]>>,
}

impl std::fmt::Debug for ConnectionChanges<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionChanges").field("status", &self.status).finish_non_exhaustive()
    }
}

impl<'a> ConnectionChanges<'a> {
    pub fn new(c: &'a Connection, secrets: &'a SecretsUpdate) -> Self {
        let (access_token, refresh_token) = match secrets {
            SecretsUpdate::Keep => (None, None),
            // No new refresh token: the stored one stays (spec §7).
            SecretsUpdate::Tokens { access_token, refresh_token } => {
                (Some(Some(access_token.0.as_slice())), refresh_token.as_ref().map(|r| Some(r.0.as_slice())))
            }
            SecretsUpdate::ClearTokens => (Some(None), Some(None)),
        };
        Self {
            account: c.account.as_ref().map(Account::as_str),
            status: c.status().as_str(),
            status_reason: c.status_reason(),
            scopes: c.scopes.to_delimited(),
            expires_at: c.expires_at.map(Timestamp::unix),
            updated_at: c.updated_at.unix(),
            access_token,
            refresh_token,
        }
    }
}

type ByKey<'a> = Find<connections::table, &'a str>;

/// The condition "belongs to this owner".
pub type OwnedBy<'a> = And<Eq<connections::tenant_id, &'a str>, Eq<connections::user_id, &'a str>>;

/// The rows of `owner`: a condition every query a caller reaches carries.
pub fn owned_by(owner: &Owner) -> OwnedBy<'_> {
    connections::tenant_id.eq(owner.tenant.as_str()).and(connections::user_id.eq(owner.user.as_str()))
}

type Owned<'a> = Filter<ByKey<'a>, OwnedBy<'a>>;

/// The row `ref_id` if `owner` owns it.
fn owned<'a>(owner: &'a Owner, ref_id: &'a str) -> Owned<'a> {
    connections::table.find(ref_id).filter(owned_by(owner))
}

/// The connection `ref_id` of `owner`, without its secrets.
pub fn find<'a>(owner: &'a Owner, ref_id: &'a str) -> Select<Owned<'a>, ConnectionColumns> {
    owned(owner, ref_id).select(CONNECTION)
}

/// The connection `ref_id` whoever owns it (background work only), without its secrets.
pub fn find_any(ref_id: &str) -> Select<ByKey<'_>, ConnectionColumns> {
    connections::table.find(ref_id).select(CONNECTION)
}

/// The sealed secrets of the connection `ref_id` of `owner`.
pub fn secrets<'a>(owner: &'a Owner, ref_id: &'a str) -> Select<Owned<'a>, SecretsColumns> {
    owned(owner, ref_id).select(SECRETS)
}

/// The connection `ref_id` of `owner` and its secrets, read in one statement.
pub fn with_secrets<'a>(owner: &'a Owner, ref_id: &'a str) -> Select<Owned<'a>, (ConnectionColumns, SecretsColumns)> {
    owned(owner, ref_id).select((CONNECTION, SECRETS))
}

/// The type of [`of_owner`].
pub type OfOwner<'a> = Order<
    Select<Filter<connections::table, OwnedBy<'a>>, ConnectionColumns>,
    (Asc<connections::created_at>, Asc<connections::ref_id>),
>;

/// Every connection of `owner`, oldest first, then by `ref_id` (the contract's order; the index
/// on `(tenant_id, user_id, created_at, ref_id)` serves it).
pub fn of_owner(owner: &Owner) -> OfOwner<'_> {
    connections::table
        .filter(owned_by(owner))
        .select(CONNECTION)
        .order((connections::created_at.asc(), connections::ref_id.asc()))
}

diesel::define_sql_function! {
    /// SQL's `COALESCE`: `given` when it is not `NULL`, else `otherwise`. `column =
    /// coalesce(filter, column)` is an optional filter in a statement whose text never varies.
    fn coalesce(given: diesel::sql_types::Nullable<diesel::sql_types::Text>, otherwise: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The condition "after the position `(created_at, ref_id)`", led by the redundant
/// `created_at >= at` that lets PostgreSQL start an index range scan there (the `OR` alone
/// became two bitmap scans over every remaining row of the user, then a sort).
type After<'a> = And<
    diesel::dsl::GtEq<connections::created_at, i64>,
    diesel::dsl::Or<
        diesel::dsl::Gt<connections::created_at, i64>,
        And<Eq<connections::created_at, i64>, diesel::dsl::Gt<connections::ref_id, &'a str>>,
    >,
>;

/// The condition "`column` is the given value, or any when none is given".
type Optionally<'a, C> = Eq<C, coalesce<Option<&'a str>, C>>;

/// The type of [`page`].
pub type Page<'a> = diesel::dsl::Limit<
    Order<
        Select<
            Filter<
                Filter<
                    Filter<Filter<connections::table, OwnedBy<'a>>, After<'a>>,
                    Optionally<'a, connections::server_name>,
                >,
                Optionally<'a, connections::status>,
            >,
            ConnectionColumns,
        >,
        (Asc<connections::created_at>, Asc<connections::ref_id>),
    >,
>;

/// The position before every row: the first page's "after" (every `created_at` is a real
/// time, every ref id is longer than `""`).
const BEFORE_ALL: (i64, &str) = (i64::MIN, "");

/// One page of `owner`'s connections (see [`ConnectionQuery`]): after the previous page's last
/// `(created_at, ref_id)`, in that order, so the index on `(tenant_id, user_id, created_at,
/// ref_id)` serves it and a page costs the same wherever it starts. The filters not given
/// compare a column with itself, so the statement's text is the same for every query and a
/// backend caches it prepared.
pub fn page<'a>(owner: &'a Owner, query: &'a ConnectionQuery) -> Page<'a> {
    let (at, id) = query.after.as_ref().map_or(BEFORE_ALL, |after| (after.created_at.unix(), after.ref_id.as_str()));
    let after = connections::created_at
        .ge(at)
        .and(connections::created_at.gt(at).or(connections::created_at.eq(at).and(connections::ref_id.gt(id))));
    let server_name = query.server_name.as_ref().map(ServerName::as_str);
    let status = query.status.map(ConnectionStatus::as_str);
    connections::table
        .filter(owned_by(owner))
        .filter(after)
        .filter(connections::server_name.eq(coalesce(server_name, connections::server_name)))
        .filter(connections::status.eq(coalesce(status, connections::status)))
        .select(CONNECTION)
        .order((connections::created_at.asc(), connections::ref_id.asc()))
        .limit(i64::from(query.limit))
}

/// The type of [`user_ids`].
pub type UserIds<'a> = diesel::dsl::Limit<
    Order<
        diesel::dsl::Distinct<
            Select<
                Filter<
                    connections::table,
                    And<Eq<connections::tenant_id, &'a str>, diesel::dsl::Gt<connections::user_id, &'a str>>,
                >,
                connections::user_id,
            >,
        >,
        Asc<connections::user_id>,
    >,
>;

/// The ids of one page of users (see [`UserQuery`]) in byte order (the owner index's prefix
/// serves it).
pub fn user_ids(query: &UserQuery) -> UserIds<'_> {
    connections::table
        .filter(connections::tenant_id.eq(query.tenant.as_str()).and(connections::user_id.gt(query.after_id())))
        .select(connections::user_id)
        .distinct()
        .order(connections::user_id.asc())
        .limit(i64::from(query.limit))
}

/// The type of [`status_counts`].
pub type StatusCountsOf<'a> = Order<
    Select<
        diesel::dsl::GroupBy<
            Filter<
                connections::table,
                And<
                    And<Eq<connections::tenant_id, &'a str>, diesel::dsl::Gt<connections::user_id, &'a str>>,
                    diesel::dsl::LtEq<connections::user_id, &'a str>,
                >,
            >,
            (connections::user_id, connections::status),
        >,
        (connections::user_id, connections::status, diesel::dsl::count_star),
    >,
    Asc<connections::user_id>,
>;

/// How many connections each user of the page of [`user_ids`] whose last id is `last` has in
/// each status.
pub fn status_counts<'a>(query: &'a UserQuery, last: &'a str) -> StatusCountsOf<'a> {
    connections::table
        .filter(
            connections::tenant_id
                .eq(query.tenant.as_str())
                .and(connections::user_id.gt(query.after_id()))
                .and(connections::user_id.le(last)),
        )
        .group_by((connections::user_id, connections::status))
        .select((connections::user_id, connections::status, diesel::dsl::count_star()))
        .order(connections::user_id.asc())
}

/// Folds the rows of [`status_counts`] (by user id) into one summary per user.
pub fn summaries(rows: Vec<(String, String, i64)>) -> Result<Vec<UserSummary>, StoreError> {
    let mut users: Vec<UserSummary> = Vec::new();
    for (user_id, status, count) in rows {
        let bad = |e| corrupt("connections", &user_id, e);
        let status = ConnectionStatus::parse(&status)
            .ok_or_else(|| bad(ParseError::new("status", "is not a connection status")))?;
        if users.last().is_none_or(|u| u.user.as_str() != user_id) {
            let user = UserId::parse(&user_id).map_err(bad)?;
            users.push(UserSummary { user, connections: StatusCounts::default() });
        }
        if let Some(last) = users.last_mut() {
            last.connections.add(status, u64::try_from(count).unwrap_or(0));
        }
    }
    Ok(users)
}

/// The type of [`pending_before`].
pub type PendingBefore = Order<
    Select<
        Filter<Filter<connections::table, Eq<connections::status, &'static str>>, Lt<connections::updated_at, i64>>,
        ConnectionColumns,
    >,
    (Asc<connections::updated_at>, Asc<connections::ref_id>),
>;

/// The `pending_oauth` connections of every owner last written before `updated_before`, oldest
/// first (the status prefix of the scheduler's `(status, expires_at)` index serves it).
pub fn pending_before(updated_before: Timestamp) -> PendingBefore {
    connections::table
        .filter(connections::status.eq(ConnectionStatus::PendingOAuth.as_str()))
        .filter(connections::updated_at.lt(updated_before.unix()))
        .select(CONNECTION)
        .order((connections::updated_at.asc(), connections::ref_id.asc()))
}

/// The type of [`mark_used`].
pub type MarkUsed<'a> = diesel::dsl::Update<
    Filter<connections::table, diesel::dsl::EqAny<connections::ref_id, &'a [String]>>,
    Eq<connections::last_used_at, Option<i64>>,
>;

/// Sets `last_used_at` of the connections `ref_ids` (any owner's: the proxy's batched write).
pub fn mark_used(ref_ids: &[String], at: Timestamp) -> MarkUsed<'_> {
    diesel::update(connections::table.filter(connections::ref_id.eq_any(ref_ids)))
        .set(connections::last_used_at.eq(Some(at.unix())))
}

/// The type of [`insert`].
pub type Insert<'a> = Values<diesel::dsl::insert_into<connections::table>, NewConnectionRow<'a>>;

/// `INSERT` a new connection.
pub fn insert(row: NewConnectionRow<'_>) -> Insert<'_> {
    diesel::insert_into(connections::table).values(row)
}

/// The type of [`update_if`].
pub type UpdateIf<'a> =
    Set<diesel::dsl::update<Filter<Owned<'a>, Eq<connections::status, &'static str>>>, ConnectionChanges<'a>>;

/// `UPDATE` the connection `ref_id` of `owner` only if its stored status is still `expected`: the
/// check and the write are one statement, so of racing writers exactly one changes the row.
pub fn update_if<'a>(
    owner: &'a Owner,
    ref_id: &'a str,
    expected: ConnectionStatus,
    changes: ConnectionChanges<'a>,
) -> UpdateIf<'a> {
    diesel::update(owned(owner, ref_id).filter(connections::status.eq(expected.as_str()))).set(changes)
}

/// The type of [`delete`].
pub type Delete<'a> = Returning<diesel::dsl::delete<Owned<'a>>, SecretsColumns>;

/// `DELETE` the connection `ref_id` of `owner` (its flows go by `ON DELETE CASCADE`), returning
/// its secrets: only the caller whose statement removed the row gets them.
pub fn delete<'a>(owner: &'a Owner, ref_id: &'a str) -> Delete<'a> {
    diesel::delete(owned(owner, ref_id)).returning(SECRETS)
}
