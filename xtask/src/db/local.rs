//! A throwaway PostgreSQL cluster from the local binaries, in `target/xtask-pg/`.
//!
//! `initdb` makes it once (superuser `postgres`, trust authentication, C locale); `pg_ctl`
//! starts it listening on 127.0.0.1 only (no Unix socket), on the port it had before or a free
//! one, with durability turned off (it holds nothing worth keeping). `cargo xtask chaos` makes
//! another one in a directory of its own ([`Cluster::ensure_in`]), which it may kill: durable,
//! and also on a Unix socket in that directory. PostgreSQL refuses to run
//! as root, so when xtask is root every PostgreSQL program runs as the `postgres` user through
//! `runuser`, and the directory is handed to that user.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use super::shell;

const SUPERUSER: &str = "postgres";
const DATABASE: &str = "asset_directory";

/// A cluster directory and how to run its programs.
#[derive(Debug)]
pub(crate) struct Cluster {
    dir: PathBuf,
    bindir: PathBuf,
    as_postgres_user: bool,
    port: u16,
    /// Commits reach the disk (off for `db up`, whose data is worth nothing).
    durable: bool,
}

/// The directory under `target/` of the cluster `db up` and `cargo xtask test` use.
const SHARED_DIR: &str = "xtask-pg";

impl Cluster {
    /// Starts the cluster (creating it first if needed). Returns it and whether it was running.
    pub(super) fn ensure() -> Result<(Self, bool)> {
        Self::ensure_in(SHARED_DIR, false)
    }

    /// [`Cluster::ensure`] for a cluster of its own in `target/<dir>`.
    pub(crate) fn ensure_in(dir: &str, durable: bool) -> Result<(Self, bool)> {
        let mut cluster = Self { durable, ..Self::locate_in(dir)? };
        std::fs::create_dir_all(&cluster.dir).with_context(|| format!("cannot create {}", cluster.dir.display()))?;
        if cluster.as_postgres_user {
            shell::run(Command::new("chown").args(["-R", "postgres:"]).arg(&cluster.dir))?;
        }
        if !cluster.data().join("PG_VERSION").exists() {
            cluster.init()?;
        }
        if cluster.is_running() {
            cluster.port = cluster.saved_port().context("the running cluster's port file is missing")?;
            return Ok((cluster, true));
        }
        cluster.port = cluster.saved_port().filter(|p| port_is_free(*p)).map_or_else(free_port, Ok)?;
        std::fs::write(cluster.port_file(), cluster.port.to_string())?;
        cluster.start()?;
        cluster.create_database()?;
        Ok((cluster, false))
    }

    /// The URL of the cluster if it is running.
    pub(super) fn running_url() -> Result<Option<String>> {
        let mut cluster = Self::locate()?;
        if !cluster.data().join("PG_VERSION").exists() || !cluster.is_running() {
            return Ok(None);
        }
        cluster.port = cluster.saved_port().context("the running cluster's port file is missing")?;
        Ok(Some(cluster.url()))
    }

    pub(super) fn stop_if_running() -> Result<()> {
        let cluster = Self::locate()?;
        if cluster.data().join("PG_VERSION").exists() && cluster.is_running() {
            cluster.stop()?;
        }
        Ok(())
    }

