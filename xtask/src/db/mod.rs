//! PostgreSQL for development and tests: `cargo xtask db up|down|reset|url`, and
//! [`ensure_database`] for `cargo xtask test`.
//!
//! Where the database comes from, first that works:
//! 1. `DATABASE_URL`, when it is a `postgres://` URL and the server answers;
//! 2. `docker compose up -d --wait postgres` (see `docker-compose.yml`), when a Docker engine answers;
//! 3. a throwaway cluster from the local PostgreSQL binaries (`pg_config --bindir`) in
//!    `target/xtask-pg/`, on a free loopback port, run as the `postgres` user when xtask runs as root.
//!
//! Whatever [`ensure_database`] started, it stops when the returned [`Database`] is dropped; what
//! was already running (a `db up` cluster, a compose service, an outside server) is left alone.
//! Every external command is echoed as `$ …` before it runs.

mod compose;
pub(crate) mod local;
use crate::shell;

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A PostgreSQL server ready for connections, and what to stop when done with it.
#[derive(Debug)]
pub struct Database {
    /// `postgres://` URL of a database the tests may also create other databases from.
    pub url: String,
    started: Option<Started>,
}

#[derive(Debug)]
enum Started {
    Compose,
    Local(local::Cluster),
}

impl Database {
    /// Stops what [`ensure_database`] started (nothing if it found the database running).
    #[allow(dead_code, reason = "for `cargo xtask test`, which may also just drop the value")]
    pub fn stop(mut self) -> Result<()> {
        self.stop_started()
    }

    /// Leaves the database running after this value is gone, and returns its URL.
    pub fn keep_running(mut self) -> String {
        self.started = None;
        std::mem::take(&mut self.url)
    }

    fn stop_started(&mut self) -> Result<()> {
        match self.started.take() {
            None => Ok(()),
            Some(Started::Compose) => compose::stop(),
            Some(Started::Local(cluster)) => cluster.stop(),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = self.stop_started() {
            eprintln!("xtask: could not stop the database: {e:#}");
        }
    }
}

/// Finds or starts a PostgreSQL server (see the module documentation for the order).
///
/// While the returned value lives, Ctrl-C does not end xtask at once: the child process it waits
/// for gets the signal and ends, and xtask then stops the database before exiting.
pub fn ensure_database() -> Result<Database> {
    shell::survive_ctrl_c();
    if let Some(url) = outside_url() {
        return Ok(Database { url, started: None });
    }
    if compose::engine_answers() {
        let was_running = compose::is_running();
        let url = compose::up()?;
        let started = (!was_running).then_some(Started::Compose);
        return Ok(Database { url, started });
    }
    let (cluster, was_running) = local::Cluster::ensure()?;
    let url = cluster.url();
    let started = (!was_running).then_some(Started::Local(cluster));
    Ok(Database { url, started })
}

/// `cargo xtask db <up|down|reset|url>`. The URL goes to standard output (so
/// `export AD_TEST_DATABASE_URL=$(cargo xtask db up)` works); everything else to standard error.
#[allow(clippy::print_stdout, reason = "the URL is this command's output")]
pub fn command(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("up") => {
            let url = ensure_database()?.keep_running();
            println!("{url}");
            Ok(())
        }
        Some("down") => down(),
        Some("reset") => {
            reset()?;
            let url = ensure_database()?.keep_running();
            println!("{url}");
            Ok(())
        }
        Some("url") => {
            println!("{}", running_url()?);
            Ok(())
        }
        _ => bail!("usage: cargo xtask db <up|down|reset|url>\n{USAGE}"),
    }
}

/// What `cargo xtask help` can print about `db`.
pub const USAGE: &str = "\
  db up      start PostgreSQL (DATABASE_URL, else docker compose, else local binaries) and print its URL
  db down    stop the PostgreSQL that `db up` started
  db reset   stop it, delete its data, start it afresh and print its URL
  db url     print the URL of the running PostgreSQL";

fn down() -> Result<()> {
    if compose::engine_answers() && compose::is_running() {
        compose::stop()?;
    }
    local::Cluster::stop_if_running()
}

fn reset() -> Result<()> {
    if compose::engine_answers() {
        compose::remove_with_volume()?;
    }
    local::Cluster::remove()
}

fn running_url() -> Result<String> {
    if let Some(url) = outside_url() {
        return Ok(url);
    }
    if compose::engine_answers() && compose::is_running() {
        return Ok(compose::url());
    }
    local::Cluster::running_url()?.context("no PostgreSQL is running: start one with `cargo xtask db up`")
}

/// `DATABASE_URL` when it names a PostgreSQL server that answers.
fn outside_url() -> Option<String> {
    let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        eprintln!("xtask: DATABASE_URL is not a postgres:// URL; providing PostgreSQL otherwise");
        return None;
    }
    if shell::answers(&url, Duration::from_secs(3)) {
        Some(url)
    } else {
        eprintln!("xtask: the server in DATABASE_URL does not answer; providing PostgreSQL otherwise");
        None
    }
}
