//! An MCP-style protected resource on its own loopback origin, guarded by a
//! [`crate::TestAuthServer`]: `/mcp` answers `401` with a `WWW-Authenticate: Bearer` challenge
//! (RFC 9728 §5.1) unless the bearer token is active and its audience is exactly this server's
//! `/mcp` URL (RFC 8707), and it publishes protected resource metadata (RFC 9728 §3).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::routes::{Shared, lock};

/// Where the resource publishes its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataAt {
    /// `/.well-known/oauth-protected-resource/mcp`, named in the challenge.
    Challenge,
    /// `/.well-known/oauth-protected-resource/mcp`, not named in the challenge.
    PathSuffixed,
    /// `/.well-known/oauth-protected-resource` only, not named in the challenge.
    Root,
    /// Named in the challenge, but that URL answers `404` (and so does the root form).
    NamedButAbsent,
    /// Nowhere, and not named: a server of the 2025-03-26 revision, whose authorization server
    /// would be its own origin.
    Nowhere,
}

/// How the resource behaves; change it at run time with [`TestResourceServer::configure`].
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    /// Without it `/mcp` answers everyone (a server without authorization).
    pub require_auth: bool,
    pub metadata_at: MetadataAt,
    /// The `scope` of the challenge.
    pub challenge_scope: Option<String>,
    pub scopes_supported: Vec<String>,
    /// A `resource` other than this server's `/mcp` URL, as a misconfigured or hostile server sends.
    pub resource_override: Option<String>,
    /// `authorization_servers` other than the guarding server's issuer.
    pub authorization_servers_override: Option<Vec<String>>,
}

impl Default for ResourceConfig {
    fn default() -> Self {
        Self {
            require_auth: true,
            metadata_at: MetadataAt::Challenge,
            challenge_scope: Some("read".to_owned()),
            scopes_supported: vec!["read".to_owned(), "write".to_owned()],
            resource_override: None,
            authorization_servers_override: None,
        }
    }
}

/// What the resource saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResourceCounters {
    pub authorized: u64,
    pub refused: u64,
    pub metadata_requests: u64,
}

#[derive(Debug)]
struct ResourceState {
    config: ResourceConfig,
    counters: ResourceCounters,
    base_url: String,
    issuer: String,
}

type SharedResource = Arc<Mutex<ResourceState>>;

fn lock_resource(state: &SharedResource) -> std::sync::MutexGuard<'_, ResourceState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running protected resource on `127.0.0.1` and an ephemeral port.
#[derive(Debug)]
pub struct TestResourceServer {
    base_url: String,
    state: SharedResource,
    handle: ServerHandle,
}

impl TestResourceServer {
    pub(crate) fn start(auth: Shared, issuer: String, config: ResourceConfig) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(ResourceState {
            config,
            counters: ResourceCounters::default(),
            base_url: base_url.clone(),
            issuer,
        }));
        let (data, auth) = (web::Data::new(state.clone()), web::Data::new(auth));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(auth.clone())
                .route("/mcp", web::to(mcp))
                .route("/.well-known/oauth-protected-resource/mcp", web::get().to(path_metadata))
                .route("/.well-known/oauth-protected-resource", web::get().to(root_metadata))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { base_url, state, handle })
    }

    /// The MCP endpoint: `http://127.0.0.1:<port>/mcp`, the resource identifier.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.base_url)
    }

    pub fn configure(&self, change: impl FnOnce(&mut ResourceConfig)) {
        change(&mut lock_resource(&self.state).config);
    }

    pub fn counters(&self) -> ResourceCounters {
        lock_resource(&self.state).counters
    }
}

impl Drop for TestResourceServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// `/mcp`: a JSON-RPC answer for a token issued for this resource, else the challenge.
async fn mcp(state: web::Data<SharedResource>, auth: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let bearer =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let info = bearer.and_then(|t| lock(&auth).token_info(t));
    let mut st = lock_resource(&state);
    // The resource its metadata declares (its `/mcp` URL, or a parent it names instead).
    let resource = st.config.resource_override.clone().unwrap_or_else(|| format!("{}/mcp", st.base_url));
    let accepted = info.is_some_and(|i| {
        i.active && i.kind == crate::TokenKind::Access && i.audience.as_deref() == Some(resource.as_str())
    });
    if accepted || !st.config.require_auth {
        st.counters.authorized += 1;
        return HttpResponse::Ok().json(json!({
            "jsonrpc": "2.0", "id": 0,
            "result": {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "test-mcp", "version": "1"}},
        }));
    }
    st.counters.refused += 1;
    let mut challenge = String::from("Bearer");
    let mut params = Vec::new();
    if bearer.is_some() {
        params.push(r#"error="invalid_token""#.to_owned());
    }
    if matches!(st.config.metadata_at, MetadataAt::Challenge | MetadataAt::NamedButAbsent) {
        params.push(format!(r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#, st.base_url));
    }
    if let Some(scope) = &st.config.challenge_scope {
        params.push(format!(r#"scope="{scope}""#));
    }
    if !params.is_empty() {
        challenge = format!("{challenge} {}", params.join(", "));
    }
    HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, challenge)).finish()
}

fn metadata(state: &SharedResource, served_here: bool) -> HttpResponse {
    let mut st = lock_resource(state);
    st.counters.metadata_requests += 1;
    if !served_here {
        return HttpResponse::NotFound().finish();
    }
    let config = &st.config;
    HttpResponse::Ok().json(json!({
        "resource": config.resource_override.clone().unwrap_or_else(|| format!("{}/mcp", st.base_url)),
        "authorization_servers": config.authorization_servers_override.clone().unwrap_or_else(|| vec![st.issuer.clone()]),
        "scopes_supported": config.scopes_supported,
        "bearer_methods_supported": ["header"],
    }))
}

async fn path_metadata(state: web::Data<SharedResource>) -> HttpResponse {
    let at = lock_resource(&state).config.metadata_at;
    metadata(&state, matches!(at, MetadataAt::Challenge | MetadataAt::PathSuffixed))
}

async fn root_metadata(state: web::Data<SharedResource>) -> HttpResponse {
    let at = lock_resource(&state).config.metadata_at;
    metadata(&state, at == MetadataAt::Root)
}
