//! A real OAuth 2 authorization server over loopback HTTP, for black-box tests of the Asset
//! Directory. It speaks the protocol for real — `/authorize` with automatic consent and an
//! RFC 9207 `iss`, `/token` with PKCE S256, client authentication, refresh-token rotation and
//! reuse detection, RFC 7009 `/revoke`, RFC 7662 `/introspect`, RFC 8414 metadata and RFC 7591 registration — and lets a
//! test switch on failures (500, garbage, a hang, 429, `invalid_grant`, a redirect) and read back
//! what it saw (counters, requests, revocations, whether a token still works). It can also start
//! an MCP-style protected resource ([`TestResourceServer`]) with RFC 9728 metadata that accepts
//! only tokens whose audience is its own URL, with switchable discovery faults.
//!
//! Everything lives in memory and dies with the server. Not for production: it has no users,
//! consents to everything and keeps tokens in plaintext.

pub mod admin;
mod assertion;
mod config;
mod grants;
mod identity;
mod introspection;
mod keys;
mod meta;
mod resource;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use config::{ClientAuth, Failure, IssMode, TestAuthConfig, TestClient, TrustedIdp, WRONG_ISSUER};
pub use grants::{JWT_BEARER, TOKEN_EXCHANGE};
pub use identity::{ID_JAG, ID_TOKEN};
pub use resource::{MetadataAt, ResourceConfig, ResourceCounters, TestResourceServer};
pub use state::{AuthorizeRecord, Counters, Revocation, TokenInfo, TokenKind, TokenRecord};

use routes::{Shared, lock};
use state::State;

/// A running test authorization server on `127.0.0.1` and an ephemeral port.
#[derive(Debug)]
pub struct TestAuthServer {
    base_url: String,
    state: Shared,
    handle: ServerHandle,
}

impl TestAuthServer {
    /// Binds `127.0.0.1:0` and serves until [`TestAuthServer::stop`] or drop. Must be called
    /// inside a Tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound (a broken test machine).
    pub async fn start(config: TestAuthConfig) -> Self {
        Self::try_start(config).await.expect("the test authorization server binds a loopback port")
    }

    /// [`TestAuthServer::start`] that reports a bind failure instead of panicking.
    pub async fn try_start(config: TestAuthConfig) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state: Shared = Arc::new(Mutex::new(State::new(config, base_url.clone())));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/authorize", web::get().to(routes::authorize))
                .route("/token", web::post().to(routes::token))
                .route("/revoke", web::post().to(routes::revoke))
                .route("/introspect", web::post().to(introspection::introspect))
                .route("/redirected", web::to(routes::redirected))
                .route("/.well-known/oauth-authorization-server", web::get().to(meta::metadata))
                .route("/register", web::post().to(meta::register))
                .route("/userinfo", web::get().to(meta::userinfo))
                .route("/mcp", web::to(meta::legacy_mcp))
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

    /// `http://127.0.0.1:<port>/mcp`: an MCP endpoint of the 2025-03-26 revision on this
    /// server's own origin, which publishes no protected resource metadata (see
    /// `meta::legacy_mcp`).
    pub fn legacy_mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer identifier: the base URL (what `iss` and the metadata's `issuer` carry).
    pub fn issuer(&self) -> &str {
        &self.base_url
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.base_url)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.base_url)
    }

    pub fn revocation_endpoint(&self) -> String {
        format!("{}/revoke", self.base_url)
    }

    /// RFC 7662 token introspection, for a confidential client of this server.
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.base_url)
    }

    pub fn registration_endpoint(&self) -> String {
        format!("{}/register", self.base_url)
    }

    /// A resource that answers `200` only to an active access token (`Authorization: Bearer`).
    pub fn userinfo_endpoint(&self) -> String {
        format!("{}/userinfo", self.base_url)
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-authorization-server", self.base_url)
    }

    /// Changes the behaviour from now on (failures, consent, `iss`, lifetimes, clients…).
    pub fn configure(&self, change: impl FnOnce(&mut TestAuthConfig)) {
        change(&mut lock(&self.state).config);
    }

    pub fn config(&self) -> TestAuthConfig {
        lock(&self.state).config.clone()
    }

    pub fn counters(&self) -> Counters {
        lock(&self.state).counters
    }

    /// Successful authorization-code exchanges.
    pub fn code_exchanges(&self) -> u64 {
        self.counters().code_exchanges
    }

    /// Retired refresh tokens presented again.
    pub fn refresh_reuses(&self) -> u64 {
        self.counters().refresh_reuses
    }

    pub fn authorize_requests(&self) -> Vec<AuthorizeRecord> {
        lock(&self.state).authorize_log.clone()
    }

    pub fn token_requests(&self) -> Vec<TokenRecord> {
        lock(&self.state).token_log.clone()
    }

    /// Revocation requests in the order they arrived.
    pub fn revocations(&self) -> Vec<Revocation> {
        lock(&self.state).revocations.clone()
    }

    /// The JSON bodies `/register` received.
    pub fn registrations(&self) -> Vec<serde_json::Value> {
        lock(&self.state).registrations.clone()
    }

    /// Clients created by `/register`.
    pub fn registered_clients(&self) -> Vec<TestClient> {
        lock(&self.state).registered.clone()
    }

    /// Every `id_token` answered ([`TestAuthConfig::id_token_claims`]), oldest first.
    pub fn id_tokens(&self) -> Vec<String> {
        lock(&self.state).id_tokens.clone()
    }

    pub fn token_info(&self, token: &str) -> Option<TokenInfo> {
        lock(&self.state).token_info(token)
    }

    /// Whether `token` (access or refresh) was issued here and still works.
    pub fn token_is_active(&self, token: &str) -> bool {
        self.token_info(token).is_some_and(|i| i.active)
    }

    /// Starts an MCP-style protected resource guarded by this server, on its own port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start_resource(&self, config: ResourceConfig) -> TestResourceServer {
        TestResourceServer::start(self.state.clone(), self.base_url.clone(), config)
            .expect("the test resource server binds a loopback port")
    }

    /// An ID token of this server (as an enterprise identity provider) for `subject`, issued to
    /// the client `client_id`, valid for `lifetime`: what a user's single sign-on gave the engine.
    pub fn sign_in(&self, subject: &str, client_id: &str, lifetime: std::time::Duration) -> String {
        lock(&self.state).sign_in(subject, client_id, lifetime)
    }

    /// This server's public keys (a JWK Set): what an authorization server that trusts its ID-JAGs
    /// is given ([`TrustedIdp`]).
    pub fn jwks(&self) -> serde_json::Value {
        lock(&self.state).key.jwks.clone()
    }

    /// The subjects of the ID-JAGs this server took for tokens, oldest first.
    pub fn jag_subjects(&self) -> Vec<String> {
        lock(&self.state).jag_subjects.clone()
    }

    /// Forgets every client `/register` created, as a server that expired them would.
    pub fn forget_registered_clients(&self) {
        lock(&self.state).registered.clear();
    }

    /// Stops accepting and ends the workers without waiting for requests in flight.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for TestAuthServer {
    fn drop(&mut self) {
        // Sending the command is synchronous; its completion future is not needed here.
        drop(self.handle.stop(false));
    }
}
