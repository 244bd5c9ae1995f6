//! RFC 7009 token revocation.
//!
//! Written by hand rather than with oauth2's `revoke_token`, which refuses every URL that is not
//! `https` before any guard runs; `AD_ALLOW_PRIVATE_NETWORKS` must be able to open plain `http`
//! for tests and local development. The SSRF rule itself is enforced by [`SafeHttp`].

use std::time::Duration;

use ports::{OAuthError, TokenEndpoint, TokenHint};
use secrecy::{ExposeSecret, SecretString};

use crate::form::{FormCall, post};
use crate::http::SafeHttp;

pub(crate) async fn revoke(
    http: &SafeHttp,
    endpoint: &TokenEndpoint,
    token: &SecretString,
    hint: TokenHint,
    assertion: &[(&'static str, &SecretString)],
    timeout: Duration,
) -> Result<(), OAuthError> {
    let call = FormCall {
        endpoint,
        fields: vec![("token", token.expose_secret()), ("token_type_hint", hint.as_str())],
        secrets: vec![token],
        assertion,
        timeout: Some(timeout),
    };
    post(http, call, "revocation endpoint").await.map(drop)
}
