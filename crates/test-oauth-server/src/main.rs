//! Runs the test authorization server until Ctrl-C or SIGTERM, for trying the Asset Directory by
//! hand against a local provider and for harnesses that need it as a separate process.
//!
//! `TEST_OAUTH_CLIENT_SECRET` replaces the secret of `test-client`; `TEST_OAUTH_ADMIN_ADDR`
//! (e.g. `127.0.0.1:0`) also serves the side door of [`test_oauth_server::admin`] there. Both
//! addresses are printed on standard error.

use std::sync::Arc;

use test_oauth_server::{TestAuthConfig, TestAuthServer, TestClient};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut config = TestAuthConfig::default();
    let secret = std::env::var("TEST_OAUTH_CLIENT_SECRET").ok();
    if let Some(secret) = &secret {
        config.clients = vec![TestClient::basic("test-client", secret)];
    }
    let server = Arc::new(TestAuthServer::try_start(config).await?);
    let shown = if secret.is_some() { "TEST_OAUTH_CLIENT_SECRET" } else { "test-secret" };
    eprintln!("test authorization server at {} (client test-client / {shown}, basic auth)", server.base_url());
    if let Ok(addr) = std::env::var("TEST_OAUTH_ADMIN_ADDR") {
        let listener = std::net::TcpListener::bind(&addr)?;
        eprintln!("admin at http://{}", listener.local_addr()?);
        tokio::spawn(test_oauth_server::admin::serve(server.clone(), listener)?);
    }
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
