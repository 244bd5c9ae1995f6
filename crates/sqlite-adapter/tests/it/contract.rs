//! The shared store contract, on a fresh database file per case.

use store_contract::StoreFixture;
use tempfile::TempDir;

/// A store and the temporary directory its file lives in, removed after the case.
struct Fixture {
    store: sqlite_adapter::SqliteStore,
    _dir: TempDir,
}

impl StoreFixture for Fixture {
    type Store = sqlite_adapter::SqliteStore;

    fn store(&self) -> Self::Store {
        self.store.clone()
    }
}

async fn fresh() -> Fixture {
    let (dir, path) = super::temp_db();
    Fixture { store: super::open(&path).await, _dir: dir }
}

store_contract::contract_tests!(fresh());
