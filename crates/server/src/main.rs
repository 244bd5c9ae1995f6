//! `asset-directory`: serve the API (the default), or run one of the operator commands. This file
//! only parses the command line and reports; the work is in the `server` library.

use std::future::Future;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::commands::{hash_key, migrate, reencrypt};
use server::config::{Config, LogConfig};
use server::startup::Application;
use server::telemetry::Output;

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
    /// Apply the pending migrations of DATABASE_URL, then exit.
    Migrate,
    /// Read an engine key from standard input and print its hex SHA-256 for ENGINE_KEY_HASH.
    HashKey {
        /// Refused: a key given here would stay in the shell history. Pipe it in instead.
        #[arg(hide = true, num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true)]
        refused: Vec<String>,
    },
    /// Re-encrypt every stored secret under AD_ENCRYPTION_KEY, beside the running service.
    ///
    /// Run it with the service's configuration: the new key in AD_ENCRYPTION_KEY and the old one
    /// in AD_ENCRYPTION_KEYS_PREVIOUS. It is safe to interrupt and to run again; it exits with
    /// status 2 when a secret did not open, so the old key is not retired too early.
    Reencrypt {
        /// Secrets read and rewritten per round trip to the database.
        #[arg(long, default_value_t = reencrypt::DEFAULT_BATCH_SIZE)]
        batch_size: u32,
    },
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
        Command::Migrate => run_migrate(),
        Command::HashKey { refused } if !refused.is_empty() => fail(hash_key::HashKeyError::OnCommandLine),
        Command::HashKey { .. } => write_line(&hash_key::hash_key(std::io::stdin().lock()).unwrap_or_else(|e| fail(e))),
        Command::Reencrypt { batch_size } => run_reencrypt(batch_size),
        Command::Catalog { command: CatalogCommand::Check { file } } => check_catalog(&file),
    }
}

/// Reports a refusal on one line and exits with status 2, as start-up failures do.
fn fail(reason: impl std::fmt::Display) -> ! {
    eprintln!("asset-directory: {reason}");
    std::process::exit(2);
}

fn config() -> Config {
    Config::from_env().unwrap_or_else(|e| fail(e))
}

/// Runs `work` on a fresh multi-threaded runtime.
fn block_on<T>(work: impl Future<Output = T>) -> anyhow::Result<T> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(work))
}

fn serve() -> anyhow::Result<()> {
    let config = config();
    server::telemetry::init_to(&config.log, Output::Stdout).map_err(anyhow::Error::msg)?;
    block_on(async {
        let app = Application::build(config).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot start");
            fail(e)
        });
        app.run_until_stopped().await.context("the HTTP server failed")
    })?
}

/// Commands log to standard error; standard output carries only their result.
fn command_logs(log: &LogConfig) -> anyhow::Result<()> {
    server::telemetry::init_to(log, Output::Stderr).map_err(anyhow::Error::msg)
}

fn run_migrate() -> anyhow::Result<()> {
    let config = migrate::settings(std::env::vars().collect()).unwrap_or_else(|e| fail(e));
    command_logs(&config.log)?;
    let migrated = block_on(migrate::run(&config.database))?.unwrap_or_else(|e| fail(e));
    write_line(&migrated.to_string())
}

fn run_reencrypt(batch_size: u32) -> anyhow::Result<()> {
    let config = config();
    command_logs(&config.log)?;
    let summary = block_on(reencrypt::run(&config, batch_size))?.unwrap_or_else(|e| fail(e));
    write_line(&summary.to_string())
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
