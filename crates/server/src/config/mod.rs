//! Configuration (spec §4): built-in defaults < optional TOML file (`AD_CONFIG=path`, the same
//! names in lower case) < environment.
//!
//! One struct per concern, each in its own file with the variables it reads and their defaults:
//! [`HttpConfig`], [`DatabaseConfig`], [`SecretsConfig`] (encryption keys), [`EngineKeyConfig`],
//! [`OAuthConfig`], [`CatalogConfig`], [`RefreshConfig`], [`LogConfig`], [`SessionConfig`],
//! [`IdentityProviderConfig`] (tenant `default`'s enterprise identity provider). This module reads
//! `AD_ENV`, layers the sources, builds every concern and runs the production checks.
//!
//! Values stay text until their setting parses them as its declared type (`Source`): secrets
//! and identifiers exactly as written, numbers as decimal digits, booleans as true or false. A
//! value of the wrong type is refused naming the variable, never repeating the value.

mod catalog;
mod database;
mod engine_key;
mod events;
mod http;
mod identity_provider;
mod keys_file;
mod logging;
mod oauth;
mod proxy;
mod refresh;
mod secrets;
mod sessions;

use std::collections::HashMap;
use std::path::PathBuf;

use secrecy::SecretString;

pub use catalog::{CatalogConfig, EnvSnapshot};
pub use database::DatabaseConfig;
pub use engine_key::EngineKeyConfig;
pub use events::EventsConfig;
pub use http::{HttpConfig, worker_threads};
pub use identity_provider::IdentityProviderConfig;
pub use keys_file::{KeysFileError, Tenants, tenants};
pub use logging::LogConfig;
pub use oauth::OAuthConfig;
pub use proxy::ProxyConfig;
pub use refresh::RefreshConfig;
pub use secrets::SecretsConfig;
pub use sessions::SessionConfig;

/// Why the configuration cannot be used: one line naming the setting, never repeating a value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
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
    pub sessions: SessionConfig,
    pub proxy: ProxyConfig,
    pub events: EventsConfig,
    pub identity_provider: IdentityProviderConfig,
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
    SessionConfig::VARIABLES,
    ProxyConfig::VARIABLES,
    EventsConfig::VARIABLES,
    IdentityProviderConfig::VARIABLES,
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
        // Values stay text here (no guessing of types): each concern parses its own settings as
        // what they are, so a key of digits stays that key. An empty variable is unset.
        let ours: HashMap<String, String> = vars
            .iter()
            .filter(|(k, v)| variables().any(|name| name == k.as_str()) && !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(config::Environment::default().source(Some(ours)));
        Self::read(&Source(builder.build().map_err(unreadable_file)?), EnvSnapshot(vars))
    }

    fn read(source: &Source, env: EnvSnapshot) -> Result<Self, ConfigError> {
        let mode = match source.text("AD_ENV")?.as_deref() {
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
            sessions: SessionConfig::read(source)?,
            proxy: ProxyConfig::read(source)?,
            events: EventsConfig::read(source)?,
            identity_provider: IdentityProviderConfig::read(source)?,
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
        let k = &self.engine_key;
        if k.api_key.is_none() && k.key_hash.is_none() && k.keys_file.is_none() {
            return Err(ConfigError::MissingInProduction("ENGINE_KEY_HASH (or ENGINE_API_KEY, or ENGINE_KEYS_FILE)"));
        }
        if self.secrets.encryption_key.is_none() {
            return Err(ConfigError::MissingInProduction("AD_ENCRYPTION_KEY"));
        }
        Ok(())
    }
}

/// Whether `url` is an absolute http(s) URL with a host (catalog endpoints, identity providers).
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(()),
        _ => Err("must be an absolute http(s) URL".into()),
    }
}

/// Why the `AD_CONFIG` file could not be read. A syntax error says where, not what: the
/// parser's own message quotes the line, which may hold a secret.
fn unreadable_file(error: config::ConfigError) -> ConfigError {
    let reason = match &error {
        config::ConfigError::FileParse { cause, .. } => {
            let cause = cause.to_string();
            let at = cause.lines().next().and_then(|l| l.split_once(" at ")).map(|(_, at)| at.to_owned());
            format!("the file is not valid TOML{}", at.map(|at| format!(" (at {at})")).unwrap_or_default())
        }
        other => other.to_string(),
    };
    invalid("AD_CONFIG", reason)
}

/// The file and the environment, layered, as text; each concern reads its variables from here
/// as their declared types and supplies its own defaults.
struct Source(config::Config);

impl Source {
    /// `name`'s value exactly as written, if the file or the environment sets it; an empty value
    /// is unset. In the file it must be a quoted string: TOML would have rewritten a bare
    /// `1e3`, `1_000` or `0x1F` before the service saw it.
    fn text(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.0.get::<config::Value>(&name.to_ascii_lowercase()) {
            Ok(value) if !matches!(value.kind, config::ValueKind::String(_) | config::ValueKind::Nil) => {
                Err(invalid(name, "must be a quoted string in the configuration file"))
            }
            _ => self.scalar(name),
        }
    }

    /// `name`'s value as text, whatever scalar the file gave (a number or a flag may be bare).
    fn scalar(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        debug_assert!(variables().any(|v| v == name), "{name} is read but not listed, so never set");
        match self.0.get_string(&name.to_ascii_lowercase()) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(config::ConfigError::NotFound(_)) => Ok(None),
            Err(_) => Err(invalid(name, "must be a single value, not a table or a list")),
        }
    }

    /// A secret: text exactly as written, so an empty key never becomes a valid key.
    fn secret(&self, name: &'static str) -> Result<Option<SecretString>, ConfigError> {
        Ok(self.text(name)?.map(SecretString::from))
    }

    /// A path, as written.
    fn path(&self, name: &'static str) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self.text(name)?.map(PathBuf::from))
    }

    /// A whole number of decimal digits (leading zeros allowed, no sign, no fraction, no
    /// exponent) that fits `T`.
    fn number<T: TryFrom<u64>>(&self, name: &'static str) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.scalar(name)? else { return Ok(None) };
        let digits = text.trim();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(name, "must be a whole number (decimal digits only)"));
        }
        let too_large = || invalid(name, "is too large");
        let n: u64 = digits.parse().map_err(|_| too_large())?;
        T::try_from(n).map(Some).map_err(|_| too_large())
    }

    /// A boolean: `true`/`false`, also `yes`/`no`, `on`/`off`, `1`/`0`, in any case.
    fn flag(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        let Some(text) = self.scalar(name)? else { return Ok(None) };
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            _ => Err(invalid(name, "must be true or false")),
        }
    }
}

/// A comma list, its items trimmed, empty ones dropped.
fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod typed_tests;