    /// Stops the cluster if it runs and deletes its directory.
    pub(super) fn remove() -> Result<()> {
        Self::stop_if_running()?;
        let dir = Self::locate()?.dir;
        if dir.exists() {
            eprintln!("$ rm -rf {}", dir.display());
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        Ok(())
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Stops the cluster and waits until every PostgreSQL process of it has exited.
    pub(crate) fn stop(self) -> Result<()> {
        let data = self.data();
        shell::run(self.tool("pg_ctl").arg("stop").arg("-D").arg(&data).args(["-m", "fast", "-w", "-t", "60"]))?;
        if self.is_running() {
            bail!("PostgreSQL in {} is still running after `pg_ctl stop`", data.display());
        }
        Ok(())
    }

    /// Stops the cluster the way a crash would: every process gets SIGQUIT, nothing is flushed.
    pub(crate) fn kill_immediately(&self) -> Result<()> {
        shell::run(self.tool("pg_ctl").arg("stop").arg("-D").arg(self.data()).args(["-m", "immediate", "-w"]))
    }

    /// Starts the stopped cluster again on its port (crash recovery runs first).
    pub(crate) fn restart(&self) -> Result<()> {
        self.start()
    }

    /// The process id of the postmaster, from `postmaster.pid`.
    pub(crate) fn postmaster_pid(&self) -> Result<u32> {
        let file = self.data().join("postmaster.pid");
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        text.lines().next().and_then(|l| l.trim().parse().ok()).context("postmaster.pid has no process id")
    }

    /// `pg_dump` of one database as SQL text.
    pub(crate) fn dump(&self, database: &str) -> Result<String> {
        let port = self.port.to_string();
        shell::read(self.tool("pg_dump").args(["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER, database]))
    }

    /// Drops `database` if it exists, creates it empty, and returns its URL.
    pub(crate) fn recreate_database(&self, database: &str) -> Result<String> {
        self.psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
        self.psql(&format!("CREATE DATABASE {database}"))?;
        Ok(format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port))
    }

    /// The databases whose names start with `prefix`.
    pub(crate) fn databases_like(&self, prefix: &str) -> Result<Vec<String>> {
        let names = self.psql(&format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' ORDER BY 1"))?;
        Ok(names.lines().map(str::to_owned).collect())
    }

    /// Starts a session that locks `table` of `database` (every other statement on it waits)
    /// and lets go after `seconds`; the lock is held once this returns. Wait for the child.
    pub(crate) fn hold_lock(&self, database: &str, table: &str, seconds: u32) -> Result<Child> {
        let script = format!(
            "BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\n\\echo locked\nSELECT pg_sleep({seconds});\nCOMMIT;\n"
        );
        eprintln!("$ psql -d {database} (lock {table} for {seconds} s) &");
        let port = self.port.to_string();
        let mut child = self
            .tool("psql")
            .args(["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER, "-d", database, "-qtA", "-o", "/dev/null"])
            // Without it psql goes on after a failed LOCK and prints `locked` all the same.
            .args(["-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        child.stdin.take().context("no standard input")?.write_all(script.as_bytes())?;
        let mut lines = BufReader::new(child.stdout.take().context("no standard output")?).lines();
        let first = lines.next().transpose()?.unwrap_or_default();
        if first != "locked" {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the lock on {table} was not taken (psql printed `{first}`)");
        }
        // Drained to the end, so psql never writes into a closed pipe and dies holding the lock.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(child)
    }

    /// The URL of `database` over the cluster's Unix socket (durable clusters only).
    pub(crate) fn socket_url(&self, database: &str) -> String {
        let dir = self.dir.display().to_string().replace('/', "%2F");
        format!("postgres://{SUPERUSER}@{dir}:{}/{database}", self.port)
    }

    fn psql(&self, sql: &str) -> Result<String> {
        let port = self.port.to_string();
        shell::read(
            self.tool("psql")
                .args(["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER])
                .args(["-d", "postgres", "-tAc", sql]),
        )
    }

    fn locate() -> Result<Self> {
        Self::locate_in(SHARED_DIR)
    }

    fn locate_in(dir: &str) -> Result<Self> {
        let bindir = shell::read(Command::new("pg_config").arg("--bindir")).context(
            "no DATABASE_URL, no Docker engine and no local PostgreSQL (`pg_config` not found): \
             install PostgreSQL's server package or set DATABASE_URL",
        )?;
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| shell::workspace_root().join("target"), PathBuf::from);
        let (bindir, as_postgres_user) = (PathBuf::from(bindir), is_root());
        Ok(Self { dir: target.join(dir), bindir, as_postgres_user, port: 0, durable: false })
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn port_file(&self) -> PathBuf {
        self.dir.join("port")
    }

    fn saved_port(&self) -> Option<u16> {
        std::fs::read_to_string(self.port_file()).ok()?.trim().parse().ok()
    }

    /// A PostgreSQL program, run as the `postgres` user when xtask is root.
    fn tool(&self, name: &str) -> Command {
        let program = self.bindir.join(name);
        if self.as_postgres_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    fn init(&self) -> Result<()> {
        shell::run(self.tool("initdb").arg("-D").arg(self.data()).args([
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]))
    }

    fn is_running(&self) -> bool {
        shell::succeeds(self.tool("pg_ctl").arg("status").arg("-D").arg(self.data()))
    }

    fn start(&self) -> Result<()> {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=300",
            self.port
        );
        if self.durable {
            // Also a Unix socket, for clients in a network namespace of their own.
            options =
                options.replace("unix_socket_directories=", &format!("unix_socket_directories={}", self.dir.display()));
        } else {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        shell::run(
            self.tool("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-w", "-t", "60", "-o", &options]),
        )
        .with_context(|| format!("PostgreSQL did not start; see {}", self.dir.join("postgres.log").display()))
    }

    fn create_database(&self) -> Result<()> {
        let exists = self.psql(&format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"))?;
        if exists.is_empty() {
            self.psql(&format!("CREATE DATABASE {DATABASE}"))?;
        }
        Ok(())
    }
}

/// Whether this process runs as root (PostgreSQL then has to run as another user).
fn is_root() -> bool {
    Path::new("/proc/self").metadata().map(|m| m.uid() == 0).unwrap_or(false)
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("no free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}
