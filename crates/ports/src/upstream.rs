//! The MCP server behind a connection, as the proxy reaches it (issue 16): one HTTP exchange,
//! the request whole (kept so it can be sent again once after a refresh), the answer's body a
//! stream that is read as the client reads it.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use secrecy::SecretString;

/// The methods of the MCP transports: Streamable HTTP's `POST`, `GET` and `DELETE`; legacy
/// SSE's `GET` stream and `POST` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamMethod {
    Get,
    Post,
    Delete,
}

/// One request to an MCP server, without its credential: the same request goes again with a
/// fresh credential after a refresh, so neither is copied for a second try.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: UpstreamMethod,
    pub url: String,
    /// The caller's headers that may pass (the edge chose them; never a credential of its own).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The body of an answer, chunk by chunk as the server sends it.
pub type UpstreamBody = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

/// An MCP server's answer: any status is an answer.
pub struct UpstreamResponse {
    pub status: u16,
    /// Every header of the answer; the edge decides which reach the client.
    pub headers: Vec<(String, String)>,
    /// The scopes a `403` asks for in a `Bearer` challenge with `error="insufficient_scope"`
    /// (MCP authorization, scope challenges), space-separated as sent.
    pub insufficient_scope: Option<String>,
    /// The body's length, when the server stated it.
    pub content_length: Option<u64>,
    pub body: UpstreamBody,
}

impl std::fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResponse").field("status", &self.status).finish_non_exhaustive()
    }
}

/// Why an MCP server gave no answer. Messages name the host at most, never a body or a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The SSRF rule refused the address (spec §5.3).
    #[error("{0}")]
    Blocked(String),
    /// Nothing answered, or the connection broke (`502 MCP_CONNECTION_FAILED`).
    #[error("{0}")]
    Unreachable(String),
    /// No first byte in time, or a stream idle too long (`504 MCP_UPSTREAM_TIMEOUT`).
    #[error("{0}")]
    Timeout(String),
}

/// Sends requests to MCP servers under the outbound rules (SSRF, no redirects, timeouts).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait McpUpstream: Send + Sync + 'static {
    /// Sends `request` with the connection's `credential` (header names and values) added last;
    /// the answer's body stays open until read to its end or dropped, and dropping it closes
    /// the exchange with the server.
    async fn forward(
        &self,
        request: &UpstreamRequest,
        credential: &[(String, SecretString)],
    ) -> Result<UpstreamResponse, UpstreamError>;
}
