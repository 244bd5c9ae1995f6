//! The embedded migrations: reversible, idempotent, and safe when replicas start together.

use domain::Timestamp;
use ports::{ConnectionStore, StoredSecrets};
use postgres_adapter::{PgStore, migrate, pending_migrations, revert_all_migrations};

use crate::support::{FreshDatabase, config, empty_schema, tables, tables_in, url_of};

const STORE_TABLES: [&str; 9] = [
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

fn has_store_tables(tables: &[String]) -> bool {
    STORE_TABLES.iter().all(|t| tables.iter().any(|have| have == t))
}

fn has_no_store_tables(tables: &[String]) -> bool {
    STORE_TABLES.iter().all(|t| !tables.iter().any(|have| have == t))
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again_on_a_fresh_database() {
    let database = FreshDatabase::create().await;
    let url = database.url();
    let public = "public";
    assert!(has_no_store_tables(&tables_in(&url, public).await));

    let applied = migrate(&url, config()).await.expect("up");
    assert!(!applied.is_empty(), "a fresh database gets every migration");
    assert!(has_store_tables(&tables_in(&url, public).await), "{:?}", tables_in(&url, public).await);

    let mut reverted = revert_all_migrations(&url, config()).await.expect("down");
    reverted.sort();
    assert_eq!(reverted, applied, "down reverts exactly what up applied");
    assert!(has_no_store_tables(&tables_in(&url, public).await), "{:?}", tables_in(&url, public).await);

    assert_eq!(migrate(&url, config()).await.expect("up again"), applied);
    assert!(has_store_tables(&tables_in(&url, public).await));

    let store = PgStore::connect(&url, config()).await.expect("connect");
    let connection = store_contract::fixtures::full_connection(1);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("the migrated schema stores");
    assert_eq!(
        store.get(&store_contract::fixtures::seed_owner(), &connection.ref_id).await.expect("get"),
        Some(connection)
    );
    drop(store);
    database.drop().await;
}

#[tokio::test]
async fn a_second_migration_run_applies_nothing() {
    let url = url_of(&empty_schema().await);
    assert!(!migrate(&url, config()).await.expect("first").is_empty());
    assert_eq!(migrate(&url, config()).await.expect("second"), Vec::<String>::new());
    PgStore::connect(&url, config()).await.expect("connecting to a migrated database migrates nothing");
}

#[tokio::test]
async fn pending_migrations_are_listed_without_being_applied() {
    let schema = empty_schema().await;
    let url = url_of(&schema);
    let pending = pending_migrations(&url, config()).await.expect("pending on an empty schema");
    assert!(has_no_store_tables(&tables(&schema).await), "listing applies nothing");
    assert_eq!(pending_migrations(&url, config()).await.expect("again"), pending);

    let mut applied = migrate(&url, config()).await.expect("up");
    applied.sort();
    let mut listed = pending;
    listed.sort();
    assert_eq!(listed, applied, "what was pending is what migrating applies");
    assert_eq!(pending_migrations(&url, config()).await.expect("after"), Vec::<String>::new());
}

#[tokio::test]
async fn replicas_starting_together_apply_each_migration_exactly_once() {
    let schema = empty_schema().await;
    let url = url_of(&schema);
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move { migrate(&url, config()).await.expect("migrate") });
    }
    let mut applied: Vec<String> = starts.join_all().await.into_iter().flatten().collect();
    applied.sort();

    assert!(has_store_tables(&tables(&schema).await));
    let mut once = revert_all_migrations(&url, config()).await.expect("down");
    once.sort();
    assert_eq!(applied, once, "each migration was applied by exactly one replica");
}

#[tokio::test]
async fn the_schema_refuses_values_the_domain_does_not_have() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let url = url_of(&empty_schema().await);
    migrate(&url, config()).await.expect("up");
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
    let now = Timestamp::from_unix(1_800_000_000).unix();
    let refused = conn
        .batch_execute(&format!(
            "INSERT INTO connections (ref_id, server_name, transport, auth_method, status, created_at, updated_at) \
             VALUES ('conn-x', 'x', 'carrier_pigeon', 'none', 'connected', {now}, {now})"
        ))
        .await;
    assert!(refused.is_err(), "an unknown transport is refused by the CHECK constraint");
}

