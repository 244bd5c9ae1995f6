//! The service under load on one backend: started in release mode on a fresh database, seeded
//! with 100 API-key connections, then measured route by route, on complete OAuth flows and
//! through the MCP proxy (`proxy.rs`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::load::Request;
use super::procs::{Proc, free_port};
use super::report::{CONNECTIONS, CREDENTIALS, FLOWS, IDLE, Row, SERVERS};
use super::{Run, proxy};
use crate::shell;

/// Stored connections the listing returns.
const SEEDED: u32 = 100;
/// Concurrent OAuth flows of the flow driver.
const FLOW_WORKERS: u32 = 16;
/// The secret of the test authorization server's pre-registered client (not a real secret).
const CLIENT_SECRET: &str = "test-secret";

/// A service being measured, and how to call it.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) proc: Proc,
    pub(crate) base: String,
    pub(crate) backend: &'static str,
}

/// Every row of one backend: the idle memory and each scenario (without their ceilings yet).
pub(crate) fn measure(run: &Run, backend: &'static str, database_url: &str) -> Result<Vec<Row>> {
    let mut service = start(run, backend, database_url)?;
    let ref_id = seed(run, &service, "keyed", SEEDED)?;
    std::thread::sleep(std::time::Duration::from_secs(1));
    let idle = service.proc.memory_mib("VmRSS")?;
    let mut rows = vec![Row { scenario: IDLE.into(), backend: backend.into(), rss_mib: Some(idle), ..Row::default() }];
    let reads = [
        (SERVERS, "/assets/servers".to_owned()),
        (CONNECTIONS, "/assets/connections".to_owned()),
        (CREDENTIALS, format!("/assets/connections/{ref_id}/credentials")),
    ];
    for (scenario, path) in reads {
        let url = format!("{}{path}", service.base);
        let request = Request { url: &url, headers: &[("X-Engine-Key", &run.engine_key)], body: None };
        rows.push(http_scenario(run, &mut service, scenario, &request)?);
    }
    rows.push(flows(run, &mut service)?);
    rows.extend(proxy::measure(run, &mut service)?);
    Ok(rows)
}

pub(crate) fn start(run: &Run, backend: &'static str, database_url: &str) -> Result<Service> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let data = run.out.join(backend);
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    std::fs::create_dir_all(&data)?;
    let catalog = data.join("catalog.json");
    std::fs::write(&catalog, catalog_json(&run.auth_url, &format!("{}/mcp", run.mcp_base)).to_string())?;
    let mut cmd = Command::new(run.release.join("asset-directory"));
    cmd.env_remove("AD_CONFIG")
        .env("AD_ENV", "development")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("AD_DATA_DIR", &data)
        .env("CATALOG_PATH", &catalog)
        .env("OAUTH_REDIRECT_BASE_URL", &base)
        .env("AD_ALLOW_PRIVATE_NETWORKS", "true")
        .env("BENCH_CLIENT_SECRET", CLIENT_SECRET)
        .env("RUST_LOG", "warn")
        .env("LOG_FORMAT", "json")
        .env("ENGINE_API_KEY", &run.engine_key);
    let mut proc = Proc::spawn("the asset directory", &mut cmd, &run.out.join(format!("service-{backend}.log")))?;
    proc.wait_ready(port, "/health/ready")?;
    Ok(Service { proc, base, backend })
}

/// One API-key server for the stored connections and credentials, one OAuth server that is a
/// pre-registered client of the test authorization server, and the MCP proxy's server (the
/// run's trivial MCP server at `mcp`, its key in `X-Api-Key`).
fn catalog_json(auth: &str, mcp: &str) -> Value {
    json!({ "servers": [
        { "server_name": "keyed", "display_name": "Keyed", "transport": "streamable_http",
          "url": "https://keyed.example/mcp", "auth_method": "api_key",
          "api_key": { "header": "Authorization", "scheme": "Bearer" } },
        { "server_name": "acme", "display_name": "Acme", "transport": "streamable_http",
          "url": "https://acme.example/mcp", "auth_method": "oauth",
          "oauth": { "discovery": false, "issuer": auth,
                     "authorization_endpoint": format!("{auth}/authorize"),
                     "token_endpoint": format!("{auth}/token"),
                     "revocation_endpoint": format!("{auth}/revoke"),
                     "client_id": "test-client", "client_secret_env": "BENCH_CLIENT_SECRET",
                     "scopes": ["read"], "send_resource": true } },
        { "server_name": proxy::SERVER, "display_name": "Bench MCP", "transport": "streamable_http",
          "url": mcp, "auth_method": "api_key", "api_key": { "header": "X-Api-Key", "scheme": null } }
    ]})
}

