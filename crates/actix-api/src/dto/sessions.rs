//! The bodies of `POST /assets/connect-sessions`. Its answer carries the session token, a
//! secret handed out exactly once: its `Debug` shows none of it.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// `POST /assets/connect-sessions`. A field it does not list is refused, never ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionBody {
    /// The catalog servers the session may connect (1 to 100 names, each in the catalog);
    /// absent or `null`: any catalog server. Never a custom server.
    #[serde(default)]
    #[schema(example = json!(["github", "linear"]))]
    pub allowed_servers: Option<Vec<String>>,
    /// Where the browser goes once an OAuth flow started in the session ends (unless the
    /// connect names its own); must start with a prefix of `RETURN_URL_ALLOWLIST`.
    #[serde(default)]
    #[schema(example = "https://app.example/done")]
    pub return_to: Option<String>,
}

/// An opened connect session.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionResponse {
    /// The bearer token for `POST /assets/connect` (and the hosted page behind `connect_url`).
    /// Shown once; the service keeps only its SHA-256.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, example = "Jx3v…43 characters…")]
    pub session_token: SecretString,
    /// When the token stops working (`CONNECT_SESSION_TTL_SECONDS` after it was opened).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The hosted connect page for this session: open it in the user's browser.
    pub connect_url: String,
}

fn expose<S: Serializer>(token: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(token.expose_secret())
}

impl fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionResponse").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}
