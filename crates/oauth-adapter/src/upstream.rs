//! `ports::McpUpstream` over the guarded client: the MCP proxy's outbound half (issue 16).
//!
//! The first byte of an answer must come within `first_byte` (a server that accepts and never
//! answers is a `504`), and an answer's body may pause at most `idle` between chunks; a body
//! that flows is never cut. The body is handed on chunk by chunk as the client reads it, so a
//! slow client slows the read from the server (backpressure) and a client that goes away drops
//! the body, which closes the exchange with the server.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use ports::{McpUpstream, UpstreamError, UpstreamMethod, UpstreamRequest, UpstreamResponse};
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::challenge;
use thread_local::ThreadLocal;

use crate::http::{HttpBuildError, HttpConfig, HttpError, SafeHttp, classify_failure, host_of};

/// The proxy's client of MCP servers: a guarded client per thread, so a call taken by one HTTP
/// worker goes out on connections that worker's runtime drives (one shared client's pooled
/// connections were driven by whichever thread opened them: a wake-up of another core per call,
/// 97–100 µs of service CPU per call against 76–82 µs).
#[derive(Debug)]
pub struct UpstreamAdapter {
    config: HttpConfig,
    clients: ThreadLocal<SafeHttp>,
    first_byte: Duration,
    idle: Duration,
}

impl UpstreamAdapter {
    /// Calls under `config` (its whole-exchange bound unused: [`SafeHttp::for_streams`]); checks
    /// that such a client can be built.
    pub fn new(config: HttpConfig, first_byte: Duration, idle: Duration) -> Result<Self, HttpBuildError> {
        let clients = ThreadLocal::new();
        clients.get_or_try(|| SafeHttp::for_streams(&config))?;
        Ok(Self { config, clients, first_byte, idle })
    }

    fn http(&self) -> Result<&SafeHttp, UpstreamError> {
        self.clients
            .get_or_try(|| SafeHttp::for_streams(&self.config))
            .map_err(|_| UpstreamError::Unreachable("the outbound HTTP client could not be built".into()))
    }
}

#[async_trait]
impl McpUpstream for UpstreamAdapter {
    async fn forward(
        &self,
        request: &UpstreamRequest,
        credential: &[(String, SecretString)],
    ) -> Result<UpstreamResponse, UpstreamError> {
        let url =
            Url::parse(&request.url).map_err(|_| UpstreamError::Unreachable("the server URL is invalid".into()))?;
        let host = host_of(Some(&url));
        let method = match request.method {
            UpstreamMethod::Get => reqwest::Method::GET,
            UpstreamMethod::Post => reqwest::Method::POST,
            UpstreamMethod::Delete => reqwest::Method::DELETE,
        };
        let http = self.http()?;
        let mut builder = http.request(method, url);
        for (name, value) in &request.headers {
            builder = match transport_header(name) {
                Some(known) => builder.header(known, value.as_str()),
                None => builder.header(name.as_str(), value.as_str()),
            };
        }
        for (name, secret) in credential {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| UpstreamError::Unreachable("the credential's header name is invalid".into()))?;
            let mut value = HeaderValue::try_from(secret.expose_secret())
                .map_err(|_| UpstreamError::Unreachable("the credential is not a valid header value".into()))?;
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        if request.method == UpstreamMethod::Post {
            builder = builder.body(request.body.clone());
        }
        let response = match tokio::time::timeout(self.first_byte, http.send(builder)).await {
            Err(_) => return Err(UpstreamError::Timeout(format!("{host} did not answer in time"))),
            Ok(Err(e)) => return Err(translate(e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect::<Vec<_>>();
        let insufficient_scope = (status == 403).then(|| scope_challenge(&response)).flatten();
        let content_length = response.content_length();
        // Only the body is kept: the head's header values are slices of hyper's first read
        // buffer, so a head kept for a stream's life would make hyper read the rest into a second
        // buffer (8 KiB more per open stream).
        let body = http::Response::<reqwest::Body>::from(response).into_body();
        let body = body_stream(body, self.idle, host);
        Ok(UpstreamResponse { status, headers, insufficient_scope, content_length, body: Box::pin(body) })
    }
}

/// The MCP transport's own request headers, made once: a name that is not one of HTTP's
/// standard ones is copied into a new allocation each time it is parsed from text.
static TRANSPORT_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static("last-event-id"),
];

/// `name` as one of [`TRANSPORT_HEADERS`], when it is one (the edge passes names in lower case).
fn transport_header(name: &str) -> Option<HeaderName> {
    TRANSPORT_HEADERS.iter().find(|known| known.as_str() == name).cloned()
}

/// The scopes a `403`'s `Bearer` challenge with `error="insufficient_scope"` asks for.
fn scope_challenge(response: &reqwest::Response) -> Option<String> {
    response.headers().get_all(reqwest::header::WWW_AUTHENTICATE).iter().find_map(|value| {
        let challenges = challenge::parse(value.to_str().ok()?).ok()?;
        challenges
            .iter()
            .find(|c| c.is("Bearer") && c.param("error") == Some("insufficient_scope"))
            .map(|c| c.param("scope").unwrap_or_default().to_owned())
    })
}

/// The body, chunk by chunk (trailers skipped), each within `idle` of the one before.
fn body_stream(
    body: reqwest::Body,
    idle: Duration,
    host: String,
) -> impl futures_core::Stream<Item = Result<Bytes, UpstreamError>> + Send {
    // The host rides along with the body (for the words of a failure), never copied per chunk.
    futures_util::stream::unfold(Some((body, host)), move |state| async move {
        let (mut body, host) = state?;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(chunk) => return Some((Ok(chunk), Some((body, host)))),
                    Err(_trailers) => continue,
                },
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(translate(classify_failure(e, host))), None)),
                Err(_) => {
                    return Some((Err(UpstreamError::Timeout(format!("{host} sent nothing for too long"))), None));
                }
            }
        }
    })
}

fn translate(error: HttpError) -> UpstreamError {
    match error {
        HttpError::Blocked(blocked) => UpstreamError::Blocked(blocked.to_string()),
        HttpError::Timeout { host } => UpstreamError::Timeout(format!("{host} did not answer in time")),
        other => UpstreamError::Unreachable(other.to_string()),
    }
}
