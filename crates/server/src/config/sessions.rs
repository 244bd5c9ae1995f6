//! Connect sessions: what a browser front end may do without the engine key.

use std::time::Duration;

use super::{ConfigError, Source};

/// Connect sessions (`POST /assets/connect-sessions`). Reads:
///
/// - `CONNECT_SESSION_TTL_SECONDS`: life of a connect session and of its hosted page (default
///   `600`, at least `1`).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub ttl: Duration,
}

impl SessionConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &["CONNECT_SESSION_TTL_SECONDS"];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let seconds = source.number::<u64>("CONNECT_SESSION_TTL_SECONDS")?.unwrap_or(600).max(1);
        Ok(Self { ttl: Duration::from_secs(seconds) })
    }
}
