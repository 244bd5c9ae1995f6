//! A database as the schema before `connections.account` (migration `…_connection_account`)
//! left it, for each store's upgrade test: a connection written by SQL on either backend, kept
//! with no account by the upgraded store, which then stores the account a refresh names.

use domain::{Account, Connection, ConnectionStatus};
use ports::SecretsUpdate;

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// The name the account migration ends with.
pub const MIGRATION: &str = "_connection_account";

fn connected() -> Connection {
    fixtures::connected_oauth_connection(5)
}

/// SQL that stores, in the schema before the account column, a connected OAuth connection.
pub fn insert_sql() -> String {
    insert_connection_sql(&connected())
}

/// SQL that stores the connected OAuth connection `c` with the columns every schema since the
/// owners migration has (no account, no label, no secrets).
pub fn insert_connection_sql(c: &Connection) -> String {
    format!(
        "INSERT INTO connections (ref_id, tenant_id, user_id, server_name, url, transport, auth_method, status, \
         scopes, expires_at, created_at, updated_at) VALUES ('{}', '{}', '{}', '{}', '{}', 'streamable_http', \
         'oauth', 'connected', '{}', {}, {}, {})",
        c.ref_id,
        c.owner.tenant.as_str(),
        c.owner.user.as_str(),
        c.server_name,
        c.url.clone().unwrap_or_default(),
        c.scopes.to_delimited(),
        c.expires_at.map_or(0, |t| t.unix()),
        c.created_at.unix(),
        c.updated_at.unix(),
    )
}

/// The upgraded `store` finds the connection of [`insert_sql`] as it was, with no account, and
/// keeps the account its next update names.
pub async fn assert_kept<S: ContractStore>(store: S) {
    let mut c = connected();
    assert_eq!(store.get(&c.owner, &c.ref_id).await.expect("get"), Some(c.clone()), "kept, with no account");
    c.record_refresh(None, Some(T0.plus_seconds(7_200)), T0.plus_seconds(60)).expect("refresh");
    c.name_account(Account::from_provider("ada@example.com"));
    let updated = store
        .update(&c, ConnectionStatus::Connected, &SecretsUpdate::Keep, &fixtures::change(&c))
        .await
        .expect("update");
    assert!(updated, "the upgraded row is updated");
    assert_eq!(store.get(&c.owner, &c.ref_id).await.expect("get"), Some(c), "the account is stored");
}
