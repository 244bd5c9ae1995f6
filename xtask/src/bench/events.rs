//! The lifecycle events' scenarios (issue 17), on PostgreSQL, against the trivial webhook receiver
//! of `bench-support webhook-receiver` (one line logged per request, its signature checked with
//! the endpoint's secret). One endpoint of the tenant `default` is registered over the API.
//!
//! - **OAuth flows with and without the endpoint**: the flows of the other scenarios, with the
//!   endpoint paused and enabled alternately (paused, enabled, enabled, paused, so a drift of the
//!   machine weighs on both), each a ratio to `pgbench -N`; each flow announces one event.
//! - **Delivery throughput**: a backlog of events seeded in SQL in one transaction, as a change
//!   writes them (audit rows with their `event_*` columns; the migration's triggers write the
//!   events and queue the deliveries), then drained by the service's dispatcher; the rate is read
//!   from the receiver's log, over the middle 80 % of the deliveries (no warm-up, no tail). A
//!   smaller backlog first warms the service and sizes the measured one to last about `--seconds`.
//!   Its ceiling is the receiver itself: a signed event POSTed straight to another receiver of
//!   the same build by oha, measured with the other ceilings before and after the service.
//! - **Latency at half that rate**: API-key connects through the public API at half the target
//!   of 2,000 events/s, or of the measured peak when that is lower (`bench-support connects`),
//!   each logged with when it was answered; the time from that answer (the change had committed)
//!   to the receiver's line for the same connection.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::load::Request;
use super::procs::{Proc, free_port};
use super::report::{EVENTS_DELIVERY, EVENTS_FLOWS, EVENTS_FLOWS_ENDPOINT, EVENTS_RECEIVER, EVENTS_TARGET_RPS, Row};
use super::service::{self, Service};
use super::{Run, http_ceiling, pg};
use crate::shell;

