//! `cargo xtask bench [scale|proxy|events] [--seconds N] [--half-seconds N] [--scale-rows N]`: the service
//! measured against the limits
//! of the same machine, in the same run, so that every figure is a ratio that survives a noisy
//! or different machine.
//!
//! 1. PostgreSQL comes from [`crate::db::ensure_database`], as for `cargo xtask test`;
//!    `cargo build --release` builds the service, the test authorization server and
//!    `bench-support` (the ceiling handler and the OAuth flow driver).
//! 2. Ceilings: a trivial actix-web handler, and `pgbench -S` / `pgbench -N` (8 clients) on a
//!    database of their own on the same server, measured before and again after the service;
//!    a ratio divides by the mean of the two, so a drift of the machine's load during the run
//!    shows (the two figures are printed) and weighs on both sides.
//!    With them, `tools/call` sent straight to a trivial MCP server (`bench-support
//!    mcp-upstream`, started once for the whole run), the ceiling of the MCP proxy, and a signed
//!    event POSTed straight to a trivial webhook receiver (`bench-support webhook-receiver`),
//!    the ceiling of the lifecycle events' delivery.
//! 3. The service, on PostgreSQL (a fresh database) and on SQLite (a fresh file): `GET
//!    /assets/servers`, `GET /assets/connections` with 100 stored connections, their credentials
//!    (read + decrypt), each with oha over 32 connections; complete OAuth flows with the driver;
//!    the MCP proxy (`proxy.rs`): `tools/call` through it, and 5,000 event streams held at once
//!    (`bench proxy` runs only these, with their ceiling). Each: a 1 s warm-up, the peak, then half the peak's rate for the latency there; the
//!    service's memory (`VmRSS` when idle, `VmHWM` reset per scenario). On PostgreSQL, the
//!    lifecycle events (`events.rs`): delivery throughput and latency against the receiver, and
//!    the OAuth flows with and without a webhook endpoint (`bench events` runs only these, with
//!    their ceilings: the receiver and `pgbench -N`).
//! 4. The scale scenario (`scale.rs`): many connections, users and tenants seeded in SQL, at
//!    sizes growing from 10,000 rows to `--scale-rows` (1,000,000 by default). `bench scale`
//!    runs only it, with its ceilings.
//! 5. The table and the targets' PASS/MISS on standard output and in `docs/benchmarks.md`, the
//!    rows in `target/bench/results.json`. A MISS does not fail the command: it reports.
//!
//! Everything listens on 127.0.0.1; every load is bounded in time; whatever was started is
//! stopped when the run ends, however it ends.

mod events;
mod load;
mod pg;
mod procs;
mod proxy;
mod report;
mod scale;
mod service;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{db, shell};
use load::Request;
use procs::Proc;
use report::{PGBENCH_N, PGBENCH_S, Row, TRIVIAL};

/// The databases a run creates on the PostgreSQL server (and drops at its end).
const SERVICE_DATABASE: &str = "ad_bench";
const PGBENCH_DATABASE: &str = "ad_pgbench";
const SCALE_DATABASE: &str = "ad_bench_scale";
const SCALE_BASE_DATABASE: &str = "ad_bench_scale_base";
const EVENTS_DATABASE: &str = "ad_bench_events";

/// What every measurement needs.
#[derive(Debug)]
pub(crate) struct Run {
    out: PathBuf,
    release: PathBuf,
    tool: load::Tool,
    seconds: u32,
    half_seconds: u32,
    engine_key: String,
    auth_url: String,
    /// The trivial MCP server's base URL (its endpoint is `/mcp`, behind the proxy's catalog
    /// server).
    mcp_base: String,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
struct Options {
    seconds: u32,
    half_seconds: u32,
    part: Part,
    scale_rows: u64,
}

/// Which scenarios a run measures: all, or one part alone with its own ceilings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    All,
    /// `bench scale`: the scale scenario, with `pgbench`.
    Scale,
    /// `bench proxy`: the MCP proxy's scenarios on both backends, with `tools/call` straight.
    Proxy,
    /// `bench events`: the lifecycle events' scenarios, with the receiver and `pgbench -N`.
    Events,
}

