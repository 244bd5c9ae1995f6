//! Configuration (spec §4): built-in defaults < optional TOML file (`AD_CONFIG=path`) <
//! environment. One struct per concern, each listing the variables it reads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

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

/// The flat view of every setting, as the `config` crate reads it (lower-case names).
#[derive(Debug, Deserialize)]
struct Raw {
    listen_addr: String,
    database_url: String,
    database_pool_size: Option<u32>,
    database_timeout_ms: u64,
    database_migrate_on_start: bool,
    ad_encryption_key: Option<SecretString>,
    #[serde(default)]
    ad_encryption_keys_previous: Option<SecretString>,
    engine_api_key: Option<SecretString>,
    engine_key_hash: Option<String>,
    engine_key_hash_previous: Option<String>,
    key_rotation_min_overlap_seconds: u64,
    key_rotation_max_overlap_seconds: u64,
    oauth_redirect_base_url: Option<String>,
    catalog_path: Option<PathBuf>,
    return_url_allowlist: String,
    ad_allow_private_networks: bool,
    oauth_flow_ttl_seconds: u64,
    outbound_timeout_ms: u64,
    refresh_ahead_seconds: u64,
    refresh_interval_seconds: u64,
    refresh_lease_seconds: u64,
    refresh_concurrency: usize,
    refresh_breaker_threshold: u32,
    refresh_breaker_cooldown_seconds: u64,
    log_format: Option<String>,
    rust_log: String,
    ad_env: String,
    ad_data_dir: PathBuf,
    openapi_public: bool,
    metrics_public: bool,
}

/// `AD_ENV`: `production` turns on the strict start-up checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Development,
    Production,
}

/// `LISTEN_ADDR`, `OPENAPI_PUBLIC`, `METRICS_PUBLIC`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen_addr: SocketAddr,
    /// `GET /openapi.json` answers without `X-Engine-Key`.
    pub openapi_public: bool,
    /// `GET /metrics` answers without `X-Engine-Key` (for a scraper that cannot send headers).
    pub metrics_public: bool,
}

/// `DATABASE_URL`, `DATABASE_POOL_SIZE`, `DATABASE_TIMEOUT_MS`, `DATABASE_MIGRATE_ON_START`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: usize,
    pub timeout: Duration,
    /// Apply pending migrations at start-up (the default). When off, a PostgreSQL replica
    /// refuses to start on a schema that is behind (`asset-directory migrate` brings it up to
    /// date). SQLite, one process on its own file, always migrates.
    pub migrate_on_start: bool,
}

/// `AD_ENCRYPTION_KEY`, `AD_ENCRYPTION_KEYS_PREVIOUS` (comma list), `AD_DATA_DIR`.
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    pub encryption_key: Option<SecretString>,
    pub previous_keys: Vec<SecretString>,
    /// Where development keys are generated (`data/` by default).
    pub data_dir: PathBuf,
}

/// `ENGINE_API_KEY`, `ENGINE_KEY_HASH`, `ENGINE_KEY_HASH_PREVIOUS`,
/// `KEY_ROTATION_MIN_OVERLAP_SECONDS`, `KEY_ROTATION_MAX_OVERLAP_SECONDS`.
#[derive(Debug, Clone)]
pub struct EngineKeyConfig {
    pub api_key: Option<SecretString>,
    pub key_hash: Option<[u8; 32]>,
    pub previous_hash: Option<[u8; 32]>,
    pub min_overlap: Duration,
    pub max_overlap: Duration,
}

/// `OAUTH_REDIRECT_BASE_URL`, `OAUTH_FLOW_TTL_SECONDS`, `RETURN_URL_ALLOWLIST` (comma list),
/// `AD_ALLOW_PRIVATE_NETWORKS`, `OUTBOUND_TIMEOUT_MS`.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub redirect_base_url: String,
    pub flow_ttl: Duration,
    /// Bound on every outbound call to an authorization or MCP server (revocation uses less).
    pub outbound_timeout: Duration,
    pub return_url_allowlist: Vec<String>,
    pub allow_private_networks: bool,
}

/// `CATALOG_PATH`.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub path: Option<PathBuf>,
}

/// `REFRESH_AHEAD_SECONDS`, `REFRESH_INTERVAL_SECONDS`, `REFRESH_LEASE_SECONDS`,
/// `REFRESH_CONCURRENCY`, `REFRESH_BREAKER_THRESHOLD`, `REFRESH_BREAKER_COOLDOWN_SECONDS`.
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    pub ahead: Duration,
    pub interval: Duration,
    /// How long a replica's claim on a token holds; longer than twice the outbound timeout.
    pub lease: Duration,
    pub concurrency: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

