//! The MCP proxy's use case (issue 16): a call of the engine (or of an MCP client holding a proxy
//! token) forwarded to the connection's MCP server with the credential added, which never leaves.
//!
//! The credential is the one `credentials` hands out, refreshed ahead of expiry on the same
//! single-flight path, and kept by this replica for a moment (`credential_cache`). A `401` from the server refreshes once (of callers refused together, only
//! one refreshes: `refresh_rejected`) and sends the request once more; a second `401` expires the
//! connection as a refresh refused for good does. A `403` scope challenge becomes
//! `INSUFFICIENT_SCOPE`, with a reauthorization offered while the connection has had fewer than
//! `step_up_max_attempts` in a row (`lifecycle::reauthorize` counts them; a call that passes
//! resets the count). Every other answer, `5xx` included, is the server's own and passes as it came.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use domain::{AuthMethod, Connection, Owner, RefId, Scopes, Transport};
use ports::{Clock, ConnectionStore, McpUpstream, UpstreamError, UpstreamMethod, UpstreamRequest, UpstreamResponse};
use secrecy::SecretString;
use url::Url;

use super::credentials::Credential;
use crate::{Deps, Directory, Error, RefreshOutcome};

/// Where on the connection's server a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTarget {
    /// The Streamable HTTP endpoint: the connection's URL (`…/mcp`).
    Streamable,
    /// The legacy SSE stream: the connection's URL (`…/sse`).
    SseStream,
    /// A legacy SSE message: the path and query the server's `endpoint` event named, on the
    /// server's own origin (`…/messages`).
    SseMessage(String),
}

/// One call through the proxy. The headers are those the edge lets pass; the body is kept
/// whole so the call can be sent again after a refresh.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub method: UpstreamMethod,
    pub target: ProxyTarget,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The server's answer and the connection it came through.
#[derive(Debug)]
pub struct Proxied {
    pub connection: Arc<Connection>,
    pub response: UpstreamResponse,
}

/// A call that got no answer to pass on, and the server of its connection when it was found
/// (for the metrics).
#[derive(Debug)]
pub struct ProxyFailure {
    pub server_name: Option<domain::ServerName>,
    pub error: Error,
}

impl From<Error> for ProxyFailure {
    fn from(error: Error) -> Self {
        Self { server_name: None, error }
    }
}

/// What the proxy remembers per replica: the connections used since the last batched write, and
/// the reauthorizations for more scopes started in a row per connection.
#[derive(Debug, Default)]
pub(crate) struct ProxyState {
    used: Mutex<HashSet<RefId>>,
    step_ups: Mutex<HashMap<RefId, u32>>,
}

