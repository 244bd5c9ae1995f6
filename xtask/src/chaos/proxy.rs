//! The MCP proxy against upstream faults (issue 16): an upstream that accepts and never answers
//! beside a healthy one (`proxy-silent`), and 50 calls at once refused `401` on one OAuth
//! connection (`proxy-401`). The upstream killed under open streams is `proxy_streams`. What the
//! scenarios share: a catalog whose servers are the run's upstreams, and the calls an MCP client
//! makes.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::http::{Client, Reply};
use super::load::{quantile_ms_of, statuses_of};
use super::procs::Service;
use super::upstream::{Silent, Upstream};
use super::{Backend, Outcome, Run, flows};

/// Catalog entries behind the proxy: an API-key server (the key as a bearer token), an OAuth one
/// at the run's authorization server, and an API-key one that never answers.
pub(crate) const UP_KEYED: &str = "up-keyed";
pub(crate) const UP_OAUTH: &str = "up-oauth";
const UP_SILENT: &str = "up-silent";

/// Writes `catalog-{scenario}.json`: `catalog` and, for each `(name, like, url)`, a copy of its
/// entry `like` renamed `name` whose server is at `url`. Returns the file's path.
pub(crate) fn catalog_with(
    run: &Run,
    scenario: &str,
    mut catalog: Value,
    servers: &[(&str, &str, String)],
) -> Result<String> {
    let entries = catalog["servers"].as_array_mut().context("a catalog without servers")?;
    for (name, like, url) in servers {
        let mut entry = entries.iter().find(|e| e["server_name"] == *like).cloned().context("no such entry")?;
        entry["server_name"] = json!(name);
        entry["display_name"] = json!(name);
        entry["url"] = json!(url);
        entries.push(entry);
    }
    let path = run.dir.join(format!("catalog-{scenario}.json"));
    std::fs::write(&path, catalog.to_string())?;
    Ok(path.display().to_string())
}

pub(crate) fn mcp_path(ref_id: &str) -> String {
    format!("/assets/connections/{ref_id}/mcp")
}

/// A `tools/call` through the proxy with the engine key.
pub(crate) fn call(client: &Client, ref_id: &str, id: usize) -> Reply {
    client.post(&mcp_path(ref_id), &tool_call(id))
}

pub(crate) fn tool_call(id: usize) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo", "arguments": {}}})
}

/// `ad_proxy_open_streams` of the service's `/metrics`.
pub(crate) fn open_streams(client: &Client) -> Option<i64> {
    let reply = client.get("/metrics");
    reply.body.as_str()?.lines().find_map(|l| l.strip_prefix("ad_proxy_open_streams ")?.trim().parse().ok())
}

/// How long until `done` held, polled every 50 ms for at most `bound`; `None` if it never did.
pub(crate) fn within(bound: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if done() {
            return Some(started.elapsed());
        }
        if started.elapsed() > bound {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first byte bound the `proxy-silent` service runs with (`PROXY_FIRST_BYTE_TIMEOUT_MS`).
const FIRST_BYTE: Duration = Duration::from_millis(1000);
/// How much later than the bound a `504` may come.
const TIMEOUT_SLACK: Duration = Duration::from_millis(500);
/// The slowest answer allowed to a call that is not to the silent server.
const UNSTARVED: Duration = Duration::from_millis(300);

/// What the threads of `proxy-silent` saw.
#[derive(Debug, Default)]
struct Seen {
    silent: Vec<Reply>,
    healthy: Vec<Reply>,
    other: Vec<Reply>,
}

pub(crate) fn silent_upstream(run: &Run) -> Result<Outcome> {
    let up = Upstream::start(run, "proxy-silent")?;
    let silent = Silent::start()?;
    let like = flows::KEYED_SERVER;
    let catalog = catalog_with(
        run,
        "proxy-silent",
        flows::catalog(&run.auth.base),
        &[(UP_KEYED, like, up.url()), (UP_SILENT, like, silent.url())],
    )?;
    let spec = run
        .service("proxy-silent", Backend::Postgres)?
        .var("CATALOG_PATH", catalog)
        .var("PROXY_FIRST_BYTE_TIMEOUT_MS", FIRST_BYTE.as_millis().to_string());
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(10));
    let key = format!("{}proxy-silent", run.secrets.api_key_prefix);
    let (healthy, hushed) =
        (flows::connect_keyed_to(&client, UP_KEYED, &key)?, flows::connect_keyed_to(&client, UP_SILENT, &key)?);

    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut threads = Vec::new();
    // 16 callers of the silent server, 4 of the healthy one, one of the other routes.
    for t in 0..21 {
        let (client, seen, healthy, hushed) = (client.clone(), seen.clone(), healthy.clone(), hushed.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let lock = || seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match t {
                    0..16 => {
                        let reply = call(&client, &hushed, n);
                        lock().silent.push(reply);
                    }
                    16..20 => {
                        let reply = call(&client, &healthy, n);
                        lock().healthy.push(reply);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => {
                        let read = format!("/assets/connections/{healthy}");
                        let reply = client.get(["/health", "/assets/connections", &read][n % 3]);
                        lock().other.push(reply);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }));
    }
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("a caller panicked"))?;
    }
    let accepted = silent.accepted();
    service.stop()?;
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner));

    let bound = FIRST_BYTE + TIMEOUT_SLACK;
    let timed_out = |r: &&Reply| r.status == 504 && r.code() == "MCP_UPSTREAM_TIMEOUT";
    let in_time =
        seen.silent.iter().filter(timed_out).filter(|r| r.elapsed >= FIRST_BYTE && r.elapsed <= bound).count();
    let slowest = |replies: &[Reply]| replies.iter().map(|r| r.elapsed).max().unwrap_or_default();
    let ok = |replies: &[Reply]| replies.iter().filter(|r| r.status == 200).count();
    let (healthy_ok, other_ok) = (ok(&seen.healthy), ok(&seen.other));
    let pass = !seen.silent.is_empty()
        && in_time == seen.silent.len()
        && !seen.healthy.is_empty()
        && healthy_ok == seen.healthy.len()
        && slowest(&seen.healthy) <= UNSTARVED
        && other_ok == seen.other.len()
        && slowest(&seen.other) <= UNSTARVED;
    Ok(Outcome::new(
        pass,
        format!(
            "silent server (accepted {accepted} connections): {in_time}/{} calls 504 MCP_UPSTREAM_TIMEOUT within \
             {}-{} ms [{}], slowest {} ms; healthy server meanwhile: {healthy_ok}/{} × 200, p99 {:.1} ms, slowest {} ms; \
             other routes: {other_ok}/{} × 200, slowest {} ms (bound {} ms)",
            seen.silent.len(),
            FIRST_BYTE.as_millis(),
            bound.as_millis(),
            statuses_of(&seen.silent),
            slowest(&seen.silent).as_millis(),
            seen.healthy.len(),
            quantile_ms_of(&seen.healthy, 0.99),
            slowest(&seen.healthy).as_millis(),
            seen.other.len(),
            slowest(&seen.other).as_millis(),
            UNSTARVED.as_millis(),
        ),
    ))
}

