//! The MCP proxy (issue 16): its tokens, timeouts and what a connection may export.

use std::time::Duration;

use super::{ConfigError, Source, invalid};

/// The longest a replica may reuse an opened credential: the longest another replica's
/// disconnect may go unseen by its proxy.
const MAX_CREDENTIAL_CACHE_MS: u64 = 60_000;

/// The MCP proxy. Reads:
///
/// - `PROXY_TOKEN_TTL_SECONDS`: life of the proxy token `…/credentials` hands out (default
///   `900`, at least `1`);
/// - `PROXY_FIRST_BYTE_TIMEOUT_MS`: how long an MCP server may take to begin its answer (default
///   `60000`, the SDKs' own request timeout); a timeout is `504 MCP_UPSTREAM_TIMEOUT`;
/// - `PROXY_IDLE_TIMEOUT_SECONDS`: how long an answer's stream may stay silent before it is
///   closed (default `300`); a stream that flows is never cut;
/// - `CREDENTIALS_EXPORTABLE`: whether a connect that does not say is exportable, i.e. its
///   `…/credentials` hands out the upstream secret (default `true`);
/// - `STEP_UP_MAX_ATTEMPTS`: reauthorizations for more scopes in a row per connection (default
///   `2`);
/// - `PROXY_CREDENTIAL_CACHE_MS`: how long a replica's proxy reuses a credential it opened
///   (default `1000`, at most `60000`; `0` reads the store on every call). Another replica's
///   disconnect or refresh reaches this one's proxy at most this much later.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub token_ttl: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub exportable_by_default: bool,
    pub step_up_max_attempts: u32,
    pub credential_cache: Duration,
}

impl ProxyConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "PROXY_TOKEN_TTL_SECONDS",
        "PROXY_FIRST_BYTE_TIMEOUT_MS",
        "PROXY_IDLE_TIMEOUT_SECONDS",
        "CREDENTIALS_EXPORTABLE",
        "STEP_UP_MAX_ATTEMPTS",
        "PROXY_CREDENTIAL_CACHE_MS",
    ];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            token_ttl: Duration::from_secs(source.number::<u64>("PROXY_TOKEN_TTL_SECONDS")?.unwrap_or(900).max(1)),
            first_byte_timeout: Duration::from_millis(
                source.number::<u64>("PROXY_FIRST_BYTE_TIMEOUT_MS")?.unwrap_or(60_000).max(1),
            ),
            idle_timeout: Duration::from_secs(
                source.number::<u64>("PROXY_IDLE_TIMEOUT_SECONDS")?.unwrap_or(300).max(1),
            ),
            exportable_by_default: source.flag("CREDENTIALS_EXPORTABLE")?.unwrap_or(true),
            step_up_max_attempts: source.number::<u32>("STEP_UP_MAX_ATTEMPTS")?.unwrap_or(2),
            credential_cache: Duration::from_millis(match source.number::<u64>("PROXY_CREDENTIAL_CACHE_MS")? {
                Some(ms) if ms > MAX_CREDENTIAL_CACHE_MS => {
                    return Err(invalid("PROXY_CREDENTIAL_CACHE_MS", "must be at most 60000 (a minute)"));
                }
                given => given.unwrap_or(1_000),
            }),
        })
    }

    /// What the use cases take of it.
    pub fn settings(&self) -> app::ProxySettings {
        app::ProxySettings {
            token_ttl_seconds: i64::try_from(self.token_ttl.as_secs()).unwrap_or(i64::MAX),
            exportable_by_default: self.exportable_by_default,
            step_up_max_attempts: self.step_up_max_attempts,
            credential_cache: self.credential_cache,
        }
    }
}
