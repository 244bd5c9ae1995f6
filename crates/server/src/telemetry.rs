//! Logging: pretty lines in development, JSON in production, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogConfig;

/// Installs the global subscriber, writing to `writer`. Call once per process.
pub fn init<W>(config: &LogConfig, writer: W) -> Result<(), String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.filter).map_err(|e| format!("RUST_LOG: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = if config.json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
    result.map_err(|e| e.to_string())
}