impl RefreshConfig {
    /// The lifecycle settings: a failed refresh is retried after one interval, doubling up to 30
    /// intervals (at most half an hour); a credentials call waits at most 10 s for another
    /// replica's refresh.
    pub fn settings(&self) -> app::RefreshSettings {
        let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let interval = seconds(self.interval).max(1);
        app::RefreshSettings {
            ahead_seconds: seconds(self.ahead),
            interval: self.interval,
            lease_seconds: seconds(self.lease),
            concurrency: self.concurrency,
            stale_after_seconds: 86_400,
            backoff_base_seconds: interval,
            backoff_max_seconds: interval.saturating_mul(30).min(1_800).max(interval),
            breaker_threshold: self.breaker_threshold,
            breaker_cooldown_seconds: seconds(self.breaker_cooldown),
            lease_wait: Duration::from_secs(10).min(self.lease),
        }
    }
}

/// `LOG_FORMAT` (`pretty` or `json`), `RUST_LOG`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub json: bool,
    pub filter: String,
}

/// The environment the configuration was read from, for the variables the catalog names
/// (OAuth client ids and secrets). Its `Debug` shows no values.
#[derive(Clone, Default)]
pub struct EnvSnapshot(HashMap<String, String>);

impl EnvSnapshot {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvSnapshot({} variables)", self.0.len())
    }
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

const DEFAULTS: &[(&str, &str)] = &[
    ("listen_addr", "127.0.0.1:8000"),
    ("database_url", "sqlite://data/asset-directory.db"),
    ("database_timeout_ms", "5000"),
    ("database_migrate_on_start", "true"),
    ("key_rotation_min_overlap_seconds", "0"),
    ("key_rotation_max_overlap_seconds", "300"),
    ("return_url_allowlist", ""),
    ("ad_allow_private_networks", "false"),
    ("oauth_flow_ttl_seconds", "600"),
    ("outbound_timeout_ms", "10000"),
    ("refresh_ahead_seconds", "300"),
    ("refresh_interval_seconds", "30"),
    ("refresh_lease_seconds", "60"),
    ("refresh_concurrency", "8"),
    ("refresh_breaker_threshold", "5"),
    ("refresh_breaker_cooldown_seconds", "60"),
    ("rust_log", "info"),
    ("ad_env", "development"),
    ("ad_data_dir", "data"),
    ("openapi_public", "false"),
    ("metrics_public", "false"),
];

