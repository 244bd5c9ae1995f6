use domain::{EventId, RefId, Timestamp, WebhookId};
use secrecy::SecretString;

/// The wall clock. Use cases never read the system time themselves, so tests can move time.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// The same clock in milliseconds since the Unix epoch: for intervals shorter than the
    /// seconds of [`Clock::now`] can measure (the MCP proxy's credential cache). It reads the
    /// same time, so `now_millis() / 1000 == now().unix()` at any one instant.
    fn now_millis(&self) -> i64;
}

/// Unpredictable identifiers and tokens from a cryptographically secure source.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait IdSource: Send + Sync + 'static {
    /// A fresh connection reference (`conn-` + 128 random bits).
    fn ref_id(&self) -> RefId;
    /// 256 random bits as 43 characters of unpadded base64url: OAuth `state` values and PKCE
    /// verifiers (RFC 7636 allows exactly this alphabet and length).
    fn secret_token(&self) -> SecretString;
    /// A fresh event id (`evt_` + 128 random bits).
    fn event_id(&self) -> EventId;
    /// A fresh webhook endpoint id (`wh_` + 128 random bits).
    fn webhook_id(&self) -> WebhookId;
    /// A Standard Webhooks signing secret: `whsec_` and 32 random bytes in standard base64.
    fn signing_secret(&self) -> SecretString;
}
