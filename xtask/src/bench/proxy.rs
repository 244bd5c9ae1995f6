//! The MCP proxy's scenarios (issue 16) on one backend, against the trivial MCP server of
//! `bench-support mcp-upstream`, which the run starts once and reaches through the catalog
//! server [`SERVER`] (an API key, sent in `X-Api-Key`):
//!
//! - `tools/call` round trips through `POST …/{ref_id}/mcp` with the engine key, as the other
//!   routes are measured (warm-up, peak, half the peak). Its ceiling is the same load sent
//!   straight to the server, measured with the other ceilings before and after the service.
//!   Right after the proxy's half-peak run, the same calls go straight to the server at that
//!   same rate: the p99 the proxy adds is the difference of the two p99s.
//! - [`PROXY_STREAM_COUNT`] event streams (`GET …/{ref_id}/mcp`) opened through the proxy by
//!   `bench-support streams` and held at once. While they are held, they are counted three
//!   ways (the client's streams still open, the server's, the service's `ad_proxy_open_streams`)
//!   and the service's resident memory is read; its peak (`VmHWM`) over the scenario is the
//!   row's. Once the client has gone, the server must see every stream closed (the proxy drops
//!   the upstream exchange of a client that went away).

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::load::Request;
use super::procs::{Proc, free_port};
use super::report::{MCP_STRAIGHT, PROXY_CALLS, PROXY_STRAIGHT_HALF, PROXY_STREAM_COUNT, PROXY_STREAMS, Row};
use super::service::{self, Service};
use super::{Run, http_ceiling};

/// The catalog server of the scenarios.
pub(crate) const SERVER: &str = "bench-mcp";
/// One `tools/call`, as an MCP client posts it.
const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
/// What an MCP client sends with every call (Streamable HTTP).
const ACCEPT: &str = "application/json, text/event-stream";
/// The headers of a call sent straight to the server: a key (it checks that one came, not
/// which), as the proxy adds one.
const STRAIGHT: [(&str, &str); 3] =
    [("X-Api-Key", "bench-straight-key"), ("Accept", ACCEPT), ("Content-Type", "application/json")];
/// The pause between two events of a held stream (the server's keep-alive).
const EVENT_EVERY_MS: u32 = 1000;
/// How long the streams are held once all are open, and when in that time they are counted.
const HOLD: Duration = Duration::from_secs(6);
const COUNT_AFTER: Duration = Duration::from_secs(2);
/// Longest wait for every stream to open (the holder gives up at 120 s itself).
const OPEN_WAIT: Duration = Duration::from_secs(150);
/// Longest wait for the server to see every stream closed once the client has gone.
const CLOSE_WAIT: Duration = Duration::from_secs(15);
/// Sockets the service holds besides the streams' (the database pool, the listener, logs).
const OTHER_FILES: u64 = 512;

/// Starts the trivial MCP server; returns it and its base URL.
pub(crate) fn start_server(release: &Path, out: &Path) -> Result<(Proc, String)> {
    let port = free_port()?;
    let mut cmd = Command::new(release.join("bench-support"));
    cmd.args(["mcp-upstream", "--listen", &format!("127.0.0.1:{port}")]);
    cmd.args(["--every-ms", &EVENT_EVERY_MS.to_string()]);
    let mut server = Proc::spawn("the trivial MCP server", &mut cmd, &out.join("mcp-upstream.log"))?;
    server.wait_ready(port, "/stats")?;
    Ok((server, format!("http://127.0.0.1:{port}")))
}

/// The ceiling: `tools/call` straight to the server `mcp`.
pub(crate) fn ceiling(run: &Run, mcp: &Proc) -> Result<Row> {
    let url = format!("{}/mcp", run.mcp_base);
    http_ceiling(run, MCP_STRAIGHT, &Request { url: &url, headers: &STRAIGHT, body: Some(CALL) }, mcp)
}

/// The rows of both scenarios on `service` (without their ceiling yet).
pub(crate) fn measure(run: &Run, service: &mut Service) -> Result<Vec<Row>> {
    let ref_id = service::seed(run, service, SERVER, 1)?;
    let url = format!("{}/assets/connections/{ref_id}/mcp", service.base);
    let headers = [("X-Engine-Key", run.engine_key.as_str()), ("Accept", ACCEPT), ("Content-Type", "application/json")];
    let through = Request { url: &url, headers: &headers, body: Some(CALL) };
    let calls = service::http_scenario(run, service, PROXY_CALLS, &through)?;
    let mut rows = Vec::new();
    if let (Some(rps), true) = (calls.rps, calls.p99_half_ms.is_some()) {
        let straight_url = format!("{}/mcp", run.mcp_base);
        let straight = Request { url: &straight_url, headers: &STRAIGHT, body: Some(CALL) };
        let half = run.tool.measure(&straight, run.half_seconds, Some(rps / 2.0))?;
        rows.push(Row {
            scenario: PROXY_STRAIGHT_HALF.into(),
            backend: service.backend.into(),
            p99_half_ms: Some(half.p99_ms),
            ..Row::default()
        });
    }
    rows.insert(0, calls);
    rows.push(streams(run, service, &url)?);
    Ok(rows)
}