impl Config {
    /// Reads the process environment (and the TOML file `AD_CONFIG` names, if any).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(std::env::vars().collect())
    }

    /// Reads `vars` as if they were the environment: tests pass their own.
    pub fn from_map(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        for (key, value) in DEFAULTS {
            builder = builder.set_default(*key, *value)?;
        }
        if let Some(path) = vars.get("AD_CONFIG") {
            builder = builder.add_source(config::File::from(PathBuf::from(path)).format(config::FileFormat::Toml));
        }
        let ours: HashMap<String, String> =
            vars.iter().filter(|(k, _)| is_ours(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        builder = builder.add_source(config::Environment::default().source(Some(ours)).try_parsing(true));
        let mut raw: Raw = builder.build()?.try_deserialize()?;
        // An empty variable means "not set": an empty key must never become a valid key.
        for secret in [&mut raw.engine_api_key, &mut raw.ad_encryption_key, &mut raw.ad_encryption_keys_previous] {
            if secret.as_ref().is_some_and(|s| secrecy::ExposeSecret::expose_secret(s).trim().is_empty()) {
                *secret = None;
            }
        }
        for value in [&mut raw.engine_key_hash, &mut raw.engine_key_hash_previous, &mut raw.oauth_redirect_base_url] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        Self::from_raw(raw, EnvSnapshot(vars))
    }

    fn from_raw(raw: Raw, env: EnvSnapshot) -> Result<Self, ConfigError> {
        let mode = match raw.ad_env.as_str() {
            "development" => RunMode::Development,
            "production" => RunMode::Production,
            other => return Err(invalid("AD_ENV", format!("must be development or production, not `{other}`"))),
        };
        let listen_addr: SocketAddr =
            raw.listen_addr.parse().map_err(|_| invalid("LISTEN_ADDR", "must be an address like 127.0.0.1:8000"))?;
        let json_logs = match raw.log_format.as_deref() {
            None => mode == RunMode::Production,
            Some("json") => true,
            Some("pretty") => false,
            Some(_) => return Err(invalid("LOG_FORMAT", "must be pretty or json")),
        };
        let redirect_base_url = match (raw.oauth_redirect_base_url, mode) {
            (Some(url), _) => parse_base_url(&url)?,
            (None, RunMode::Production) => return Err(ConfigError::MissingInProduction("OAUTH_REDIRECT_BASE_URL")),
            (None, RunMode::Development) => format!("http://{listen_addr}"),
        };
        let min_overlap = Duration::from_secs(raw.key_rotation_min_overlap_seconds);
        let max_overlap = Duration::from_secs(raw.key_rotation_max_overlap_seconds).max(min_overlap);
        let config = Self {
            mode,
            env,
            http: HttpConfig { listen_addr, openapi_public: raw.openapi_public, metrics_public: raw.metrics_public },
            database: DatabaseConfig {
                url: raw.database_url,
                pool_size: raw.database_pool_size.map_or_else(default_pool_size, |n| n.max(1) as usize),
                timeout: Duration::from_millis(raw.database_timeout_ms.max(1)),
                migrate_on_start: raw.database_migrate_on_start,
            },
            secrets: SecretsConfig {
                encryption_key: raw.ad_encryption_key,
                previous_keys: split_secrets(raw.ad_encryption_keys_previous.as_ref()),
                data_dir: raw.ad_data_dir,
            },
            engine_key: EngineKeyConfig {
                api_key: raw.engine_api_key,
                key_hash: raw.engine_key_hash.as_deref().map(|h| parse_digest("ENGINE_KEY_HASH", h)).transpose()?,
                previous_hash: raw
                    .engine_key_hash_previous
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .map(|h| parse_digest("ENGINE_KEY_HASH_PREVIOUS", h))
                    .transpose()?,
                min_overlap,
                max_overlap,
            },
            oauth: OAuthConfig {
                redirect_base_url,
                flow_ttl: Duration::from_secs(raw.oauth_flow_ttl_seconds.max(1)),
                outbound_timeout: Duration::from_millis(raw.outbound_timeout_ms.max(100)),
                return_url_allowlist: split_list(&raw.return_url_allowlist),
                allow_private_networks: raw.ad_allow_private_networks,
            },
            catalog: CatalogConfig { path: raw.catalog_path },
            refresh: RefreshConfig {
                ahead: Duration::from_secs(raw.refresh_ahead_seconds),
                interval: Duration::from_secs(raw.refresh_interval_seconds.max(1)),
                lease: Duration::from_secs(raw.refresh_lease_seconds),
                concurrency: raw.refresh_concurrency.max(1),
                breaker_threshold: raw.refresh_breaker_threshold.max(1),
                breaker_cooldown: Duration::from_secs(raw.refresh_breaker_cooldown_seconds.max(1)),
            },
            log: LogConfig { json: json_logs, filter: raw.rust_log },
        };
        if config.refresh.lease <= 2 * config.oauth.outbound_timeout {
            // A lease that ran out while its holder still waits for the provider would let a
            // second replica spend the same refresh token.
            return Err(invalid("REFRESH_LEASE_SECONDS", "must be more than twice OUTBOUND_TIMEOUT_MS"));
        }
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

/// The environment variables this service reads; everything else in the environment is ignored.
pub const VARIABLES: &[&str] = &[
    "LISTEN_ADDR",
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "DATABASE_TIMEOUT_MS",
    "DATABASE_MIGRATE_ON_START",
    "AD_ENCRYPTION_KEY",
    "AD_ENCRYPTION_KEYS_PREVIOUS",
    "ENGINE_API_KEY",
    "ENGINE_KEY_HASH",
    "ENGINE_KEY_HASH_PREVIOUS",
    "KEY_ROTATION_MIN_OVERLAP_SECONDS",
    "KEY_ROTATION_MAX_OVERLAP_SECONDS",
    "OAUTH_REDIRECT_BASE_URL",
    "CATALOG_PATH",
    "RETURN_URL_ALLOWLIST",
    "AD_ALLOW_PRIVATE_NETWORKS",
    "OAUTH_FLOW_TTL_SECONDS",
    "OUTBOUND_TIMEOUT_MS",
    "REFRESH_AHEAD_SECONDS",
    "REFRESH_INTERVAL_SECONDS",
    "REFRESH_LEASE_SECONDS",
    "REFRESH_CONCURRENCY",
    "REFRESH_BREAKER_THRESHOLD",
    "REFRESH_BREAKER_COOLDOWN_SECONDS",
    "LOG_FORMAT",
    "RUST_LOG",
    "AD_ENV",
    "AD_DATA_DIR",
    "OPENAPI_PUBLIC",
    "METRICS_PUBLIC",
];

fn is_ours(key: &str) -> bool {
    VARIABLES.contains(&key)
}

fn default_pool_size() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4).clamp(4, 32)
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn split_secrets(list: Option<&SecretString>) -> Vec<SecretString> {
    use secrecy::ExposeSecret;
    list.map(|l| split_list(l.expose_secret()).into_iter().map(SecretString::from).collect()).unwrap_or_default()
}

fn parse_digest(name: &'static str, hex_digest: &str) -> Result<[u8; 32], ConfigError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out)
        .map_err(|_| invalid(name, "must be 64 hex characters (the SHA-256 of the key)"))?;
    Ok(out)
}

fn parse_base_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| invalid("OAUTH_REDIRECT_BASE_URL", "must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("OAUTH_REDIRECT_BASE_URL", "must be an http(s) URL without query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_serve_sqlite_on_the_loopback_port_8000() {
        let c = Config::from_map(vars(&[])).unwrap();
        assert_eq!(c.http.listen_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.database.url, "sqlite://data/asset-directory.db");
        assert_eq!(c.oauth.redirect_base_url, "http://127.0.0.1:8000");
        assert_eq!(c.oauth.flow_ttl, Duration::from_secs(600));
        assert_eq!(c.mode, RunMode::Development);
        assert!(!c.log.json);
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ad.toml");
        std::fs::write(&file, "listen_addr = \"127.0.0.1:9000\"\noauth_flow_ttl_seconds = 60\n").unwrap();
        let c = Config::from_map(vars(&[
            ("AD_CONFIG", file.to_str().unwrap()),
            ("OAUTH_FLOW_TTL_SECONDS", "30"),
            ("RETURN_URL_ALLOWLIST", "https://a.example, https://b.example/done"),
        ]))
        .unwrap();
        assert_eq!(c.http.listen_addr.port(), 9000);
        assert_eq!(c.oauth.flow_ttl, Duration::from_secs(30));
        assert_eq!(c.oauth.return_url_allowlist, ["https://a.example", "https://b.example/done"]);
    }

    #[test]
    fn production_refuses_to_start_without_keys_and_names_what_is_missing() {
        let err = Config::from_map(vars(&[("AD_ENV", "production")])).unwrap_err();
        assert_eq!(err.to_string(), "AD_ENV=production requires OAUTH_REDIRECT_BASE_URL");
        let err =
            Config::from_map(vars(&[("AD_ENV", "production"), ("OAUTH_REDIRECT_BASE_URL", "https://ad.example")]))
                .unwrap_err();
        assert_eq!(err.to_string(), "AD_ENV=production requires ENGINE_KEY_HASH (or ENGINE_API_KEY)");
        let hash = "a".repeat(64);
        let err = Config::from_map(vars(&[
            ("AD_ENV", "production"),
            ("OAUTH_REDIRECT_BASE_URL", "https://ad.example"),
            ("ENGINE_KEY_HASH", &hash),
        ]))
        .unwrap_err();
        assert_eq!(err.to_string(), "AD_ENV=production requires AD_ENCRYPTION_KEY");
    }

    #[test]
    fn a_malformed_key_hash_is_refused_without_echoing_it() {
        let err = Config::from_map(vars(&[("ENGINE_KEY_HASH", "not-a-digest-secretish")])).unwrap_err();
        assert!(err.to_string().starts_with("ENGINE_KEY_HASH:"));
        assert!(!err.to_string().contains("secretish"));
    }

    #[test]
    fn debug_output_redacts_secret_settings() {
        let c =
            Config::from_map(vars(&[("ENGINE_API_KEY", "ek-distinctive"), ("AD_ENCRYPTION_KEY", "enc-distinctive")]))
                .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("ek-distinctive") && !shown.contains("enc-distinctive"));
    }

    #[test]
    fn metrics_and_the_openapi_document_need_the_key_unless_made_public() {
        let c = Config::from_map(vars(&[])).unwrap();
        assert!(!c.http.openapi_public && !c.http.metrics_public);
        let c = Config::from_map(vars(&[("OPENAPI_PUBLIC", "true"), ("METRICS_PUBLIC", "true")])).unwrap();
        assert!(c.http.openapi_public && c.http.metrics_public);
    }
}
