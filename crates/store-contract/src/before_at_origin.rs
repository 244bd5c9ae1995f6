//! A database as the schema before `discovered_authorizations.at_origin` (migration
//! `…_authorization_at_origin`) left it, for each store's upgrade test: a discovered connection
//! and its binding written by SQL on either backend, kept by the upgraded store as a binding found
//! through protected resource metadata, which then stores a binding to a server's origin.

use domain::Connection;
use ports::DiscoveredAuthorization;

use crate::ContractStore;
use crate::fixtures;

/// The name the migration ends with.
pub const MIGRATION: &str = "_authorization_at_origin";

fn connected() -> Connection {
    fixtures::connected_oauth_connection(6)
}

fn binding() -> DiscoveredAuthorization {
    DiscoveredAuthorization {
        ref_id: connected().ref_id,
        issuer: "https://as.example".into(),
        client_id: "client-6".into(),
        resource: "https://mcp6.example/mcp".into(),
        at_origin: false,
        own_client: None,
        identity_provider: None,
    }
}

/// SQL that stores, in the schema before the column, a connected OAuth connection and the
/// authorization server it was discovered at.
pub fn insert_sql() -> String {
    let (c, b) = (connected(), binding());
    format!(
        "{}; INSERT INTO discovered_authorizations (ref_id, issuer, client_id, resource) VALUES ('{}', '{}', '{}', '{}');",
        crate::before_account::insert_connection_sql(&c),
        b.ref_id,
        b.issuer,
        b.client_id,
        b.resource,
    )
}

/// The upgraded `store` reads the binding of [`insert_sql`] as one to published metadata, and
/// keeps a binding to default endpoints written after.
pub async fn assert_kept<S: ContractStore>(store: S) {
    let old = binding();
    assert_eq!(
        store.authorization_of(&old.ref_id).await.expect("read"),
        Some(old.clone()),
        "kept, found through resource metadata"
    );
    let defaults = DiscoveredAuthorization { issuer: "https://mcp6.example".into(), at_origin: true, ..old };
    store.bind_authorization(&defaults).await.expect("bind");
    assert_eq!(store.authorization_of(&defaults.ref_id).await.expect("read"), Some(defaults));
}
