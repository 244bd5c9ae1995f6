//! The outbound OAuth 2 client of the Asset Directory: authorization-code exchange with PKCE,
//! refresh and RFC 7009 revocation, implementing `ports::OAuthClient` with the `oauth2` crate.
//!
//! Every call goes through [`SafeHttp`], one shared reqwest client that never follows redirects,
//! bounds each call by a connect and a total timeout, and enforces the SSRF rule of spec §5.3
//! (only `https` to public addresses, checked on the URL and again on every resolved address)
//! unless private networks are allowed. Other outbound calls (discovery, registration) reuse it.
//! No token, code, verifier or client secret ever reaches a log line or an error message.

mod address;
mod client;
mod errors;
mod guard;
mod http;
mod revoke;
mod transport;

pub use address::{AddressClass, classify};
pub use client::{DEFAULT_REVOKE_TIMEOUT, OAuthAdapter};
pub use guard::{Blocked, PublicOnlyResolver, check_resolved, check_url};
pub use http::{HttpBuildError, HttpConfig, HttpError, SafeHttp};