/// A new schema migrated to the newest, then with the migration `version` (whose `down.sql` is
/// `down`) undone and forgotten, as if never run: the schema an older release left. Returns its
/// URL and a connection to write rows as that schema had them.
async fn schema_before(down: &str, version: &str) -> (String, diesel_async::AsyncPgConnection) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let url = url_of(&empty_schema().await);
    migrate(&url, config()).await.expect("up");
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
    conn.batch_execute(down).await.expect("the migration reverts");
    conn.batch_execute(&format!("DELETE FROM __diesel_schema_migrations WHERE version = '{version}'"))
        .await
        .expect("forget it");
    (url, conn)
}

#[tokio::test]
async fn a_database_made_before_owners_upgrades_in_place_with_every_row_under_the_default_owner() {
    use diesel_async::SimpleAsyncConnection;
    use store_contract::before_owners;
    let down = include_str!("../../../../migrations/postgres/2026-12-07-100000_owners/down.sql");
    let (url, mut conn) = schema_before(down, "20261207100000").await;
    let hex = |bytes: &[u8]| format!("'\\x{}'::bytea", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    conn.batch_execute(&before_owners::insert_sql(hex)).await.expect("rows stored by the previous schema");
    drop(conn);

    before_owners::assert_kept(PgStore::connect(&url, config()).await.expect("connect and upgrade")).await;
}

#[tokio::test]
async fn a_registration_stored_when_there_was_one_per_issuer_is_kept_and_found_by_its_client() {
    use diesel_async::SimpleAsyncConnection;
    use ports::{RegistrationStore, RekeyStore, SealedField};
    let down = include_str!("../../../../migrations/postgres/2026-12-07-050000_registrations_per_client/down.sql");
    let (url, mut conn) = schema_before(down, "20261207050000").await;
    let (issuer, redirect_uri) = ("https://as.example", "https://directory.example/assets/oauth/callback");
    conn.batch_execute(&format!(
        "INSERT INTO client_registrations (issuer, client_id, client_secret, auth_method, redirect_uri, created_at) \
         VALUES ('{issuer}', 'client-1', '\\x0102'::bytea, 'client_secret_basic', '{redirect_uri}', 1)"
    ))
    .await
    .expect("a registration stored by the previous schema");
    drop(conn);

    let store = PgStore::connect(&url, config()).await.expect("connect and upgrade");
    let by_client = store.client_registration(issuer, "client-1").await.expect("by client");
    assert_eq!(by_client.as_ref().map(|r| r.redirect_uri.as_str()), Some(redirect_uri));
    assert_eq!(store.registration(issuer, redirect_uri).await.expect("by redirect URI"), by_client);
    let walked = store.sealed_after(SealedField::RegistrationClientSecret, None, 10).await.expect("walk");
    assert_eq!(walked.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["https://as.example client-1"]);
}

#[tokio::test]
async fn a_database_made_before_the_account_column_upgrades_in_place_and_then_stores_accounts() {
    use diesel_async::SimpleAsyncConnection;
    use store_contract::before_account;
    let down = include_str!("../../../../migrations/postgres/2026-12-07-140000_connection_account/down.sql");
    let (url, mut conn) = schema_before(down, "20261207140000").await;
    conn.batch_execute(&before_account::insert_sql()).await.expect("a connection stored by the previous schema");
    drop(conn);

    before_account::assert_kept(PgStore::connect(&url, config()).await.expect("connect and upgrade")).await;
}

#[tokio::test]
async fn a_database_made_before_at_origin_upgrades_in_place_and_keeps_its_bindings() {
    use diesel_async::SimpleAsyncConnection;
    use store_contract::before_at_origin;
    let down = include_str!("../../../../migrations/postgres/2026-12-07-160000_authorization_at_origin/down.sql");
    let (url, mut conn) = schema_before(down, "20261207160000").await;
    conn.batch_execute(&before_at_origin::insert_sql()).await.expect("rows stored by the previous schema");
    drop(conn);

    before_at_origin::assert_kept(PgStore::connect(&url, config()).await.expect("connect and upgrade")).await;
}