/// The secret of the ceiling's receiver (not a real secret: 24 zero bytes), so that it checks a
/// signature as the measured one does.
const CEILING_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/// A connection's event, as the service sends it, with a signature the ceiling's receiver
/// computes and refuses (its line says `bad`; the work is the same).
const EVENT: &str = r#"{"id":"evt_kkkkkkkkkkkkkkkkkkkkkkkkkk","type":"connection.connected","created_at":"2026-12-08T00:00:00Z","data":{"ref_id":"conn-kkkkkkkkkkkkkkkkkkkkkkkkkk","server_name":"keyed","user_id":"bench-user","status":"connected","previous_status":null,"reason_code":"provisioned"}}"#;
const HEADERS: [(&str, &str); 4] = [
    ("Content-Type", "application/json"),
    ("webhook-id", "evt_kkkkkkkkkkkkkkkkkkkkkkkkkk"),
    ("webhook-timestamp", "1796688000"),
    ("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
];
/// The warm-up backlog, and the bounds of the measured one.
const WARM_UP_EVENTS: u64 = 2_000;
const MIN_EVENTS: u64 = 10_000;
const MAX_EVENTS: u64 = 200_000;
/// The slowest drain accepted (events per second) before the run gives up waiting.
const SLOWEST_DRAIN: u64 = 200;
/// How long the latency scenario waits for the last connects' events.
const LAST_EVENTS_WAIT: Duration = Duration::from_secs(30);
/// Connects in flight at most at half the peak.
const CONNECT_WORKERS: u32 = 128;
/// Rounds of flows per side (paused, enabled), alternating: one round swings by ±15 % on this
/// machine, so the means need several to show a 5 % drop.
const FLOW_ROUNDS: usize = 5;

/// Starts a receiver on `port`, checking signatures with `secret`, logging to a fresh
/// `target/bench/{name}.log`.
fn spawn_receiver(run: &Run, name: &str, port: u16, secret: &str) -> Result<Proc> {
    let log = run.out.join(format!("{name}.log"));
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(run.release.join("bench-support"));
    cmd.args(["webhook-receiver", "--listen", &format!("127.0.0.1:{port}"), "--log"]).arg(&log);
    // On the command line: the ceiling's is no secret, the other this run's throwaway endpoint's.
    cmd.args(["--secret", secret]);
    let mut receiver = Proc::spawn("the webhook receiver", &mut cmd, &run.out.join(format!("{name}.out")))?;
    receiver.wait_listening(port)?;
    Ok(receiver)
}

fn hook(port: u16) -> String {
    format!("http://127.0.0.1:{port}/hook")
}

/// Starts the ceiling's receiver, for the whole run; it and its URL.
pub(crate) fn start_ceiling(run: &Run) -> Result<(Proc, String)> {
    let port = free_port()?;
    Ok((spawn_receiver(run, "receiver-ceiling", port, CEILING_SECRET)?, hook(port)))
}

/// The ceiling: a signed event POSTed straight to the receiver `receiver` at `url`.
pub(crate) fn ceiling(run: &Run, (receiver, url): &(Proc, String)) -> Result<Row> {
    http_ceiling(run, EVENTS_RECEIVER, &Request { url, headers: &HEADERS, body: Some(EVENT) }, receiver)
}

/// Every row of the scenarios, on a fresh database `url` (without their ceilings yet).
pub(crate) fn measure(run: &Run, tools: &pg::Tools, url: &str) -> Result<Vec<Row>> {
    let mut service = service::start(run, "postgres-events", url)?;
    let port = free_port()?;
    let created = call(run, "POST", &format!("{}/assets/webhooks", service.base), &json!({ "url": hook(port) }))?;
    let (Some(id), Some(secret)) = (created["id"].as_str(), created["secret"].as_str()) else {
        bail!("POST /assets/webhooks answered {created}");
    };
    let mut receiver = spawn_receiver(run, "receiver-events", port, secret)?;
    let switch = format!("{}/assets/webhooks/{id}", service.base);

    let mut rows = flows(run, &mut service, &switch)?;
    let mut tail = Tail::new(run.out.join("receiver-events.log"));
    let (delivered, note, missing) = peak_and_half(run, tools, url, &mut service, &mut tail)?;
    receiver.check_alive()?;
    rows.insert(0, Row { note: Some(note), lost: Some(missing), ..delivered });
    Ok(rows)
}

/// The flows' ratio with the endpoint paused and enabled, [`FLOW_ROUNDS`] each, alternating.
fn flows(run: &Run, service: &mut Service, switch: &str) -> Result<Vec<Row>> {
    let (mut paused, mut enabled) = (Vec::new(), Vec::new());
    for round in 0..FLOW_ROUNDS {
        for enable in if round % 2 == 0 { [false, true] } else { [true, false] } {
            call(run, "PATCH", switch, &json!({ "enabled": enable }))?;
            let row = service::flows(run, service)?;
            if enable { enabled.push(row) } else { paused.push(row) }
        }
    }
    // The deliveries queued meanwhile, and the scenarios after, need it enabled.
    call(run, "PATCH", switch, &json!({ "enabled": true }))?;
    let mean = |rows: Vec<Row>, scenario: &str| {
        let mut mean = rows.iter().skip(1).fold(rows[0].clone(), |sum, row| sum.mean(row));
        mean.scenario = scenario.into();
        mean.backend = "postgres".into();
        mean.note = Some(format!("mean of {} rounds: {}", rows.len(), flows_per_round(&rows)));
        mean
    };
    Ok(vec![mean(paused, EVENTS_FLOWS), mean(enabled, EVENTS_FLOWS_ENDPOINT)])
}

fn flows_per_round(rows: &[Row]) -> String {
    let each: Vec<String> = rows.iter().map(|r| format!("{:.0}", r.rps.unwrap_or_default())).collect();
    format!("{} flows/s", each.join(", "))
}

/// The delivery peak (a backlog drained) and the latency at half of it: the row, its note and
/// the events that never reached the receiver (or not signed right).
fn peak_and_half(
    run: &Run,
    tools: &pg::Tools,
    url: &str,
    service: &mut Service,
    tail: &mut Tail,
) -> Result<(Row, String, u64)> {
    service::reset_peak_rss(service);
    settle(tools, url)?;
    let warm = drain(tools, url, tail, 0, WARM_UP_EVENTS)?;
    let size = ((warm.overall * f64::from(run.seconds)) as u64).clamp(MIN_EVENTS, MAX_EVENTS);
    let peak = drain(tools, url, tail, WARM_UP_EVENTS, size)?;
    service.proc.check_alive()?;

    // Issue 17: "p99 … < 1 s at half that rate", that rate being its 2,000 events/s. Half of a
    // faster drain would be a test of a machine the connects alone use up (2,400 connects/s
    // were, with 130 answered late), where deliveries yield the CPU by design.
    let rate = peak.steady.min(EVENTS_TARGET_RPS) / 2.0;
    let connects = run.out.join("connects.log");
    let mut cmd = service::support(run);
    cmd.args(["connects", "--base", &service.base, "--server", "keyed", "--log"]).arg(&connects);
    cmd.args(["--rate", &format!("{rate:.1}"), "--seconds", &run.half_seconds.to_string()]);
    cmd.args(["--workers", &CONNECT_WORKERS.to_string()]);
    let from = tail.lines.len();
    let driven: Value = serde_json::from_str(&shell::read(&mut cmd)?).context("the connect driver printed no JSON")?;
    if driven["failed"].as_u64() != Some(0) {
        bail!("connects failed at half the delivery peak: {driven}");
    }
    let latency = latencies(&connects, tail)?;
    let received = &tail.lines[from..];
    let bad = received.iter().filter(|l| l.verdict != "ok").count() + peak.bad;
    service.proc.check_alive()?;

    let note = format!(
        "{size} events seeded in SQL after {WARM_UP_EVENTS} to warm up, drained at {:.0}/s overall \
         ({:.0}/s over the middle 80 %), {} received twice; at ½ the target (or the peak): {:.0} connects/s asked, {:.0} made \
         ({} late), status change → receiver p50 {:.0} ms, p99 {:.0} ms, {} never received; \
         {bad} not signed right",
        peak.overall,
        peak.steady,
        peak.duplicates,
        rate,
        driven["rps"].as_f64().unwrap_or_default(),
        driven["late"],
        latency.p50_ms.unwrap_or(f64::NAN),
        latency.p99_ms.unwrap_or(f64::NAN),
        latency.missing,
    );
    let row = Row {
        scenario: EVENTS_DELIVERY.into(),
        backend: "postgres".into(),
        rps: Some(peak.steady),
        p99_half_ms: latency.p99_ms,
        rss_mib: Some(service.proc.memory_mib("VmHWM")?),
        ..Row::default()
    };
    Ok((row, note, latency.missing + bad as u64))
}

/// How a backlog drained.
#[derive(Debug)]
struct Drained {
    overall: f64,
    steady: f64,
    duplicates: usize,
    bad: usize,
}

/// Seeds `count` events numbered after `from` in one transaction and waits until the receiver
/// has them all (each counted once, by its `webhook-id`).
fn drain(tools: &pg::Tools, url: &str, tail: &mut Tail, from: u64, count: u64) -> Result<Drained> {
    tail.read()?;
    let start = tail.lines.len();
    eprintln!("bench: seeding {count} lifecycle events");
    tools.query(url, &seed_sql(from, count))?;
    let deadline = Instant::now() + Duration::from_secs(60 + count / SLOWEST_DRAIN);
    loop {
        tail.read()?;
        let ids: HashSet<&str> = tail.lines[start..].iter().map(|l| l.id.as_str()).collect();
        if ids.len() as u64 >= count {
            break;
        }
        if Instant::now() > deadline {
            bail!("the receiver got {} of {count} events; see target/bench/receiver-events.log", ids.len());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let lines = &tail.lines[start..];
    let mut times: Vec<u64> = lines.iter().map(|l| l.at_ms).collect();
    times.sort_unstable();
    let span = |a: usize, b: usize| (times[b].saturating_sub(times[a])).max(1) as f64 / 1000.0;
    let (n, tenth) = (times.len(), times.len() / 10);
    let unique: HashSet<&str> = lines.iter().map(|l| l.id.as_str()).collect();
    Ok(Drained {
        overall: n as f64 / span(0, n - 1),
        steady: (n - 2 * tenth) as f64 / span(tenth, n - 1 - tenth),
        duplicates: n - unique.len(),
        bad: lines.iter().filter(|l| l.verdict != "ok").count(),
    })
}

/// Events `from + 1 ..= from + count`, each of a connection of its own (so none waits for
/// another's delivery), as an API-key connect announces them: audit rows with their `event_*`
/// columns, whose triggers write the events and queue the deliveries.
fn seed_sql(from: u64, count: u64) -> String {
    let id = "translate(lpad(to_hex(i), 26, '0'), '0123456789', 'klmnopqrst')";
    format!(
        "INSERT INTO audit_events (ref_id, server_name, kind, at, tenant_id, user_id, event_id, event_type, \
           event_standing, event_reason) \
         SELECT 'conn-' || {id}, 'keyed', 'connected', now_s, 'default', 'bench-user-' || (i % 100), \
           'evt_' || {id}, 'connection.connected', 'connected', 'provisioned' \
         FROM generate_series({}, {}) AS i, (SELECT extract(epoch FROM now())::bigint AS now_s) AS t",
        from + 1,
        from + count,
    )
}

/// Waits until no delivery is pending (the flows' events have gone out).
fn settle(tools: &pg::Tools, url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tools.query(url, "SELECT count(*) FROM deliveries WHERE state = 'pending'")? != "0" {
        if Instant::now() > deadline {
            bail!("deliveries still pending after 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Latencies from each connect's answer to its event's line at the receiver.
#[derive(Debug)]
struct Latency {
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    missing: u64,
}

/// Waits (at most [`LAST_EVENTS_WAIT`]) for the event of every connect in `connects`, then
/// measures; an event never received counts as missing and as the slowest.
fn latencies(connects: &Path, tail: &mut Tail) -> Result<Latency> {
    let text = std::fs::read_to_string(connects).with_context(|| format!("{}", connects.display()))?;
    let answered: Vec<(u64, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().skip(1);
            Some((words.next()?.parse().ok()?, words.next()?))
        })
        .collect();
    let deadline = Instant::now() + LAST_EVENTS_WAIT;
    let received = loop {
        tail.read()?;
        let first: HashMap<&str, u64> = tail.first_by_connection();
        let all = answered.iter().all(|(_, r)| first.contains_key(r));
        if all || Instant::now() > deadline {
            break first.into_iter().map(|(r, at)| (r.to_owned(), at)).collect::<HashMap<String, u64>>();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut ms: Vec<f64> =
        answered.iter().map(|(at, r)| received.get(*r).map_or(f64::INFINITY, |got| *got as f64 - *at as f64)).collect();
    ms.sort_by(f64::total_cmp);
    let missing = ms.iter().filter(|m| m.is_infinite()).count() as u64;
    Ok(Latency { p50_ms: pg::percentile(&ms, 0.50), p99_ms: pg::percentile(&ms, 0.99), missing })
}

/// One line of the receiver's log.
#[derive(Debug)]
struct Line {
    at_ms: u64,
    id: String,
    ref_id: String,
    verdict: String,
}

/// The receiver's log, read as it grows.
#[derive(Debug)]
struct Tail {
    path: PathBuf,
    offset: usize,
    lines: Vec<Line>,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self { path, offset: 0, lines: Vec::new() }
    }

    /// Reads the whole lines written since the last read.
    fn read(&mut self) -> Result<()> {
        let bytes = std::fs::read(&self.path).with_context(|| format!("{}", self.path.display()))?;
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else { return Ok(()) };
        if end < self.offset {
            return Ok(());
        }
        for line in String::from_utf8_lossy(&bytes[self.offset..=end]).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [at, id, ref_id, _, verdict] = words[..] {
                let at_ms = at.parse().with_context(|| format!("receiver line `{line}`"))?;
                self.lines.push(Line { at_ms, id: id.into(), ref_id: ref_id.into(), verdict: verdict.into() });
            }
        }
        self.offset = end + 1;
        Ok(())
    }

    /// When each connection's event first arrived.
    fn first_by_connection(&self) -> HashMap<&str, u64> {
        let mut first = HashMap::new();
        for line in &self.lines {
            first
                .entry(line.ref_id.as_str())
                .and_modify(|at: &mut u64| *at = (*at).min(line.at_ms))
                .or_insert(line.at_ms);
        }
        first
    }
}

/// A JSON call with the engine key; its answer's body. A status other than `2xx` fails.
fn call(run: &Run, method: &str, url: &str, body: &Value) -> Result<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("X-Engine-Key", &run.engine_key)
        .header("Content-Type", "application/json")
        .body(body.to_string())?;
    let mut response = agent.run(request).with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.body_mut().read_to_string()?;
    if !status.is_success() {
        bail!("{method} {url} answered {status}: {text}");
    }
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
}

#[cfg(test)]
mod tests {
    use super::{Tail, seed_sql};

    #[test]
    fn the_receivers_log_is_read_whole_lines_at_a_time_as_it_grows() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("receiver.log");
        std::fs::write(&path, "1000 evt_a conn-a connection.connected ok\n1001 evt_b conn-b connec").unwrap();
        let mut tail = Tail::new(path.clone());
        tail.read().unwrap();
        assert_eq!(tail.lines.len(), 1, "the line being written is left for the next read");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("tion.connected bad\n999 evt_c conn-a connection.connected ok\n");
        std::fs::write(&path, text).unwrap();
        tail.read().unwrap();
        assert_eq!(tail.lines.iter().map(|l| l.verdict.as_str()).collect::<Vec<_>>(), ["ok", "bad", "ok"]);
        assert_eq!(tail.first_by_connection()["conn-a"], 999);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn seeded_events_are_numbered_after_the_ones_before() {
        let sql = seed_sql(2_000, 10_000);
        assert!(sql.contains("generate_series(2001, 12000)"), "{sql}");
    }
}