impl Part {
    fn measures_scale(self) -> bool {
        matches!(self, Self::All | Self::Scale)
    }

    fn measures_proxy(self) -> bool {
        matches!(self, Self::All | Self::Proxy)
    }

    fn measures_events(self) -> bool {
        matches!(self, Self::All | Self::Events)
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let Options { seconds, half_seconds, part, scale_rows } = options(args)?;
    let root = shell::workspace_root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let database = db::ensure_database()?;
    shell::run(Command::new(env!("CARGO")).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "server",
        "-p",
        "test-oauth-server",
        "-p",
        "bench-support",
    ]))?;
    let release =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("release");
    for binary in ["asset-directory", "test-oauth-server", "bench-support"] {
        service::built(&release.join(binary))?;
    }
    let tool = load::Tool::find(&root)?;
    let pg = pg::Tools::find()?;
    let started = machine_state();
    let open_files = procs::raise_open_files();
    eprintln!("bench: at most {open_files} open files per process");
    let (_auth, auth_url) = procs::auth_server(&release.join("test-oauth-server"))?;
    let (mcp, mcp_base) = proxy::start_server(&release, &out)?;
    let run = Run { out, release, tool, seconds, half_seconds, engine_key: engine_key()?, auth_url, mcp_base };
    let mcp = part.measures_proxy().then_some(&mcp);
    let receiver = part.measures_events().then(|| events::start_ceiling(&run)).transpose()?;
    let receiver = receiver.as_ref();

    let before = ceilings(&run, &pg, &database.url, part, (mcp, receiver))?;
    let mut measured = Vec::new();
    if matches!(part, Part::All | Part::Proxy) {
        for (backend, url) in
            [("postgres", pg.fresh_database(&database.url, SERVICE_DATABASE)?), ("sqlite", sqlite_url(&run))]
        {
            if part == Part::Proxy {
                measured.extend(proxy::measure(&run, &mut service::start(&run, backend, &url)?)?);
            } else {
                measured.extend(service::measure(&run, backend, &url)?);
            }
        }
    }
    if part.measures_scale() {
        let scale_url = pg.fresh_database(&database.url, SCALE_DATABASE)?;
        let baseline_url = pg.fresh_database(&database.url, SCALE_BASE_DATABASE)?;
        measured.extend(scale::measure(&run, &pg, (&scale_url, &baseline_url), scale_rows)?);
    }
    if part.measures_events() {
        let events_url = pg.fresh_database(&database.url, EVENTS_DATABASE)?;
        measured.extend(events::measure(&run, &pg, &events_url)?);
    }
    let after = ceilings(&run, &pg, &database.url, part, (mcp, receiver))?;
    for name in [SERVICE_DATABASE, PGBENCH_DATABASE, SCALE_DATABASE, SCALE_BASE_DATABASE, EVENTS_DATABASE] {
        pg.drop_database(&database.url, name)?;
    }

    let mut drift = Vec::new();
    let mut rows = Vec::new();
    for (first, second) in before.iter().zip(&after) {
        let rps = |r: &Row| r.rps.unwrap_or_default();
        drift.push(format!("{} {:.0} then {:.0} req/s", first.scenario, rps(first), rps(second)));
        rows.push(first.mean(second));
    }
    for row in measured {
        let ceiling = report::ceiling_of(&row.scenario).and_then(|name| rows.iter().find(|c| c.scenario == name));
        let row = match ceiling {
            Some(ceiling) => row.against(ceiling),
            None => row,
        };
        rows.push(row);
    }

    let checks = report::checks(&rows);
    let about = format!(
        "Run of {} on {} ({}; at the end {}); load generator: {}; PostgreSQL {}; {} s per peak, {} s at \
         half the peak, {} HTTP connections, {} pgbench clients. Ceilings before and after the service: {}.\n\n",
        shell::read(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_default(),
        shell::read(Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(&root)).unwrap_or_default(),
        started,
        machine_state(),
        run.tool.describe(),
        pg.server_version(&database.url),
        run.seconds,
        run.half_seconds,
        load::CONNECTIONS,
        pg::CLIENTS,
        drift.join("; "),
    );
    let body = about + &report::render(&rows, &checks);
    writeln!(std::io::stdout(), "\n{body}")?;
    match part {
        Part::All => {
            report::write_json(&run.out.join("results.json"), &rows)?;
            report::write_doc(&root.join("docs/benchmarks.md"), &body)?;
            eprintln!("bench: wrote target/bench/results.json and docs/benchmarks.md");
        }
        // A partial run (often a small one, to try the scenario) leaves the document's table alone.
        Part::Scale | Part::Proxy | Part::Events => {
            let name = match part {
                Part::Scale => "scale-results.json",
                Part::Proxy => "proxy-results.json",
                _ => "events-results.json",
            };
            report::write_json(&run.out.join(name), &rows)?;
            eprintln!("bench: wrote target/bench/{name}");
        }
    }
    database.stop()
}