/// [`PROXY_STREAM_COUNT`] streams through the proxy, held at once.
fn streams(run: &Run, service: &mut Service, url: &str) -> Result<Row> {
    let needed = 2 * PROXY_STREAM_COUNT + OTHER_FILES;
    let limit = service.proc.open_files_limit()?;
    if limit < needed {
        bail!(
            "the service may open {limit} files, and {PROXY_STREAM_COUNT} streams through it need about \
             {needed} (a socket to the client and one to the server each): raise the hard limit (`ulimit -Hn`)"
        );
    }
    service::reset_peak_rss(service);
    let mut cmd = service::support(run);
    cmd.args(["streams", "--url", url, "--count", &PROXY_STREAM_COUNT.to_string()]);
    cmd.args(["--hold", &HOLD.as_secs().to_string()]);
    let log = run.out.join(format!("streams-{}.log", service.backend));
    let (holder, lines) = Proc::spawn_reading("the stream holder", &mut cmd, &log)?;
    let opened = next_json(&lines, OPEN_WAIT).context("the stream holder")?;
    std::thread::sleep(COUNT_AFTER);
    let at_server = server_stats(run)?["open_streams"].as_u64().context("the MCP server counted no streams")?;
    let gauge = open_streams_gauge(run, service)?;
    let held_rss = service.proc.memory_mib("VmRSS")?;
    let ended = next_json(&lines, HOLD + Duration::from_secs(30)).context("the stream holder")?;
    let by_client = ended["held"].as_u64().context("the stream holder counted no streams")?;
    // It has closed its streams; gone for sure now.
    drop(holder);
    let left = left_open(run)?;
    service.proc.check_alive()?;
    let mut note = format!(
        "client {by_client}, MCP server {at_server}, ad_proxy_open_streams {gauge}; all opened in {:.1} s, \
         {} failed; RSS while held {held_rss:.1} MiB; {left} still open at the server {} s after the client left",
        opened["open_seconds"].as_f64().unwrap_or_default(),
        opened["failed"],
        CLOSE_WAIT.as_secs(),
    );
    if let Some(first) = opened["errors"].as_array().and_then(|errors| errors.first()) {
        note.push_str(&format!("; first error: {first}"));
    }
    Ok(Row {
        scenario: PROXY_STREAMS.into(),
        backend: service.backend.into(),
        p50_ms: opened["p50_ms"].as_f64(),
        p99_ms: opened["p99_ms"].as_f64(),
        rss_mib: Some(service.proc.memory_mib("VmHWM")?),
        held: Some(by_client.min(at_server).min(gauge)),
        note: Some(note),
        ..Row::default()
    })
}

/// The next line of the stream holder, as JSON.
fn next_json(lines: &mpsc::Receiver<String>, within: Duration) -> Result<Value> {
    let line = lines.recv_timeout(within).with_context(|| format!("printed nothing within {} s", within.as_secs()))?;
    serde_json::from_str(&line).with_context(|| format!("printed `{line}`"))
}

fn get(url: &str, headers: &[(&str, &str)]) -> Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().with_context(|| format!("GET {url}"))?;
    Ok(response.body_mut().read_to_string()?)
}

fn server_stats(run: &Run) -> Result<Value> {
    Ok(serde_json::from_str(&get(&format!("{}/stats", run.mcp_base), &[])?)?)
}

/// The service's `ad_proxy_open_streams` gauge.
fn open_streams_gauge(run: &Run, service: &Service) -> Result<u64> {
    let text = get(&format!("{}/metrics", service.base), &[("X-Engine-Key", &run.engine_key)])?;
    let line = text.lines().find(|l| l.starts_with("ad_proxy_open_streams ")).context("no ad_proxy_open_streams")?;
    let value: f64 = line["ad_proxy_open_streams ".len()..].trim().parse()?;
    Ok(value as u64)
}

/// The streams the server still has open once the client has gone, after waiting at most
/// [`CLOSE_WAIT`] for them to close.
fn left_open(run: &Run) -> Result<u64> {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        let open = server_stats(run)?["open_streams"].as_u64().unwrap_or(u64::MAX);
        if open == 0 || Instant::now() >= deadline {
            return Ok(open);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
