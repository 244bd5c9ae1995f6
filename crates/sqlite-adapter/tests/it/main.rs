//! Integration tests of the SQLite store on real files in temporary directories: the shared
//! store contract, then what only SQLite has (WAL, migrations, files on disk, locks).

mod contract;
mod files;
mod locks;
mod migrations;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlite_adapter::{SqliteConfig, SqliteStore};
use tempfile::TempDir;

/// A fresh directory and the database file to create in it.
fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    (dir, path)
}

/// The `sqlite:///absolute/path` URL of `path`.
fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Opens the store at `path` with a small pool and a short timeout.
async fn open(path: &Path) -> SqliteStore {
    let config = SqliteConfig { pool_size: 4, timeout: Duration::from_secs(5) };
    SqliteStore::connect(&url(path), config).await.expect("the store opens")
}
