//! What the two stores share, written once: the diesel schema of `migrations/{sqlite,postgres}`
//! ([`schema`]), the rows both read and write with their translation to and from domain values,
//! and the queries both run, built with diesel's DSL (SQL text with diesel's binds where the
//! column is a value: `rekey`), for any backend. A store crate
//! keeps only what really differs: how it connects, pools and executes (sync diesel on SQLite's
//! one writer, diesel-async on PostgreSQL), the statements diesel cannot express, and the
//! translation of its driver's errors into [`ports::StoreError`].
//!
//! One module per table (or per port over a table): each holds its rows and its queries. A query
//! here is a value, not a call: the store executes it with its own `RunQueryDsl` (diesel's or
//! diesel-async's), and the backend writes its own SQL and placeholders for it. A row that is
//! read is `Queryable` by position, next to the tuple of columns that selects it
//! (`connections::CONNECTION`), so one query serves every backend.
//!
//! Rows carry sealed bytes only (sealing stays in `app`); the `Debug` of a row with secrets shows
//! none of them. A diesel statement's own `Debug` (and `debug_query`) does print its binds, sealed
//! bytes included: never log a statement, nor turn on diesel instrumentation that records binds.
//! Reading a row back re-validates every value: a row that does not decode is
//! [`ports::StoreError::Corrupt`], naming the row by a bounded prefix of its key, never a secret.

/// Declares the tuple of columns a row reads by position, as a type and as its one value (what a
/// query selects): `columns! { /// doc
/// Type, CONST = table(column, …) }`.
macro_rules! columns {
    ($(#[$doc:meta])* $ty:ident, $value:ident = $table:ident($($column:ident),+ $(,)?)) => {
        $(#[$doc])*
        pub type $ty = ($($table::$column,)+);
        #[doc = concat!("The value of [`", stringify!($ty), "`].")]
        pub const $value: $ty = ($($table::$column,)+);
    };
}

pub mod audit;
pub mod connections;
pub mod deliveries;
pub mod events;
pub mod flows;
pub mod refresh;
pub mod registrations;
pub mod rekey;
pub mod schema;
pub mod sessions;
pub mod webhooks;

use domain::ParseError;
use ports::StoreError;

/// The error for a row of `table` that does not decode, naming it by a bounded prefix of its
/// key (the key itself may be what is damaged, so it is never repeated whole).
pub(crate) fn corrupt(table: &str, key: &str, error: ParseError) -> StoreError {
    let key: String = key.chars().take(domain::RefId::PREFIX.len() + 26).collect();
    StoreError::Corrupt(format!("{table} row `{key}`: {error}"))
}
