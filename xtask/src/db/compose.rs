//! The `postgres` service of `docker-compose.yml`, for machines with a Docker engine.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::Result;

use super::shell;

/// The credentials and database the compose file sets up (`POSTGRES_USER` etc.).
const USER: &str = "asset_directory";
const PASSWORD: &str = "asset_directory";
const DATABASE: &str = "asset_directory";

fn compose() -> Command {
    let mut cmd = Command::new("docker");
    cmd.arg("compose").current_dir(shell::workspace_root());
    cmd
}

/// Whether a Docker engine answers (asked once per run).
pub(super) fn engine_answers() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| shell::succeeds(Command::new("docker").arg("info")))
}

pub(super) fn is_running() -> bool {
    shell::read(compose().args(["ps", "--status", "running", "--quiet", "postgres"])).is_ok_and(|id| !id.is_empty())
}

/// Starts the service and waits until its health check passes.
pub(super) fn up() -> Result<String> {
    shell::run(compose().args(["up", "--detach", "--wait", "postgres"]))?;
    Ok(url())
}

pub(super) fn url() -> String {
    let port = std::env::var("AD_POSTGRES_PORT").unwrap_or_else(|_| "5432".into());
    format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}")
}

pub(super) fn stop() -> Result<()> {
    shell::run(compose().args(["stop", "postgres"]))
}

/// Removes the service's container and its named volume (all its data).
pub(super) fn remove_with_volume() -> Result<()> {
    shell::run(compose().args(["down", "--volumes"]))
}
