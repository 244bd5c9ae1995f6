//! What the service logs, and how.

use super::{ConfigError, RunMode, Source, invalid};

/// The logs. Reads:
///
/// - `LOG_FORMAT`: `pretty` or `json` (default `pretty` in development, `json` in production);
/// - `RUST_LOG`: the log filter (default `info`).
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub json: bool,
    pub filter: String,
}

impl LogConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &["LOG_FORMAT", "RUST_LOG"];

    pub(super) fn read(source: &Source, mode: RunMode) -> Result<Self, ConfigError> {
        let json = match source.text("LOG_FORMAT")?.as_deref() {
            None => mode == RunMode::Production,
            Some("json") => true,
            Some("pretty") => false,
            Some(_) => return Err(invalid("LOG_FORMAT", "must be pretty or json")),
        };
        Ok(Self { json, filter: source.text("RUST_LOG")?.unwrap_or_else(|| "info".to_owned()) })
    }
}