/// Connections one `last_used_at` write names at most.
const USED_PER_WRITE: usize = 1_000;

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<D: Deps> Directory<D> {
    /// Forwards `request` to the MCP server of `owner`'s connection `ref_id`.
    pub async fn proxy(&self, owner: &Owner, ref_id: &RefId, request: ProxyRequest) -> Result<Proxied, ProxyFailure> {
        let credential = self.proxy_credential(owner, ref_id).await?;
        self.proxy_with(owner, ref_id, Arc::clone(&credential), request)
            .await
            .map_err(|error| ProxyFailure { server_name: Some(credential.connection.server_name.clone()), error })
    }

    async fn proxy_with(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        credential: Arc<Credential>,
        request: ProxyRequest,
    ) -> Result<Proxied, Error> {
        let url = upstream_url(&credential.connection, &request.target)?;
        let ProxyRequest { method, headers, body, .. } = request;
        let outbound = UpstreamRequest { method, url, headers, body };
        let response = self.forward(&outbound, &credential.headers).await?;
        let response = match response.status {
            401 if credential.connection.auth_method == AuthMethod::OAuth => {
                // Dropping the refused answer closes it before the call is made again.
                drop(response);
                self.after_refusal(owner, ref_id, &credential, &outbound).await?
            }
            _ => response,
        };
        let connection = &credential.connection;
        if response.status == 403 {
            if let Some(asked) = &response.insufficient_scope {
                return Err(self.scope_challenge(connection, asked));
            }
        }
        self.note_use(&connection.ref_id);
        Ok(Proxied { connection: Arc::clone(connection), response })
    }

    /// The second try after a `401`: one refresh (unless a sibling's replaced the refused token
    /// already), the call again with the credential stored now, and a second `401` ends the
    /// connection.
    async fn after_refusal(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        refused: &Credential,
        request: &UpstreamRequest,
    ) -> Result<UpstreamResponse, Error> {
        if self.refresh_rejected(owner, ref_id, refused.sealed_token.as_ref()).await? == RefreshOutcome::Expired {
            return Err(Error::TokenExpired);
        }
        // The refused token may be the one this replica kept while another replica refreshed
        // (no write here to forget it): it is never used again, and the retry reads the store.
        self.forget_credential(ref_id);
        let credential = self.credentials(owner, ref_id).await?;
        let response = self.forward(request, &credential.headers).await?;
        if response.status == 401 {
            drop(response);
            let reason = "the MCP server refused the token again after a refresh; reconnect";
            let connection = Arc::unwrap_or_clone(credential.connection);
            self.expire(connection, reason, domain::ReasonCode::TokenRejected).await?;
            return Err(Error::TokenExpired);
        }
        Ok(response)
    }

    async fn forward(
        &self,
        request: &UpstreamRequest,
        credential: &[(String, SecretString)],
    ) -> Result<UpstreamResponse, Error> {
        self.ports().upstream.forward(request, credential).await.map_err(|e| match e {
            UpstreamError::Timeout(message) => Error::UpstreamTimeout(message),
            UpstreamError::Blocked(message) | UpstreamError::Unreachable(message) => {
                Error::Provider { step: "MCP server", message }
            }
        })
    }

    /// `INSUFFICIENT_SCOPE` for a challenge asking `asked`.
    fn scope_challenge(&self, connection: &Connection, asked: &str) -> Error {
        // The server's words: only scope tokens pass (a malformed challenge asks for nothing known).
        let required = Scopes::parse_delimited(asked).unwrap_or_else(|_| Scopes::empty());
        let reauthorize = connection.auth_method == AuthMethod::OAuth
            && !connection.grant.renews_alone()
            && self.step_ups_in_a_row(&connection.ref_id) < self.settings().proxy.step_up_max_attempts;
        Error::InsufficientScope { ref_id: connection.ref_id.clone(), required, reauthorize }
    }

    /// The reauthorizations for more scopes started for `ref_id` since a call last passed.
    pub(crate) fn step_ups_in_a_row(&self, ref_id: &RefId) -> u32 {
        locked(&self.inner.proxy.step_ups).get(ref_id).copied().unwrap_or(0)
    }

    /// Counts a reauthorization for more scopes of `ref_id`.
    pub(crate) fn count_step_up(&self, ref_id: &RefId) {
        let mut step_ups = locked(&self.inner.proxy.step_ups);
        let count = step_ups.entry(ref_id.clone()).or_default();
        *count = count.saturating_add(1);
    }

    /// Starts the count of `ref_id`'s reauthorizations for more scopes again.
    pub(crate) fn clear_step_ups(&self, ref_id: &RefId) {
        locked(&self.inner.proxy.step_ups).remove(ref_id);
    }

    fn note_use(&self, ref_id: &RefId) {
        {
            let mut step_ups = locked(&self.inner.proxy.step_ups);
            if !step_ups.is_empty() {
                step_ups.remove(ref_id);
            }
        }
        let mut used = locked(&self.inner.proxy.used);
        if !used.contains(ref_id) {
            used.insert(ref_id.clone());
        }
    }

    /// Writes `last_used_at` of the connections the proxy carried calls of since the last time
    /// (the background's, every few seconds); returns how many.
    pub async fn flush_proxy_use(&self) -> Result<usize, Error> {
        let used: Vec<RefId> = std::mem::take(&mut *locked(&self.inner.proxy.used)).into_iter().collect();
        let now = self.ports().clock.now();
        // A bounded statement each (the databases bound a statement's parameters); what is not
        // written is noted again, for the next time.
        for (written, batch) in used.chunks(USED_PER_WRITE).enumerate() {
            if let Err(e) = self.ports().connections.mark_used_any(batch, now).await {
                locked(&self.inner.proxy.used).extend(used[written * USED_PER_WRITE..].iter().cloned());
                return Err(e.into());
            }
        }
        Ok(used.len())
    }
}

/// The URL a call goes to: the connection's own for the endpoint and the SSE stream, or a path
/// on its origin for a legacy message; a transport the route does not speak is refused.
pub(crate) fn upstream_url(connection: &Connection, target: &ProxyTarget) -> Result<String, Error> {
    let wrong = |message: &str| Error::validation("transport", message.to_owned());
    let expected = match target {
        ProxyTarget::Streamable => Transport::StreamableHttp,
        ProxyTarget::SseStream | ProxyTarget::SseMessage(_) => Transport::Sse,
    };
    match (connection.transport, expected) {
        (Transport::Stdio, _) => {
            return Err(wrong("a stdio server runs next to the engine and is not proxied"));
        }
        (Transport::Sse, Transport::StreamableHttp) => {
            return Err(wrong("the server speaks the legacy HTTP+SSE transport: use …/sse and …/messages"));
        }
        (Transport::StreamableHttp, Transport::Sse) => {
            return Err(wrong("the server speaks Streamable HTTP: use …/mcp"));
        }
        _ => {}
    }
    let base = connection.url.as_deref().ok_or_else(|| wrong("the connection has no server URL"))?;
    match target {
        ProxyTarget::Streamable | ProxyTarget::SseStream => Ok(base.to_owned()),
        ProxyTarget::SseMessage(path) => same_origin(base, path),
    }
}

/// `path` (a path and query, as a legacy server's `endpoint` event names) on `base`'s origin.
fn same_origin(base: &str, path: &str) -> Result<String, Error> {
    let refuse = || Error::validation("endpoint", "not a path on the MCP server's origin");
    if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
        return Err(refuse());
    }
    let base = Url::parse(base).map_err(|_| Error::internal("a stored server URL does not parse"))?;
    let joined = base.join(path).map_err(|_| refuse())?;
    if joined.origin() != base.origin() {
        return Err(refuse());
    }
    Ok(joined.into())
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
