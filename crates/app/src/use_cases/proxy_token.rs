//! Proxy tokens (issue 16), and the legacy SSE endpoints the proxy hands its clients, sealed the
//! same way. A proxy token is what an MCP client that can only be given a URL and a bearer token
//! presents to the proxy. Stateless: the token is its claims (tenant, user, connection, expiry)
//! sealed by the service's cipher, so it opens only here, only unchanged, and rotates with the
//! encryption keys (a token sealed under a previous key opens while that key is kept). Nothing is
//! stored; a token ends at its expiry or when its connection is gone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Connection, Owner, RefId, TenantId, Timestamp, UserId};
use ports::{Cipher, Clock, Sealed};
use secrecy::{ExposeSecret, SecretString};

use crate::{Deps, Directory};

/// Every proxy token starts with this, so secret scanners and people can tell one.
pub const PROXY_TOKEN_PREFIX: &str = "adp_";

/// The associated data every proxy token is sealed under: nothing else the service seals opens
/// as one.
const AAD: &str = "proxy_token/v1";

/// A proxy token and when it ends.
#[derive(Debug)]
pub struct ProxyToken {
    pub token: SecretString,
    pub expires_at: Timestamp,
}

impl<D: Deps> Directory<D> {
    /// A token for `connection`'s proxy routes, valid `PROXY_TOKEN_TTL_SECONDS`.
    pub fn issue_proxy_token(&self, connection: &Connection) -> ProxyToken {
        let expires_at = self.ports().clock.now().plus_seconds(self.settings().proxy.token_ttl_seconds);
        let claims = format!(
            "{}\n{}\n{}\n{}",
            connection.owner.tenant.as_str(),
            connection.owner.user.as_str(),
            connection.ref_id,
            expires_at.unix()
        );
        let sealed = self.ports().cipher.seal(&SecretString::from(claims), AAD);
        let token = format!("{PROXY_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&sealed.0));
        ProxyToken { token: SecretString::from(token), expires_at }
    }

    /// The owner `token` acts for on the proxy routes of `ref_id`: `None` when it is not a proxy
    /// token of this service, has expired, or is another connection's.
    pub fn proxy_token_owner(&self, token: &SecretString, ref_id: &RefId) -> Option<Owner> {
        let encoded = token.expose_secret().strip_prefix(PROXY_TOKEN_PREFIX)?;
        if encoded.len() > 1024 {
            return None;
        }
        let sealed = Sealed(URL_SAFE_NO_PAD.decode(encoded).ok()?);
        let claims = self.ports().cipher.open(&sealed, AAD).ok()?;
        let mut parts = claims.expose_secret().split('\n');
        let (Some(tenant), Some(user), Some(of), Some(until), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let until = Timestamp::from_unix(until.parse().ok()?);
        if of != ref_id.as_str() || until <= self.ports().clock.now() {
            return None;
        }
        Some(Owner::new(TenantId::parse(tenant).ok()?, UserId::parse(user).ok()?))
    }

    /// The path and query a legacy SSE server's `endpoint` event named for `ref_id`, sealed: what
    /// the client gets back in `…/messages?endpoint=`, so it can only post where the server said.
    pub fn seal_endpoint(&self, ref_id: &RefId, path: &str) -> String {
        let sealed = self.ports().cipher.seal(&SecretString::from(path.to_owned()), &endpoint_aad(ref_id));
        URL_SAFE_NO_PAD.encode(&sealed.0)
    }

    /// The path and query [`Directory::seal_endpoint`] sealed for `ref_id`; `None` for anything
    /// else (another connection's, altered, made up).
    pub fn open_endpoint(&self, ref_id: &RefId, sealed: &str) -> Option<String> {
        if sealed.len() > 8 * 1024 {
            return None;
        }
        let sealed = Sealed(URL_SAFE_NO_PAD.decode(sealed).ok()?);
        let path = self.ports().cipher.open(&sealed, &endpoint_aad(ref_id)).ok()?;
        Some(path.expose_secret().to_owned())
    }
}

/// The associated data of a sealed legacy SSE endpoint: bound to its connection.
fn endpoint_aad(ref_id: &RefId) -> String {
    format!("sse_endpoint/v1/{ref_id}")
}
