//! Rows as diesel reads and writes them, and their translation to and from domain values.

mod rows;

pub(crate) use rows::{AuditRow, ConnectionChanges, ConnectionRow, FlowRow, NewConnectionRow, SecretsRow};
