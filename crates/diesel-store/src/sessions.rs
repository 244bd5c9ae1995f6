//! The `connect_sessions` table: each open connect session by the hash of its token, and the
//! queries of `ConnectSessionStore`.

use diesel::dsl::{Find, Lt, Select, Values};
use diesel::prelude::*;
use domain::{ConnectSession, Owner, ServerName, TenantId, Timestamp, UserId};
use ports::StoreError;

use crate::corrupt;
use crate::schema::connect_sessions;

columns! {
    /// The columns of a [`SessionRow`], in its order (it reads them by position).
    SessionColumns, SESSION = connect_sessions(
        token_hash, tenant_id, user_id, allowed_servers, return_to, created_at, expires_at,
    )
}

/// A connect session row. `None` is inserted as `NULL`, so the insert's text never varies.
#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = connect_sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    token_hash: String,
    tenant_id: String,
    user_id: String,
    allowed_servers: Option<String>,
    return_to: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub fn new(s: &ConnectSession) -> Self {
        let allowed =
            s.allowed_servers.as_ref().map(|names| names.iter().map(ServerName::as_str).collect::<Vec<_>>().join(" "));
        Self {
            token_hash: s.token_hash.clone(),
            tenant_id: s.owner.tenant.as_str().to_owned(),
            user_id: s.owner.user.as_str().to_owned(),
            allowed_servers: allowed,
            return_to: s.return_to.clone(),
            created_at: s.created_at.unix(),
            expires_at: s.expires_at.unix(),
        }
    }

    pub fn into_domain(self) -> Result<ConnectSession, StoreError> {
        let bad = |e| corrupt("connect_sessions", &self.token_hash, e);
        let owner =
            Owner::new(TenantId::parse(&self.tenant_id).map_err(bad)?, UserId::parse(&self.user_id).map_err(bad)?);
        let allowed_servers = match &self.allowed_servers {
            Some(names) => {
                Some(names.split_whitespace().map(ServerName::parse).collect::<Result<Vec<_>, _>>().map_err(bad)?)
            }
            None => None,
        };
        Ok(ConnectSession {
            token_hash: self.token_hash,
            owner,
            allowed_servers,
            return_to: self.return_to,
            created_at: Timestamp::from_unix(self.created_at),
            expires_at: Timestamp::from_unix(self.expires_at),
        })
    }
}

/// `INSERT` a session.
pub fn add(row: &SessionRow) -> Values<diesel::dsl::insert_into<connect_sessions::table>, &SessionRow> {
    diesel::insert_into(connect_sessions::table).values(row)
}

/// The session whose token hashes to `token_hash`.
pub fn find(token_hash: &str) -> Select<Find<connect_sessions::table, &str>, SessionColumns> {
    connect_sessions::table.find(token_hash).select(SESSION)
}

/// The type of [`delete_of`].
pub type DeleteOf<'a> = diesel::dsl::delete<
    diesel::dsl::Filter<
        connect_sessions::table,
        diesel::dsl::And<
            diesel::dsl::Eq<connect_sessions::tenant_id, &'a str>,
            diesel::dsl::Eq<connect_sessions::user_id, &'a str>,
        >,
    >,
>;

/// `DELETE` every session of `owner`.
pub fn delete_of(owner: &Owner) -> DeleteOf<'_> {
    diesel::delete(connect_sessions::table.filter(
        connect_sessions::tenant_id.eq(owner.tenant.as_str()).and(connect_sessions::user_id.eq(owner.user.as_str())),
    ))
}

/// `DELETE` the sessions that expired before `now`.
pub fn delete_expired(
    now: Timestamp,
) -> diesel::dsl::delete<diesel::dsl::Filter<connect_sessions::table, Lt<connect_sessions::expires_at, i64>>> {
    diesel::delete(connect_sessions::table.filter(connect_sessions::expires_at.lt(now.unix())))
}
