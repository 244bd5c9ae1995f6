//! The contract's cases. Each takes a fresh, empty store and panics when the store breaks the
//! contract of `crates/ports/src/store.rs`, `audit.rs`, `registration.rs`, `rekey.rs`,
//! `refresh.rs`, `session.rs` or `events.rs`.

mod audit;
mod connections;
mod deletes;
mod deliveries;
mod events;
mod flows;
mod owners;
mod pages;
mod refresh;
mod registrations;
mod rekey;
mod sessions;
mod updates;
mod webhooks;

pub use audit::*;
pub use connections::*;
pub use deletes::*;
pub use deliveries::*;
pub use events::*;
pub use flows::*;
pub use owners::*;
pub use pages::*;
pub use refresh::*;
pub use registrations::*;
pub use rekey::*;
pub use sessions::*;
pub use updates::*;
pub use webhooks::*;

use ports::StoreError;

/// Whether `result` is the `Conflict` a duplicate key must give.
fn is_conflict<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}