/// A fresh SQLite file for the service.
fn sqlite_url(run: &Run) -> String {
    for stale in ["sqlite.db", "sqlite.db-wal", "sqlite.db-shm"] {
        let _ = std::fs::remove_file(run.out.join(stale));
    }
    format!("sqlite://{}", run.out.join("sqlite.db").display())
}

/// `scale` (only the scale scenario), `proxy` (only the MCP proxy's), `events` (only the
/// lifecycle events'), `--seconds N` (the peak,
/// default 8), `--half-seconds N` (half the peak, default 5) and `--scale-rows N` (default
/// 1,000,000).
fn options(args: &[String]) -> Result<Options> {
    let mut options = Options { seconds: 8, half_seconds: 5, part: Part::All, scale_rows: 1_000_000 };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let part = match flag.as_str() {
            "scale" => Some(Part::Scale),
            "proxy" => Some(Part::Proxy),
            "events" => Some(Part::Events),
            _ => None,
        };
        if let Some(part) = part {
            options.part = part;
            continue;
        }
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let seconds = || value.parse().ok().filter(|v| (1..=60).contains(v)).context("seconds: 1 to 60");
        match flag.as_str() {
            "--seconds" => options.seconds = seconds()?,
            "--half-seconds" => options.half_seconds = seconds()?,
            "--scale-rows" => options.scale_rows = scale::rows_of(value)?,
            other => bail!(
                "unknown option `{other}`; usage: cargo xtask bench [scale|proxy|events] [--seconds N] [--half-seconds N] \
                 [--scale-rows N]"
            ),
        }
    }
    Ok(options)
}

