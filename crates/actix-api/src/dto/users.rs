//! What the tenant-wide user routes answer: a user with their connections by status, and what
//! forgetting a user did.

use app::Forgotten;
use ports::UserSummary;
use serde::Serialize;
use utoipa::ToSchema;

/// A user of the caller's tenant who has at least one connection.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserDto {
    /// The id the engine names the user by (`X-End-User-Id`).
    #[schema(example = "alice@example.com")]
    user_id: String,
    /// How many connections they have, in every status.
    connections: u64,
    by_status: StatusCountsDto,
}

/// How many connections a user has in each status (every status, zero included).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusCountsDto {
    pending_oauth: u64,
    connected: u64,
    expired: u64,
    failed: u64,
}

impl From<&UserSummary> for UserDto {
    fn from(u: &UserSummary) -> Self {
        let c = u.connections;
        Self {
            user_id: u.user.to_string(),
            connections: c.total(),
            by_status: StatusCountsDto {
                pending_oauth: c.pending_oauth,
                connected: c.connected,
                expired: c.expired,
                failed: c.failed,
            },
        }
    }
}

/// What forgetting a user did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ForgetResponse {
    user_id: String,
    /// Their connections deleted (each recorded `disconnected` in its audit history).
    connections_deleted: u64,
    /// Tokens of the deleted connections handed to revocation, which runs after this answer
    /// (each recorded `revoked` or `revocation_failed` in the connection's history): a provider
    /// that is down never holds the answer.
    revocations_scheduled: u64,
    /// Their pending OAuth flows erased: those `state`s no longer complete.
    flows_deleted: u64,
}

impl ForgetResponse {
    pub(crate) fn new(user_id: &domain::UserId, done: Forgotten) -> Self {
        Self {
            user_id: user_id.to_string(),
            connections_deleted: done.connections_deleted,
            revocations_scheduled: done.revocations_scheduled,
            flows_deleted: done.flows_deleted,
        }
    }
}