pub(crate) fn support(run: &Run) -> Command {
    let mut cmd = Command::new(run.release.join("bench-support"));
    cmd.env("BENCH_ENGINE_KEY", &run.engine_key);
    cmd
}

/// Stores `count` API-key connections to `server`; returns the `ref_id` of one.
pub(crate) fn seed(run: &Run, service: &Service, server: &str, count: u32) -> Result<String> {
    let mut cmd = support(run);
    cmd.args(["seed", "--base", &service.base, "--server", server, "--count", &count.to_string()]);
    shell::read(&mut cmd).context("seeding the connections")
}

/// Warm-up, the peak, then half the peak's rate; the peak memory over all three.
pub(crate) fn http_scenario(run: &Run, service: &mut Service, scenario: &str, request: &Request<'_>) -> Result<Row> {
    reset_peak_rss(service);
    run.tool.measure(request, 1, None)?;
    let peak = run.tool.measure(request, run.seconds, None)?;
    let half = if run.tool.limits_rate() {
        Some(run.tool.measure(request, run.half_seconds, Some(peak.rps / 2.0))?)
    } else {
        None
    };
    service.proc.check_alive()?;
    Ok(Row {
        scenario: scenario.into(),
        backend: service.backend.into(),
        rps: Some(peak.rps),
        p50_ms: Some(peak.p50_ms),
        p99_ms: Some(peak.p99_ms),
        p99_half_ms: half.map(|h| h.p99_ms),
        rss_mib: Some(service.proc.memory_mib("VmHWM")?),
        ..Row::default()
    })
}

/// Resets the high-water mark of memory, so that `VmHWM` later is the peak of one scenario.
/// Where Linux refuses, the mark covers the process's whole life, which bounds it from above.
pub(crate) fn reset_peak_rss(service: &Service) {
    if !service.proc.reset_peak() {
        eprintln!("bench: cannot reset VmHWM; the peak RSS covers the whole life of the service");
    }
}

/// Complete OAuth flows by [`FLOW_WORKERS`] workers: warm-up, the peak, then half its rate.
pub(crate) fn flows(run: &Run, service: &mut Service) -> Result<Row> {
    reset_peak_rss(service);
    flow_run(run, service, 1, None)?;
    let peak = flow_run(run, service, run.seconds, None)?;
    let rps = peak["rps"].as_f64().context("no rps")?;
    let half = flow_run(run, service, run.half_seconds, Some(rps / 2.0))?;
    if half["late"].as_u64().unwrap_or(0) > 0 {
        eprintln!("bench: the flow driver skipped {} starts at half the peak rate", half["late"]);
    }
    service.proc.check_alive()?;
    Ok(Row {
        scenario: FLOWS.into(),
        backend: service.backend.into(),
        rps: Some(rps),
        p50_ms: peak["p50_ms"].as_f64(),
        p99_ms: peak["p99_ms"].as_f64(),
        p99_half_ms: half["p99_ms"].as_f64(),
        rss_mib: Some(service.proc.memory_mib("VmHWM")?),
        ..Row::default()
    })
}

fn flow_run(run: &Run, service: &Service, seconds: u32, rate: Option<f64>) -> Result<Value> {
    let mut cmd = support(run);
    cmd.args(["flows", "--base", &service.base, "--server", "acme"]);
    cmd.args(["--workers", &FLOW_WORKERS.to_string(), "--seconds", &seconds.to_string()]);
    if let Some(rate) = rate {
        cmd.args(["--rate", &format!("{rate:.1}")]);
    }
    let summary: Value = serde_json::from_str(&shell::read(&mut cmd)?).context("the flow driver printed no JSON")?;
    if summary["failed"].as_u64() != Some(0) || summary["completed"].as_u64().unwrap_or(0) == 0 {
        bail!("OAuth flows failed on {}: {summary}", service.backend);
    }
    Ok(summary)
}

/// Whether `path` exists and is a file (for the binaries of the release build).
pub(crate) fn built(path: &Path) -> Result<()> {
    if !path.is_file() {
        bail!("{} is missing after the release build", path.display());
    }
    Ok(())
}
