//! Pages of a listing: which rows a caller asks for (an owner's connections, a tenant's users)
//! and what a store answers. Paging is by keyset: a page starts strictly after the last row of
//! the previous one, so rows written meanwhile never shift a page.

use domain::{ConnectionStatus, RefId, ServerName, TenantId, Timestamp, UserId};

/// Where the previous page of connections ended: its last row's `(created_at, ref_id)`, the
/// listing's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionPosition {
    pub created_at: Timestamp,
    pub ref_id: RefId,
}

/// One page of an owner's connections: at most `limit`, oldest first, after `after`, only of
/// `server_name` and only in `status` when given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionQuery {
    pub after: Option<ConnectionPosition>,
    pub limit: u32,
    pub server_name: Option<ServerName>,
    pub status: Option<ConnectionStatus>,
}

/// One page of a tenant's users: at most `limit`, by user id in byte order, after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    pub tenant: TenantId,
    pub after: Option<UserId>,
    pub limit: u32,
}

impl UserQuery {
    /// The id the page starts after: `""`, before every id, for the first page.
    pub fn after_id(&self) -> &str {
        self.after.as_ref().map_or("", UserId::as_str)
    }
}

/// How many connections one user has in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub pending_oauth: u64,
    pub connected: u64,
    pub expired: u64,
    pub failed: u64,
}

impl StatusCounts {
    /// Adds `count` connections in `status`.
    pub fn add(&mut self, status: ConnectionStatus, count: u64) {
        let slot = match status {
            ConnectionStatus::PendingOAuth => &mut self.pending_oauth,
            ConnectionStatus::Connected => &mut self.connected,
            ConnectionStatus::Expired => &mut self.expired,
            ConnectionStatus::Failed => &mut self.failed,
        };
        *slot += count;
    }

    pub fn total(&self) -> u64 {
        self.pending_oauth + self.connected + self.expired + self.failed
    }
}

/// A user of a tenant (one who has a connection) and their connections by status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user: UserId,
    pub connections: StatusCounts,
}
