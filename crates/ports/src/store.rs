use async_trait::async_trait;
use domain::{Connection, ConnectionStatus, Owner, RefId, Scopes, Timestamp};

use crate::{AuditEvent, BoxError, ConnectionQuery, Sealed, UserQuery, UserSummary};

/// Why a store could not do what was asked. Adapters translate their driver's errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is down, unreachable, or the pool had no connection within its timeout.
    /// Callers answer `503` and try again later.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// A row with the same key exists already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored row does not decode into a domain value (a bug or manual tampering).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Anything else the database said.
    #[error("database error")]
    Internal(#[source] BoxError),
}

/// The sealed secrets that belong to one connection. Which ones are set depends on its auth method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSecrets {
    pub api_key: Option<Sealed>,
    pub access_token: Option<Sealed>,
    pub refresh_token: Option<Sealed>,
}

/// How an update changes a connection's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsUpdate {
    /// Leave them as they are.
    Keep,
    /// Replace the token pair. A `None` refresh token keeps the stored one (spec §7: an answer
    /// without a new refresh token keeps the old).
    Tokens { access_token: Sealed, refresh_token: Option<Sealed> },
    /// Forget the tokens (a failed or expired connection keeps no usable credential).
    ClearTokens,
}

/// A started OAuth authorization, waiting for its callback (spec §5.3). Found by the hash of its
/// `state`; the state itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFlow {
    /// Hex SHA-256 of the `state` value.
    pub state_hash: String,
    pub ref_id: RefId,
    /// The authorization server's issuer, checked against the callback's `iss` (RFC 9207).
    pub issuer: Option<String>,
    /// Whether the authorization server promised to send `iss` on the callback.
    pub iss_required: bool,
    /// The PKCE verifier, sealed with `flows/<state_hash>/pkce_verifier` as associated data.
    pub pkce_verifier: Sealed,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub resource: Option<String>,
    pub return_to: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Hex SHA-256 of the nonce of the browser that must complete the flow (one started on the
    /// hosted connect page); `None`: any browser may (a flow the engine started).
    pub browser_hash: Option<String>,
}

/// Connections and their sealed secrets.
///
/// Every write takes the audit events that describe it and stores them in the same transaction
/// as the change (spec §7): a change is never stored without its record, nor a record without
/// its change.
///
/// Every read and write a caller's request reaches is scoped by its [`Owner`]: a connection of
/// another owner is exactly as absent as one that never existed (nothing returned, nothing
/// changed). Only the methods named `…_any` and [`ConnectionStore::pending_before`] see every
/// owner; they are for the service's own background work (the refresher, the flow sweeper).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
    /// Stores a new connection with its secrets, for OAuth its pending flow, and `events`, in
    /// this order, all or nothing.
    async fn insert(
        &self,
        connection: &Connection,
        secrets: &StoredSecrets,
        flow: Option<PendingFlow>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// The connection `ref_id` of `owner`.
    async fn get(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<Connection>, StoreError>;

    /// The connection `ref_id`, whoever owns it: for background work only, never for a request.
    async fn get_any(&self, ref_id: &RefId) -> Result<Option<Connection>, StoreError>;

    /// Every connection of `owner`, oldest first.
    async fn list(&self, owner: &Owner) -> Result<Vec<Connection>, StoreError>;

    /// One page of `owner`'s connections: at most `query.limit`, in the order of
    /// [`ConnectionStore::list`], strictly after `query.after`, only those of
    /// `query.server_name` and in `query.status` when given.
    async fn list_page(&self, owner: &Owner, query: &ConnectionQuery) -> Result<Vec<Connection>, StoreError>;

    /// The users of `query.tenant` who have at least one connection, by user id in byte order,
    /// strictly after `query.after`, at most `query.limit`; each with their connections by status.
    async fn users(&self, query: &UserQuery) -> Result<Vec<UserSummary>, StoreError>;

    /// The `pending_oauth` connections of every owner last written before `updated_before`
    /// (the flow sweeper's: those a crashed callback left waiting), oldest first.
    async fn pending_before(&self, updated_before: Timestamp) -> Result<Vec<Connection>, StoreError>;

    /// The sealed secrets of the connection `ref_id` of `owner`.
    async fn secrets(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError>;

    /// A connection of `owner` and its secrets, read together in one statement (the credentials
    /// route's read), so they always belong to the same version of the row.
    async fn get_with_secrets(
        &self,
        owner: &Owner,
        ref_id: &RefId,
    ) -> Result<Option<(Connection, StoredSecrets)>, StoreError>;

    /// Writes `connection` (status, scopes, expiry, timestamps) and `secrets`, and records
    /// `event`, if, and only if, the stored row still belongs to `connection.owner` and has
    /// status `expected`. Returns whether it did: `false` means another caller changed or
    /// deleted the connection first, and nothing was written, the event included.
    async fn update(
        &self,
        connection: &Connection,
        expected: ConnectionStatus,
        secrets: &SecretsUpdate,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Deletes the connection and its flows and records `event`, returning its secrets so they
    /// can be revoked. Of concurrent callers exactly one gets `Some`, and only its event is
    /// recorded.
    async fn delete(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        event: &AuditEvent,
    ) -> Result<Option<StoredSecrets>, StoreError>;

    /// Notes that the MCP proxy carried calls of `ref_ids` (of any owner: the background's
    /// batched write) at `at`; an id no longer stored is skipped. Not a change of the connection:
    /// no event, no status, `updated_at` unchanged.
    async fn mark_used_any(&self, ref_ids: &[RefId], at: Timestamp) -> Result<(), StoreError>;

    /// Checks the database answers (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Pending OAuth flows.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Stores the flow of a connection that is re-authorized in place.
    async fn put_flow(&self, flow: &PendingFlow) -> Result<(), StoreError>;

    /// Removes and returns the flow with this state hash. Atomic: of concurrent callers with the
    /// same state exactly one gets it. Expired flows are returned too; the caller decides.
    async fn take_flow(&self, state_hash: &str) -> Result<Option<PendingFlow>, StoreError>;

    /// [`FlowStore::take_flow`], and the connection the flow belongs to as stored at that moment
    /// (`None` when it is gone), read in the same atomic step (one statement on PostgreSQL, one
    /// write on SQLite): the callback's first step, one round trip.
    ///
    /// With an `owner` (a callback an engine relays with its key) only a flow whose connection
    /// belongs to that owner is taken; another owner's flow stays untouched and the answer is
    /// `None`, as for an unknown state. Without one (the browser's callback) the state alone
    /// finds the flow: only whoever started the flow ever saw it.
    ///
    /// A flow bound to a browser (its `browser_hash` set) is taken only when `browser_hash` is
    /// that hash; otherwise it stays untouched and the answer is `None`. A flow bound to no
    /// browser is taken whatever `browser_hash` says.
    async fn take_flow_with_connection<'a>(
        &self,
        state_hash: &str,
        owner: Option<&'a Owner>,
        browser_hash: Option<&'a str>,
    ) -> Result<Option<(PendingFlow, Option<Connection>)>, StoreError>;

    /// Deletes every pending flow of `owner`'s connections (the connections stay), returning
    /// how many it deleted: forgetting a user.
    async fn delete_flows_of(&self, owner: &Owner) -> Result<u64, StoreError>;

    /// Removes and returns up to `limit` flows that expired before `now`.
    async fn take_expired_flows(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingFlow>, StoreError>;
}
