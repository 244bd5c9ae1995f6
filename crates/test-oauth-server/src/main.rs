//! Runs the test authorization server with its default configuration until Ctrl-C, for trying
//! the Asset Directory by hand against a local provider.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = test_oauth_server::TestAuthServer::try_start(Default::default()).await?;
    eprintln!("test authorization server at {} (client test-client / test-secret, basic auth)", server.base_url());
    tokio::signal::ctrl_c().await?;
    server.stop().await;
    Ok(())
}
