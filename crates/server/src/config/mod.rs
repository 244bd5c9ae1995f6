//! Configuration (spec §4): built-in defaults < optional TOML file (`AD_CONFIG=path`, the same
//! names in lower case) < environment.
//!
//! One struct per concern, each in its own file with the variables it reads and their defaults:
//! [`HttpConfig`], [`DatabaseConfig`], [`SecretsConfig`] (encryption keys), [`EngineKeyConfig`],
//! [`OAuthConfig`], [`CatalogConfig`], [`RefreshConfig`], [`LogConfig`]. This module reads
//! `AD_ENV`, layers the sources, builds every concern and runs the production checks.

mod catalog;
mod database;
mod engine_key;
mod http;
mod logging;
mod oauth;
mod refresh;
mod secrets;

use std::collections::HashMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

pub use catalog::{CatalogConfig, EnvSnapshot};
pub use database::DatabaseConfig;
pub use engine_key::EngineKeyConfig;
pub use http::HttpConfig;
pub use logging::LogConfig;
pub use oauth::OAuthConfig;
pub use refresh::RefreshConfig;
pub use secrets::SecretsConfig;

/// Why the configuration cannot be used: one line naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("AD_ENV=production requires {0}")]
    MissingInProduction(&'static str),
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, reason: reason.into() }
}

/// `AD_ENV` (`development` by default): `production` turns on the strict start-up checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Development,
    Production,
}

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: RunMode,
    pub env: EnvSnapshot,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub engine_key: EngineKeyConfig,
    pub oauth: OAuthConfig,
    pub catalog: CatalogConfig,
    pub refresh: RefreshConfig,
    pub log: LogConfig,
}

/// The variables [`Config`] reads itself rather than through a concern.
const OWN_VARIABLES: &[&str] = &["AD_ENV"];

/// Every concern's variables.
const CONCERNS: &[&[&str]] = &[
    HttpConfig::VARIABLES,
    DatabaseConfig::VARIABLES,
    SecretsConfig::VARIABLES,
    EngineKeyConfig::VARIABLES,
    OAuthConfig::VARIABLES,
    CatalogConfig::VARIABLES,
    RefreshConfig::VARIABLES,
    LogConfig::VARIABLES,
    OWN_VARIABLES,
];

/// The environment variables this service reads; everything else in the environment is ignored.
pub fn variables() -> impl Iterator<Item = &'static str> {
    CONCERNS.iter().flat_map(|names| names.iter().copied())
}

impl Config {
    /// Reads the process environment (and the TOML file `AD_CONFIG` names, if any).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(std::env::vars().collect())
    }

    /// Reads `vars` as if they were the environment: tests pass their own.
    pub fn from_map(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = vars.get("AD_CONFIG") {
            builder = builder.add_source(config::File::from(PathBuf::from(path)).format(config::FileFormat::Toml));
        }
        let ours: HashMap<String, String> = vars
            .iter()
            .filter(|(k, _)| variables().any(|v| v == k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(config::Environment::default().source(Some(ours)).try_parsing(true));
        Self::read(&Source(builder.build()?), EnvSnapshot(vars))
    }

    fn read(source: &Source, env: EnvSnapshot) -> Result<Self, ConfigError> {
        let mode = match source.get::<String>("AD_ENV")?.as_deref() {
            None | Some("development") => RunMode::Development,
            Some("production") => RunMode::Production,
            Some(other) => return Err(invalid("AD_ENV", format!("must be development or production, not `{other}`"))),
        };
        let http = HttpConfig::read(source)?;
        let log = LogConfig::read(source, mode)?;
        let oauth = OAuthConfig::read(source, mode, http.listen_addr)?;
        let config = Self {
            mode,
            env,
            database: DatabaseConfig::read(source)?,
            secrets: SecretsConfig::read(source)?,
            engine_key: EngineKeyConfig::read(source)?,
            catalog: CatalogConfig::read(source)?,
            refresh: RefreshConfig::read(source, oauth.outbound_timeout)?,
            http,
            oauth,
            log,
        };
        config.check_production()?;
        Ok(config)
    }

    fn check_production(&self) -> Result<(), ConfigError> {
        if self.mode != RunMode::Production {
            return Ok(());
        }
        if self.engine_key.api_key.is_none() && self.engine_key.key_hash.is_none() {
            return Err(ConfigError::MissingInProduction("ENGINE_KEY_HASH (or ENGINE_API_KEY)"));
        }
        if self.secrets.encryption_key.is_none() {
            return Err(ConfigError::MissingInProduction("AD_ENCRYPTION_KEY"));
        }
        Ok(())
    }
}

/// The file and the environment, layered; each concern reads its variables from here and
/// supplies its own defaults.
struct Source(config::Config);

impl Source {
    /// The value of `name` (an upper-case variable), if the file or the environment sets it.
    fn get<T: DeserializeOwned>(&self, name: &'static str) -> Result<Option<T>, ConfigError> {
        debug_assert!(variables().any(|v| v == name), "{name} is read but not listed, so never set");
        match self.0.get::<T>(&name.to_ascii_lowercase()) {
            Ok(value) => Ok(Some(value)),
            Err(config::ConfigError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A text setting where an empty value means "not set".
    fn non_empty(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self.get::<String>(name)?.filter(|v| !v.trim().is_empty()))
    }

    /// A secret setting: an empty value is "not set", so an empty key never becomes a valid key.
    fn secret(&self, name: &'static str) -> Result<Option<SecretString>, ConfigError> {
        Ok(self.get::<SecretString>(name)?.filter(|s| !s.expose_secret().trim().is_empty()))
    }
}

/// A comma list, its items trimmed, empty ones dropped.
fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests;