/// Calls released together on one connection whose token the upstream refuses.
const AT_ONCE: usize = 50;

pub(crate) fn refused_at_once(run: &Run) -> Result<Outcome> {
    let up = Upstream::start(run, "proxy-401")?;
    let catalog =
        catalog_with(run, "proxy-401", flows::catalog(&run.auth.base), &[(UP_OAUTH, flows::OAUTH_SERVER, up.url())])?;
    let spec = run.service("proxy-401", Backend::Postgres)?.var("CATALOG_PATH", catalog);
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(20));
    run.auth.set_token_lifetime(3600)?;
    let ref_id = flows::connect_oauth_to(&client, UP_OAUTH)?;
    let first = call(&client, &ref_id, 0);
    if first.status != 200 {
        bail!("the first call through the proxy answered {} {}", first.status, first.body);
    }
    let bearer = |reply: &Reply| flows::authorization(reply).and_then(|a| a.strip_prefix("Bearer ")).map(str::to_owned);
    let refused = bearer(&flows::credentials(&client, &ref_id)).context("no bearer token in the credentials")?;
    up.refuse(&refused)?;
    let refreshes_before = run.auth.counter("refreshes")?;

    let barrier = Arc::new(Barrier::new(AT_ONCE));
    let threads: Vec<_> = (1..=AT_ONCE)
        .map(|n| {
            let (client, barrier, ref_id) = (client.clone(), barrier.clone(), ref_id.clone());
            std::thread::spawn(move || {
                barrier.wait();
                call(&client, &ref_id, n)
            })
        })
        .collect();
    let replies: Vec<Reply> = threads
        .into_iter()
        .map(|t| t.join().map_err(|_| anyhow::anyhow!("a caller panicked")))
        .collect::<Result<_>>()?;
    let refreshes = run.auth.counter("refreshes")? - refreshes_before;
    let stats = up.stats()?;
    let now = bearer(&flows::credentials(&client, &ref_id));
    let status = flows::status(&client, &ref_id)?;
    service.stop()?;

    let ok = replies.iter().filter(|r| r.status == 200 && r.body["id"].is_number()).count();
    let answered_401 = stats["refused"].as_u64().unwrap_or(0);
    let replaced = now.as_ref().is_some_and(|t| *t != refused);
    let pass =
        ok == AT_ONCE && refreshes == 1 && answered_401 >= 1 && replaced && status.as_deref() == Some("connected");
    Ok(Outcome::new(
        pass,
        format!(
            "{AT_ONCE} calls at once with a token the server refuses: {ok} × 200 [{}]; the server answered {answered_401} \
             × 401 and {} × 200; {refreshes} refresh(es) at the authorization server (must be 1); the token {} \
             replaced, the connection {}",
            statuses_of(&replies),
            stats["answered"],
            if replaced { "was" } else { "was NOT" },
            status.as_deref().unwrap_or("gone"),
        ),
    ))
}
