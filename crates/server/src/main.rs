//! `asset-directory`: serve the API (the default), or run one of the operator commands.

use std::io::Read;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::config::Config;
use server::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "asset-directory", version, about = "MCP connections and credentials for an agent engine")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Read an engine key from standard input and print its hex SHA-256 for ENGINE_KEY_HASH.
    HashKey,
    /// Validate a catalog file and list its entries.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Check FILE as the service would at start-up.
    Check { file: std::path::PathBuf },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::HashKey => hash_key(),
        Command::Catalog { command: CatalogCommand::Check { file } } => check_catalog(&file),
    }
}

fn serve() -> anyhow::Result<()> {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("asset-directory: {e}");
            std::process::exit(2);
        }
    };
    server::telemetry::init(&config.log, std::io::stdout).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let app = match Application::build(config).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                eprintln!("asset-directory: {e}");
                std::process::exit(2);
            }
        };
        app.run_until_stopped().await.context("the HTTP server failed")
    })
}

fn hash_key() -> anyhow::Result<()> {
    let mut key = String::new();
    std::io::stdin().read_to_string(&mut key).context("reading the key from standard input")?;
    let key = key.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!key.is_empty(), "no key on standard input");
    let digest = actix_api::EngineKeys::digest(key);
    write_line(&hex::encode(digest))
}

fn check_catalog(file: &std::path::Path) -> anyhow::Result<()> {
    let catalog = server::catalog::load(Some(file), &|var| std::env::var(var).ok())?;
    for entry in catalog.entries() {
        let status = match &entry.availability {
            app::Availability::Available => "available".to_owned(),
            app::Availability::Unavailable(reason) => format!("unavailable: {reason}"),
        };
        write_line(&format!("{}\t{}\t{}", entry.spec.name, entry.spec.auth.method().as_str(), status))?;
    }
    Ok(())
}

fn write_line(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}
