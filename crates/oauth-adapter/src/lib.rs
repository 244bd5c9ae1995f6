//! The outbound OAuth 2 client of the Asset Directory: authorization-code exchange with PKCE,
//! refresh and RFC 7009 revocation, implementing `ports::OAuthClient` with the `oauth2` crate.
//!
//! Every call goes through [`SafeHttp`], one shared reqwest client that never follows redirects,
//! bounds each call by a connect and a total timeout, and enforces the SSRF rule of spec §5.3
//! (only `https` to public addresses, checked on the URL and again on every resolved address)
//! unless private networks are allowed. [`DiscoveryAdapter`] reuses it for MCP authorization
//! discovery (probe, RFC 9728 and RFC 8414 metadata, strictly decoded) and RFC 7591 registration.
//! [`UpstreamAdapter`] is the MCP proxy's outbound half over the same guard, streaming answers.
//! No token, code, verifier or client secret ever reaches a log line or an error message.

mod account;
mod address;
mod assertion;
mod challenge;
mod client;
mod discovery;
mod errors;
mod exchange;
mod form;
mod guard;
mod http;
mod metadata;
mod revoke;
mod transport;
mod upstream;
mod webhook;
mod wellknown;

pub use address::{AddressClass, classify};
pub use assertion::{SigningKeyError, SigningKeys};
pub use challenge::{Challenge, ParseError as ChallengeParseError, parse as parse_www_authenticate};
pub use client::{DEFAULT_REVOKE_TIMEOUT, OAuthAdapter};
pub use discovery::{DEFAULT_METADATA_TTL, DiscoveryAdapter};
pub use guard::{Blocked, PublicOnlyResolver, check_resolved, check_url};
pub use http::{HttpBuildError, HttpConfig, HttpError, SafeHttp};
pub use upstream::UpstreamAdapter;
pub use webhook::{WebhookAdapter, sign};
