//! The OAuth flows and every outbound call they make.

use std::net::SocketAddr;
use std::time::Duration;

use super::{ConfigError, RunMode, Source, invalid, split_list};

/// OAuth and outbound calls. Reads:
///
/// - `OAUTH_REDIRECT_BASE_URL`: the public base URL (default `http://<LISTEN_ADDR>` in
///   development; required in production);
/// - `OAUTH_FLOW_TTL_SECONDS`: life of a pending authorization (default `600`);
/// - `RETURN_URL_ALLOWLIST`: comma list of URL prefixes a `return_to` may start with (default none);
/// - `AD_ALLOW_PRIVATE_NETWORKS`: allow outbound calls to loopback and private addresses and plain
///   `http` (default `false`);
/// - `OUTBOUND_TIMEOUT_MS`: bound on each call to an authorization or MCP server (default `10000`);
/// - `REGISTRATION_RETRY_SECONDS`: at most one registration fallback per issuer within this long
///   (default `3600`, at least 1).
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub redirect_base_url: String,
    pub flow_ttl: Duration,
    /// Bound on every outbound call to an authorization or MCP server (revocation uses less).
    pub outbound_timeout: Duration,
    pub return_url_allowlist: Vec<String>,
    pub allow_private_networks: bool,
    /// At most one registration fallback per issuer within this long (issue 18 §2).
    pub registration_retry: Duration,
}

impl OAuthConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "OAUTH_REDIRECT_BASE_URL",
        "OAUTH_FLOW_TTL_SECONDS",
        "RETURN_URL_ALLOWLIST",
        "AD_ALLOW_PRIVATE_NETWORKS",
        "OUTBOUND_TIMEOUT_MS",
        "REGISTRATION_RETRY_SECONDS",
    ];

    /// `listen_addr` is the development default's host.
    pub(super) fn read(source: &Source, mode: RunMode, listen_addr: SocketAddr) -> Result<Self, ConfigError> {
        let redirect_base_url = match (source.text("OAUTH_REDIRECT_BASE_URL")?, mode) {
            (Some(url), _) => parse_base_url(&url)?,
            (None, RunMode::Production) => return Err(ConfigError::MissingInProduction("OAUTH_REDIRECT_BASE_URL")),
            (None, RunMode::Development) => format!("http://{listen_addr}"),
        };
        Ok(Self {
            redirect_base_url,
            flow_ttl: Duration::from_secs(source.number::<u64>("OAUTH_FLOW_TTL_SECONDS")?.unwrap_or(600).max(1)),
            outbound_timeout: Duration::from_millis(
                source.number::<u64>("OUTBOUND_TIMEOUT_MS")?.unwrap_or(10_000).max(100),
            ),
            return_url_allowlist: split_list(&source.text("RETURN_URL_ALLOWLIST")?.unwrap_or_default()),
            allow_private_networks: source.flag("AD_ALLOW_PRIVATE_NETWORKS")?.unwrap_or(false),
            registration_retry: Duration::from_secs(
                source.number::<u64>("REGISTRATION_RETRY_SECONDS")?.unwrap_or(3_600).max(1),
            ),
        })
    }
}

fn parse_base_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| invalid("OAUTH_REDIRECT_BASE_URL", "must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("OAUTH_REDIRECT_BASE_URL", "must be an http(s) URL without query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}
