//! The store on disk: where the file goes, its journal mode, what survives a restart, and what
//! the bytes in the file are.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use ports::{AuditKind, AuditLog, ConnectionStore, FlowStore, Sealed, StoredSecrets};
use sqlite_adapter::{ConnectError, SqliteConfig, SqliteStore};
use store_contract::fixtures::{self, T0};

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

#[tokio::test]
async fn the_database_is_created_with_its_directories_in_wal_mode() {
    let (dir, _) = super::temp_db();
    let path = dir.path().join("nested").join("deeper").join("store.db");
    let store = super::open(&path).await;
    assert_eq!(store.path(), path);
    assert!(path.is_file(), "the file and its parent directories exist");

    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn).expect("journal mode");
    assert_eq!(mode.journal_mode, "wal");
}

#[tokio::test]
async fn an_in_memory_database_is_refused() {
    let result = SqliteStore::connect("sqlite::memory:", SqliteConfig::default()).await;
    assert!(matches!(result, Err(ConnectError::InvalidUrl(_))), "got {result:?}");
}

#[tokio::test]
async fn everything_stored_survives_closing_and_reopening_the_store() {
    let (_dir, path) = super::temp_db();
    let connection = fixtures::pending_connection(1, T0);
    let secrets = fixtures::all_secrets("kept");
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    let event = fixtures::event(&connection.ref_id, AuditKind::Created, Some("by the user"), T0);

    let store = super::open(&path).await;
    store.insert(&connection, &secrets, Some(flow.clone()), &[]).await.expect("insert");
    store.record(&event).await.expect("record");
    drop(store);

    let reopened = super::open(&path).await;
    assert_eq!(reopened.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), Some(connection.clone()));
    assert_eq!(reopened.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), Some(secrets));
    assert_eq!(reopened.events(&fixtures::seed_owner(), &connection.ref_id).await.expect("events"), vec![event]);
    assert_eq!(reopened.take_flow(&flow.state_hash).await.expect("take"), Some(flow));
}

/// Stands in for the cipher: bytes that differ from the plaintext everywhere.
fn seal_stand_in(plaintext: &str) -> Sealed {
    Sealed(plaintext.bytes().rev().map(|b| b ^ 0x5A).collect())
}

/// Every file of the database's directory, one after another.
fn database_files(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list the directory") {
        match std::fs::read(entry.expect("an entry").path()) {
            Ok(content) => bytes.extend(content),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("read a database file: {e}"),
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[tokio::test]
async fn the_file_holds_the_sealed_bytes_given_and_never_the_plaintext() {
    let (dir, path) = super::temp_db();
    let plaintexts = ["xoxb-1111-plaintext-api-key", "gho_plaintext_access_token_2222", "plaintext-refresh-3333"];
    let sealed = plaintexts.map(seal_stand_in);
    let secrets = StoredSecrets {
        api_key: Some(sealed[0].clone()),
        access_token: Some(sealed[1].clone()),
        refresh_token: Some(sealed[2].clone()),
    };
    let connection = fixtures::connected_oauth_connection(1);

    let store = super::open(&path).await;
    store.insert(&connection, &secrets, None, &[]).await.expect("insert");
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), Some(secrets));
    drop(store);

    // The database file and, if a connection left one, its write-ahead log. The writer thread
    // may still be closing its connection, which checkpoints the log into the database and
    // removes it: a read between the two sees neither copy, so the files are read again until
    // the closing is over (a bounded wait, not a measure of time).
    let mut bytes = Vec::new();
    for _ in 0..100 {
        bytes = database_files(dir.path());
        if sealed.iter().all(|s| contains(&bytes, &s.0)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for (plaintext, sealed) in plaintexts.iter().zip(&sealed) {
        assert!(contains(&bytes, &sealed.0), "the sealed bytes are stored as given");
        assert!(!contains(&bytes, plaintext.as_bytes()), "no plaintext secret reaches the file");
    }
}
