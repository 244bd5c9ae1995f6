//! The embedded migrations: reversible, idempotent, and safe when replicas start together.

use domain::Timestamp;
use ports::{ConnectionStore, StoredSecrets};
use postgres_adapter::{PgStore, migrate, revert_all_migrations};

use crate::support::{config, empty_database, tables, url_of};

const STORE_TABLES: [&str; 3] = ["audit_events", "connections", "oauth_flows"];

fn has_store_tables(tables: &[String]) -> bool {
    STORE_TABLES.iter().all(|t| tables.iter().any(|have| have == t))
}

fn has_no_store_tables(tables: &[String]) -> bool {
    STORE_TABLES.iter().all(|t| !tables.iter().any(|have| have == t))
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again_on_a_fresh_database() {
    let db = empty_database().await;
    let url = url_of(&db);
    assert!(has_no_store_tables(&tables(&db).await));

    let applied = migrate(&url, config()).await.expect("up");
    assert!(!applied.is_empty(), "a fresh database gets every migration");
    assert!(has_store_tables(&tables(&db).await), "{:?}", tables(&db).await);

    let reverted = revert_all_migrations(&url, config()).await.expect("down");
    let mut reverted_sorted = reverted.clone();
    reverted_sorted.sort();
    assert_eq!(reverted_sorted, applied, "down reverts exactly what up applied");
    assert!(has_no_store_tables(&tables(&db).await), "{:?}", tables(&db).await);

    assert_eq!(migrate(&url, config()).await.expect("up again"), applied);
    assert!(has_store_tables(&tables(&db).await));

    let store = PgStore::connect(&url, config()).await.expect("connect");
    let connection = store_contract::fixtures::full_connection(1);
    store.insert(&connection, &StoredSecrets::default(), None).await.expect("the migrated schema stores");
    assert_eq!(store.get(&connection.ref_id).await.expect("get"), Some(connection));
}

#[tokio::test]
async fn a_second_migration_run_applies_nothing() {
    let url = url_of(&empty_database().await);
    assert!(!migrate(&url, config()).await.expect("first").is_empty());
    assert_eq!(migrate(&url, config()).await.expect("second"), Vec::<String>::new());
    PgStore::connect(&url, config()).await.expect("connecting to a migrated database migrates nothing");
}

#[tokio::test]
async fn replicas_starting_together_apply_each_migration_exactly_once() {
    let db = empty_database().await;
    let url = url_of(&db);
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move { migrate(&url, config()).await.expect("migrate") });
    }
    let mut applied: Vec<String> = starts.join_all().await.into_iter().flatten().collect();
    applied.sort();

    assert!(has_store_tables(&tables(&db).await));
    let mut once = revert_all_migrations(&url, config()).await.expect("down");
    once.sort();
    assert_eq!(applied, once, "each migration was applied by exactly one replica");
}

#[tokio::test]
async fn the_schema_refuses_values_the_domain_does_not_have() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let url = url_of(&empty_database().await);
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
