//! The embedded migrations: they apply, revert completely and apply again, and the CHECK
//! constraints hold what the domain allows and nothing else.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::MigrationHarness;
use ports::{ConnectionStore, StoreError, StoredSecrets};
use sqlite_adapter::MIGRATIONS;
use store_contract::fixtures;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The tables in the file, sorted, without SQLite's own.
fn tables(conn: &mut SqliteConnection) -> Vec<String> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .load(conn)
    .expect("list tables");
    names.into_iter().map(|n| n.name).collect()
}

#[tokio::test]
async fn migrations_run_up_revert_completely_and_run_up_again() {
    let (_dir, path) = super::temp_db();
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    let store_tables = [
        "__diesel_schema_migrations",
        "audit_events",
        "client_registrations",
        "connect_sessions",
        "connections",
        "deliveries",
        "discovered_authorizations",
        "events",
        "oauth_flows",
        "webhooks",
    ];

    conn.run_pending_migrations(MIGRATIONS).expect("up");
    assert_eq!(tables(&mut conn), store_tables);

    conn.revert_all_migrations(MIGRATIONS).expect("down");
    assert_eq!(tables(&mut conn), ["__diesel_schema_migrations"], "down.sql drops everything up.sql made");
    assert!(conn.has_pending_migration(MIGRATIONS).expect("pending"), "reverted migrations are pending again");

    conn.run_pending_migrations(MIGRATIONS).expect("up again");
    assert_eq!(tables(&mut conn), store_tables);
    drop(conn);

    let store = super::open(&path).await;
    let connection = fixtures::full_connection(1);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert after up, down, up");
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), Some(connection));
}

#[tokio::test]
async fn the_schema_refuses_a_status_the_domain_does_not_know() {
    let (_dir, path) = super::temp_db();
    let _store = super::open(&path).await;
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    let insert = |status: &str| {
        format!(
            "INSERT INTO connections (ref_id, server_name, transport, auth_method, status, created_at, updated_at) \
             VALUES ('conn-{status}', 's', 'sse', 'none', '{status}', 0, 0)"
        )
    };
    conn.batch_execute(&insert("connected")).expect("a known status is stored");
    let refused = conn.batch_execute(&insert("deleted"));
    assert!(refused.is_err(), "an unknown status is refused by the CHECK constraint");
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_reported_corrupt() {
    let (_dir, path) = super::temp_db();
    let store = super::open(&path).await;
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    conn.batch_execute(
        "INSERT INTO connections (ref_id, server_name, transport, auth_method, status, created_at, updated_at) \
         VALUES ('conn-not-a-ref-id', 'BAD NAME', 'sse', 'none', 'connected', 0, 0)",
    )
    .expect("a row written behind the store's back");

    let listed = store.list(&fixtures::seed_owner()).await;
    assert!(matches!(listed, Err(StoreError::Corrupt(_))), "got {listed:?}");
}

/// A new database file with every migration applied that comes before the one whose name ends
/// with `migration`: the schema an older release left. Returns the directory to keep, the
/// file, and a connection to write rows as that schema had them.
fn schema_before(migration: &str) -> (tempfile::TempDir, std::path::PathBuf, SqliteConnection) {
    let (dir, path) = super::temp_db();
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    let pending = conn.pending_migrations(MIGRATIONS).expect("pending");
    let next = pending.iter().position(|m| m.name().to_string().ends_with(migration)).expect("listed");
    for earlier in &pending[..next] {
        conn.run_migration(earlier).expect("a migration of the previous schema");
    }
    (dir, path, conn)
}

#[tokio::test]
async fn a_database_made_before_the_label_column_upgrades_in_place_and_keeps_its_connections() {
    let (_dir, path, mut conn) = schema_before("_connection_label");
    let connection = fixtures::bare_connection(7);
    conn.batch_execute(&format!(
        "INSERT INTO connections (ref_id, server_name, transport, auth_method, status, created_at, updated_at) \
         VALUES ('{}', '{}', 'stdio', 'none', 'connected', {t}, {t})",
        connection.ref_id,
        connection.server_name,
        t = fixtures::T0.unix(),
    ))
    .expect("a connection stored by the previous schema");
    drop(conn);

    let store = super::open(&path).await;
    assert_eq!(
        store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"),
        Some(connection),
        "kept, with no label"
    );
}

#[tokio::test]
async fn a_database_made_before_owners_upgrades_in_place_with_every_row_under_the_default_owner() {
    use store_contract::before_owners;
    let (_dir, path, mut conn) = schema_before(before_owners::MIGRATION);
    let hex = |bytes: &[u8]| format!("X'{}'", bytes.iter().map(|b| format!("{b:02X}")).collect::<String>());
    conn.batch_execute(&before_owners::insert_sql(hex)).expect("rows stored by the previous schema");
    drop(conn);

    before_owners::assert_kept(super::open(&path).await).await;
}

#[tokio::test]
async fn a_registration_stored_when_there_was_one_per_issuer_is_kept_and_found_by_its_client() {
    use ports::{RegistrationStore, RekeyStore, SealedField};

    let (_dir, path, mut conn) = schema_before("_registrations_per_client");
    let (issuer, redirect_uri) = ("https://as.example", "https://directory.example/assets/oauth/callback");
    conn.batch_execute(&format!(
        "INSERT INTO client_registrations (issuer, client_id, client_secret, auth_method, redirect_uri, created_at) \
         VALUES ('{issuer}', 'client-1', X'0102', 'client_secret_basic', '{redirect_uri}', {})",
        fixtures::T0.unix(),
    ))
    .expect("a registration stored by the previous schema");
    drop(conn);

    let store = super::open(&path).await;
    let by_client = store.client_registration(issuer, "client-1").await.expect("by client");
    assert_eq!(by_client.as_ref().map(|r| r.redirect_uri.as_str()), Some(redirect_uri));
    assert_eq!(store.registration(issuer, redirect_uri).await.expect("by redirect URI"), by_client);
    let walked = store.sealed_after(SealedField::RegistrationClientSecret, None, 10).await.expect("walk");
    assert_eq!(walked.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["https://as.example client-1"]);
}

#[tokio::test]
async fn a_database_made_before_the_account_column_upgrades_in_place_and_then_stores_accounts() {
    use store_contract::before_account;
    let (_dir, path, mut conn) = schema_before(before_account::MIGRATION);
    conn.batch_execute(&before_account::insert_sql()).expect("a connection stored by the previous schema");
    drop(conn);

    before_account::assert_kept(super::open(&path).await).await;
}

#[tokio::test]
async fn a_database_made_before_at_origin_upgrades_in_place_and_keeps_its_bindings() {
    use store_contract::before_at_origin;
    let (_dir, path, mut conn) = schema_before(before_at_origin::MIGRATION);
    conn.batch_execute(&before_at_origin::insert_sql()).expect("rows stored by the previous schema");
    drop(conn);

    before_at_origin::assert_kept(super::open(&path).await).await;
}
