//! The contract's cases. Each takes a fresh, empty store and panics when the store breaks the
//! contract of `crates/ports/src/store.rs`, `audit.rs`, `registration.rs`, `rekey.rs`,
//! `refresh.rs` or `session.rs`.

mod audit;
mod connections;
mod deletes;
mod flows;
mod owners;
mod pages;
mod refresh;
mod registrations;
mod rekey;
mod sessions;
mod updates;

pub use audit::*;
pub use connections::*;
pub use deletes::*;
pub use flows::*;
pub use owners::*;
pub use pages::*;
pub use refresh::*;
pub use registrations::*;
pub use rekey::*;
pub use sessions::*;
pub use updates::*;

use ports::StoreError;

/// Whether `result` is the `Conflict` a duplicate key must give.
fn is_conflict<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}
