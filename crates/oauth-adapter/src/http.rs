//! The one guarded HTTP client every outbound call shares: no redirects, bounded time, SSRF rule.

use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Request, RequestBuilder, Response};
use url::Url;

use crate::guard::{Blocked, PublicOnlyResolver, check_url};

/// Settings of the shared outbound client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Bound on establishing a connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Bound on a whole request, from sending to the last byte of the body.
    pub request_timeout: Duration,
    /// `AD_ALLOW_PRIVATE_NETWORKS`: allow plain `http` and loopback/private addresses.
    pub allow_private_networks: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            allow_private_networks: false,
        }
    }
}

/// The client could not be built (TLS backend initialisation).
#[derive(Debug, thiserror::Error)]
#[error("the outbound HTTP client could not be built")]
pub struct HttpBuildError(#[source] reqwest::Error);

/// Why an outbound call did not produce a response. Messages name the host, never a body.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error("{host} did not answer in time")]
    Timeout { host: String },
    #[error("could not connect to {host}")]
    Connect {
        host: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the call to {host} failed")]
    Transport {
        host: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{host} answered with a redirect (status {status}), which is not followed")]
    Redirect { host: String, status: u16 },
    #[error("{host} answered status {status}")]
    Status { host: String, status: u16 },
    #[error("the response from {host} is larger than {limit} bytes")]
    TooLarge { host: String, limit: usize },
}

impl HttpError {
    /// Worth retrying later: timeouts, connection failures, `5xx` and `429`.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Connect { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Blocked(_) | Self::Redirect { .. } | Self::TooLarge { .. } => false,
        }
    }
}

impl From<HttpError> for ports::OAuthError {
    fn from(err: HttpError) -> Self {
        match err {
            HttpError::Blocked(b) => Self::Blocked(b.to_string()),
            e if e.is_transient() => Self::Unavailable(e.to_string()),
            e => Self::InvalidResponse(e.to_string()),
        }
    }
}

/// The guarded outbound client. Built once and cloned cheaply (it shares one connection pool).
///
/// It never follows redirects, bounds every call by [`HttpConfig`]'s timeouts, ignores proxy
/// settings from the environment (a proxy would resolve names out of the guard's sight) and,
/// unless private networks are allowed, calls only `https` URLs whose addresses are public.
/// Send every request through [`SafeHttp::send`] or [`SafeHttp::execute`]: they check the URL,
/// which the resolver alone cannot do for IP-literal hosts.
#[derive(Debug, Clone)]
pub struct SafeHttp {
    client: reqwest::Client,
    allow_private: bool,
}

impl SafeHttp {
    pub fn new(config: &HttpConfig) -> Result<Self, HttpBuildError> {
        Self::build(config, Some(config.request_timeout))
    }

    /// The same guarded client with no bound on a whole exchange, for answers that stream for as
    /// long as the client reads them (the MCP proxy bounds the first byte and each pause itself).
    pub fn for_streams(config: &HttpConfig) -> Result<Self, HttpBuildError> {
        Self::build(config, None)
    }

    fn build(config: &HttpConfig, request_timeout: Option<Duration>) -> Result<Self, HttpBuildError> {
        let mut builder = reqwest::Client::builder()
            .redirect(Policy::none())
            .connect_timeout(config.connect_timeout)
            .no_proxy()
            .user_agent(concat!("asset-directory/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = request_timeout {
            builder = builder.timeout(timeout);
        }
        if !config.allow_private_networks {
            builder = builder.https_only(true).dns_resolver(PublicOnlyResolver);
        }
        let client = builder.build().map_err(HttpBuildError)?;
        Ok(Self { client, allow_private: config.allow_private_networks })
    }

    pub fn allows_private_networks(&self) -> bool {
        self.allow_private
    }

    /// The SSRF rule for `url` under this client's setting.
    pub fn check(&self, url: &Url) -> Result<(), Blocked> {
        check_url(url, self.allow_private)
    }

    /// A request builder on the guarded client; send it with [`SafeHttp::send`].
    pub fn request(&self, method: reqwest::Method, url: Url) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Builds and sends `request` after checking its URL.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, HttpError> {
        let request = request
            .build()
            .map_err(|source| HttpError::Transport { host: host_of(source.url()), source: source.without_url() })?;
        self.execute(request).await
    }

    /// Sends `request` after checking its URL. Any status is a response here, redirects included.
    pub async fn execute(&self, request: Request) -> Result<Response, HttpError> {
        self.check(request.url())?;
        let host = host_of(Some(request.url()));
        self.client.execute(request).await.map_err(|e| classify_failure(e, host))
    }

    /// Reads a response body, refusing one longer than `limit` bytes.
    pub async fn read_body(mut response: Response, limit: usize) -> Result<Vec<u8>, HttpError> {
        let host = host_of(Some(response.url()));
        let too_large = || HttpError::TooLarge { host: host.clone(), limit };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify_failure(e, host.clone()))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

pub(crate) fn host_of(url: Option<&Url>) -> String {
    url.and_then(Url::host_str).map_or_else(|| "the server".to_owned(), str::to_owned)
}

/// Turns a reqwest failure into an [`HttpError`], finding a [`Blocked`] raised by the resolver.
pub(crate) fn classify_failure(err: reqwest::Error, host: String) -> HttpError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return HttpError::Blocked(blocked.clone());
        }
        source = e.source();
    }
    let err = err.without_url();
    if err.is_timeout() {
        HttpError::Timeout { host }
    } else if err.is_connect() {
        HttpError::Connect { host, source: err }
    } else {
        HttpError::Transport { host, source: err }
    }
}