/// A throwaway engine key for this run's services: 128 bits from the operating system.
fn engine_key() -> Result<String> {
    let mut bytes = [0_u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Cores and load average, so a reader can tell a busy machine.
fn machine_state() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let one_minute = load.split_whitespace().next().unwrap_or("?");
    format!("{cores} cores, load average {one_minute}")
}

/// The receiver whose ceiling the lifecycle events' delivery is compared with, and its URL.
type Receiver = (Proc, String);

/// The ceilings of `part`, in the order of the table: the trivial handler and `pgbench` (only
/// `-N` for the lifecycle events alone: their OAuth flows), `tools/call` straight to the trivial
/// MCP server `mcp` when the MCP proxy is measured, and events straight to `receiver` when the
/// lifecycle events are.
fn ceilings(
    run: &Run,
    pg: &pg::Tools,
    server_url: &str,
    part: Part,
    (mcp, receiver): (Option<&Proc>, Option<&Receiver>),
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    if part.measures_scale() {
        rows.push(trivial_ceiling(run)?);
        rows.push(pgbench_ceiling(run, pg, server_url, PGBENCH_S, "-S")?);
    }
    if part.measures_scale() || part.measures_events() {
        rows.push(pgbench_ceiling(run, pg, server_url, PGBENCH_N, "-N")?);
    }
    if let Some(mcp) = mcp {
        rows.push(proxy::ceiling(run, mcp)?);
    }
    if let Some(receiver) = receiver {
        rows.push(events::ceiling(run, receiver)?);
    }
    Ok(rows)
}

/// The trivial handler under the same load as the service's routes.
fn trivial_ceiling(run: &Run) -> Result<Row> {
    let port = procs::free_port()?;
    let mut cmd = Command::new(run.release.join("bench-support"));
    cmd.args(["ceiling", "--listen", &format!("127.0.0.1:{port}")]);
    let mut ceiling = Proc::spawn("the ceiling handler", &mut cmd, &run.out.join("ceiling.log"))?;
    ceiling.wait_ready(port, "/")?;
    let url = format!("http://127.0.0.1:{port}/");
    http_ceiling(run, TRIVIAL, &Request { url: &url, headers: &[], body: None }, &ceiling)
}

/// `request` to a ceiling's server under the same load as the service's routes: a warm-up, the
/// peak, half the peak; the server's peak memory over them.
pub(crate) fn http_ceiling(run: &Run, scenario: &str, request: &Request<'_>, server: &Proc) -> Result<Row> {
    server.reset_peak();
    run.tool.measure(request, 1, None)?;
    let peak = run.tool.measure(request, run.seconds, None)?;
    let half = if run.tool.limits_rate() {
        Some(run.tool.measure(request, run.half_seconds, Some(peak.rps / 2.0))?)
    } else {
        None
    };
    Ok(Row {
        scenario: scenario.into(),
        backend: "-".into(),
        rps: Some(peak.rps),
        p50_ms: Some(peak.p50_ms),
        p99_ms: Some(peak.p99_ms),
        p99_half_ms: half.map(|h| h.p99_ms),
        rss_mib: Some(server.memory_mib("VmHWM")?),
        ..Row::default()
    })
}

/// `pgbench -i`, then `pgbench <mode>` on a database of its own on the service's server.
fn pgbench_ceiling(run: &Run, pg: &pg::Tools, server_url: &str, scenario: &str, mode: &str) -> Result<Row> {
    let url = pg.fresh_database(server_url, PGBENCH_DATABASE)?;
    pg.init(&url)?;
    let result = pg.run(&url, mode, run.seconds, &run.out.join("pgbench-log"))?;
    Ok(Row {
        scenario: scenario.into(),
        backend: "postgres".into(),
        rps: Some(result.tps),
        p50_ms: result.p50_ms,
        p99_ms: result.p99_ms,
        ..Row::default()
    })
}

#[cfg(test)]
mod tests {
    use super::{Options, Part, options};

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_scale_scenario_alone_takes_its_row_count_and_defaults_to_a_million() {
        let only = options(&args("scale --scale-rows 100000 --seconds 3")).unwrap();
        assert_eq!(only, Options { seconds: 3, half_seconds: 5, part: Part::Scale, scale_rows: 100_000 });
        let full = options(&[]).unwrap();
        assert!(full.part == Part::All && full.scale_rows == 1_000_000);
        assert!(options(&args("--scale-rows 10")).is_err() && options(&args("--rows 10")).is_err());
    }

    #[test]
    fn the_proxy_scenarios_alone_are_asked_by_name_and_measure_no_scale() {
        let only = options(&args("proxy --seconds 4 --half-seconds 3")).unwrap();
        assert_eq!(only, Options { seconds: 4, half_seconds: 3, part: Part::Proxy, scale_rows: 1_000_000 });
        assert!(only.part.measures_proxy() && !only.part.measures_scale());
        assert!(!Part::Scale.measures_proxy() && Part::All.measures_proxy() && Part::All.measures_scale());
    }

    #[test]
    fn the_lifecycle_events_alone_are_asked_by_name_and_measure_nothing_else() {
        let only = options(&args("events --half-seconds 4")).unwrap();
        assert_eq!(only, Options { seconds: 8, half_seconds: 4, part: Part::Events, scale_rows: 1_000_000 });
        assert!(only.part.measures_events() && !only.part.measures_proxy() && !only.part.measures_scale());
        assert!(Part::All.measures_events() && !Part::Proxy.measures_events() && !Part::Scale.measures_events());
    }
}
