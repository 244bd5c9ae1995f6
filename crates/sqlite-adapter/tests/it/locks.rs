//! A database locked by another writer makes the store answer `Unavailable` within its timeout,
//! keeps reads working (WAL), and recovers when the lock goes.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use ports::{ConnectionStore, StoreError, StoredSecrets};
use sqlite_adapter::{SqliteConfig, SqliteStore};
use store_contract::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_blocked_by_another_writer_is_unavailable_and_reads_go_on() {
    let (_dir, path) = super::temp_db();
    let timeout = Duration::from_millis(300);
    let store = SqliteStore::connect(&super::url(&path), SqliteConfig { pool_size: 2, timeout }).await.expect("open");
    let existing = fixtures::bare_connection(1);
    store.insert(&existing, &StoredSecrets::default(), None, &[]).await.expect("insert");

    let mut other_writer = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    other_writer.batch_execute("BEGIN IMMEDIATE").expect("take the write lock");

    let started = Instant::now();
    let blocked = store.insert(&fixtures::bare_connection(2), &StoredSecrets::default(), None, &[]).await;
    let waited = started.elapsed();
    assert!(matches!(blocked, Err(StoreError::Unavailable(_))), "got {blocked:?}");
    assert!(waited >= timeout, "the store waited for the lock ({waited:?}) before giving up");
    assert!(waited < timeout * 20, "and gave up soon after its timeout ({waited:?})");
    assert_eq!(
        store.get(&fixtures::seed_owner(), &existing.ref_id).await.expect("a read beside the writer"),
        Some(existing)
    );

    other_writer.batch_execute("ROLLBACK").expect("release the lock");
    store
        .insert(&fixtures::bare_connection(2), &StoredSecrets::default(), None, &[])
        .await
        .expect("insert after release");
    assert_eq!(store.list(&fixtures::seed_owner()).await.expect("list").len(), 2);
}
