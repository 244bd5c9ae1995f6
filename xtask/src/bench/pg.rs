//! PostgreSQL for the bench: fresh databases on the server `cargo xtask test` uses, and the
//! `pgbench` ceilings (`-S` select-only and `-N` simple-update, 8 clients) measured against it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::shell;

/// Clients of every pgbench run, as the issue asks.
pub(crate) const CLIENTS: u32 = 8;

/// A pgbench result: transactions per second and latency percentiles (from a 10 % sample of the
/// per-transaction log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pgbench {
    pub tps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// PostgreSQL's client programs, from `pg_config --bindir`.
#[derive(Debug)]
pub(crate) struct Tools {
    bindir: PathBuf,
}

impl Tools {
    pub(crate) fn find() -> Result<Self> {
        let bindir = shell::read(Command::new("pg_config").arg("--bindir"))
            .context("pgbench comes with PostgreSQL: `pg_config --bindir` must name its programs")?;
        Ok(Self { bindir: PathBuf::from(bindir) })
    }

    fn tool(&self, name: &str) -> Command {
        Command::new(self.bindir.join(name))
    }

    /// Drops `name` if it exists and creates it empty; returns its URL.
    pub(crate) fn fresh_database(&self, server_url: &str, name: &str) -> Result<String> {
        self.drop_database(server_url, name)?;
        self.psql(server_url, &format!("CREATE DATABASE {name}"))?;
        Ok(with_database(server_url, name))
    }

    /// Drops `name` if it exists (so a run leaves nothing behind on a server it did not start).
    pub(crate) fn drop_database(&self, server_url: &str, name: &str) -> Result<()> {
        self.psql(server_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    }

    fn psql(&self, url: &str, sql: &str) -> Result<()> {
        self.query(url, sql).map(drop)
    }

    /// Runs `sql` on `url`; what it printed, unaligned and without headers.
    pub(crate) fn query(&self, url: &str, sql: &str) -> Result<String> {
        shell::read(self.tool("psql").args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]).arg(url))
    }

    pub(crate) fn server_version(&self, url: &str) -> String {
        shell::read(self.tool("psql").args(["-X", "-tA", "-c", "SHOW server_version"]).arg(url)).unwrap_or_default()
    }

    /// `pgbench -i` on `url`.
    pub(crate) fn init(&self, url: &str) -> Result<()> {
        shell::read(self.tool("pgbench").args(["-i", "-q"]).arg(url)).map(drop)
    }

    /// `pgbench <mode> -c 8` for `seconds` on a database [`Tools::init`] prepared.
    pub(crate) fn run(&self, url: &str, mode: &str, seconds: u32, log_dir: &Path) -> Result<Pgbench> {
        if log_dir.exists() {
            std::fs::remove_dir_all(log_dir)?;
        }
        std::fs::create_dir_all(log_dir)?;
        let prefix = log_dir.join("txn");
        let out = shell::read(
            self.tool("pgbench")
                .args([mode, "-n", "-c", &CLIENTS.to_string(), "-j", "2", "-T", &seconds.to_string()])
                .args(["-l", "--sampling-rate", "0.1"])
                .arg(format!("--log-prefix={}", prefix.display()))
                .arg(url),
        )?;
        let tps = out
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("pgbench printed no `tps = …` line")?;
        let mut latencies = transaction_latencies_ms(log_dir)?;
        latencies.sort_by(f64::total_cmp);
        Ok(Pgbench { tps, p50_ms: percentile(&latencies, 0.50), p99_ms: percentile(&latencies, 0.99) })
    }
}

/// The third field of every line of pgbench's per-transaction logs: the latency in µs.
fn transaction_latencies_ms(dir: &Path) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        out.extend(
            text.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok()).map(|micros| micros / 1000.0),
        );
    }
    Ok(out)
}

/// The value at quantile `q` of sorted `values` (nearest rank), if any.
pub(crate) fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    values.get(((last as f64) * q).round() as usize).copied()
}

/// `url` with its database name replaced by `name` (query and credentials kept).
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{percentile, with_database};

    #[test]
    fn the_database_name_is_replaced_and_everything_else_kept() {
        assert_eq!(with_database("postgres://u:p@h:5/ad", "x"), "postgres://u:p@h:5/x");
        assert_eq!(with_database("postgres://h/ad?sslmode=require", "x"), "postgres://h/x?sslmode=require");
        assert_eq!(with_database("postgresql://h:5", "x"), "postgresql://h:5/x");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(51.0));
        assert_eq!(percentile(&values, 0.99), Some(99.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
