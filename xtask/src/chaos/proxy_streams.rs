//! `proxy-streams`: 200 event streams open through the proxy (`GET …/mcp`) when their MCP server
//! is killed (SIGKILL). Every client stream must end, none hang; the service, never restarted,
//! stays healthy, answers `502 MCP_CONNECTION_FAILED` while the server is down, counts no open
//! stream any more, and serves again once the server is back on its port.

use std::io::Read as _;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::http::Client;
use super::load::statuses_of;
use super::procs::Service;
use super::proxy::{UP_KEYED, call, catalog_with, mcp_path, open_streams, within};
use super::upstream::Upstream;
use super::{Backend, Outcome, Run, flows};

const STREAMS: usize = 200;
/// How long after the kill every client stream must have ended, and the gauge be back at 0.
const END_BOUND: Duration = Duration::from_secs(5);
/// Calls while the server is down, and once it is back.
const CALLS: usize = 20;

/// What a stream's reader reports.
#[derive(Debug)]
enum Report {
    /// The stream did not open: the status.
    Refused(u16),
    /// An event came through.
    Flowing,
    /// The body ended: cleanly (the last chunk) or not.
    Ended { at: Instant, clean: bool },
}

/// Opens a stream on its own thread, which reports on `tx` and reads until the body ends.
fn open(client: &Client, path: &str, tx: &mpsc::Sender<Report>) {
    let (client, path, tx) = (client.clone(), path.to_owned(), tx.clone());
    std::thread::spawn(move || {
        // Bounded: the scenario is over long before two minutes.
        let mut reader = match client.open_stream(&path, Duration::from_secs(120)) {
            Ok(reader) => reader,
            Err(reply) => return drop(tx.send(Report::Refused(reply.status))),
        };
        let mut buf = [0u8; 4096];
        let mut flowing = false;
        let clean = loop {
            match reader.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    if !flowing && buf[..n].windows(5).any(|w| w == b"data:") {
                        flowing = true;
                        let _ = tx.send(Report::Flowing);
                    }
                }
                Err(_) => break false,
            }
        };
        let _ = tx.send(Report::Ended { at: Instant::now(), clean });
    });
}

/// Opens `n` streams; how many are flowing (each has passed an event) within 30 s, and the
/// statuses of those refused.
fn open_many(
    client: &Client,
    path: &str,
    n: usize,
    tx: &mpsc::Sender<Report>,
    rx: &mpsc::Receiver<Report>,
) -> (usize, Vec<u16>) {
    for _ in 0..n {
        open(client, path, tx);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut flowing, mut refused) = (0, Vec::new());
    while flowing + refused.len() < n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Report::Flowing) => flowing += 1,
            Ok(Report::Refused(status)) => refused.push(status),
            Ok(Report::Ended { .. }) => refused.push(0),
            Err(_) => break,
        }
    }
    (flowing, refused)
}

pub(crate) fn upstream_killed(run: &Run) -> Result<Outcome> {
    let mut up = Upstream::start(run, "proxy-streams")?;
    let catalog = catalog_with(
        run,
        "proxy-streams",
        flows::catalog(&run.auth.base),
        &[(UP_KEYED, flows::KEYED_SERVER, up.url())],
    )?;
    let spec = run.service("proxy-streams", Backend::Postgres)?.var("CATALOG_PATH", catalog);
    let mut service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(10));
    let ref_id = flows::connect_keyed_to(&client, UP_KEYED, &format!("{}proxy-streams", run.secrets.api_key_prefix))?;
    let path = mcp_path(&ref_id);

    let (tx, rx) = mpsc::channel();
    let (flowing, refused) = open_many(&client, &path, STREAMS, &tx, &rx);
    let gauge_open = open_streams(&client);
    let upstream_open = up.stats()?["open_streams"].as_u64();
    std::thread::sleep(Duration::from_secs(1));

    let killed = Instant::now();
    up.kill()?;
    let (mut ended, mut clean, mut slowest) = (0, 0, Duration::ZERO);
    let deadline = killed + END_BOUND + Duration::from_secs(5);
    while ended < flowing {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Report::Ended { at, clean: c }) => {
                ended += 1;
                clean += usize::from(c);
                slowest = slowest.max(at.saturating_duration_since(killed));
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    let gauge_zero = within(END_BOUND, || open_streams(&client) == Some(0)).map(|_| killed.elapsed());
    let health = client.get("/health").status;
    let down: Vec<_> = (0..CALLS).map(|n| call(&client, &ref_id, n)).collect();
    let down_ok = down.iter().filter(|r| r.status == 502 && r.code() == "MCP_CONNECTION_FAILED").count();
    let stream_down = client.open_stream(&path, Duration::from_secs(10)).err().map(|r| (r.status, r.code().to_owned()));

    up.restart()?;
    let back: Vec<_> = (0..CALLS).map(|n| call(&client, &ref_id, n)).collect();
    let back_ok = back.iter().filter(|r| r.status == 200).count();
    let (again, _) = open_many(&client, &path, 5, &tx, &rx);
    let alive = service.running()?;
    service.stop()?;

    let stream_502 = stream_down.as_ref().is_some_and(|(s, c)| *s == 502 && c == "MCP_CONNECTION_FAILED");
    let pass = flowing == STREAMS
        && gauge_open == Some(i64::try_from(STREAMS)?)
        && ended == flowing
        && slowest <= END_BOUND
        && gauge_zero.is_some()
        && health == 200
        && down_ok == CALLS
        && stream_502
        && back_ok == CALLS
        && again == 5
        && alive;
    Ok(Outcome::new(
        pass,
        format!(
            "{flowing}/{STREAMS} streams flowing (refused: {refused:?}; gauge {}, upstream {}); upstream SIGKILLed: \
             {ended}/{flowing} client streams ended ({clean} with a clean last chunk), {} (bound {} ms); \
             ad_proxy_open_streams 0 after {}; /health {health}; while down {down_ok}/{CALLS} calls \
             502 MCP_CONNECTION_FAILED [{}], a new stream {}; upstream back: {back_ok}/{CALLS} × 200 [{}], \
             {again}/5 new streams flowing; service {}",
            gauge_open.map_or("?".into(), |g| g.to_string()),
            upstream_open.map_or("?".into(), |g| g.to_string()),
            if ended == flowing {
                format!("the last {} ms after the kill", slowest.as_millis())
            } else {
                format!(
                    "{} still open {} s after the kill",
                    flowing - ended,
                    (END_BOUND + Duration::from_secs(5)).as_secs()
                )
            },
            END_BOUND.as_millis(),
            gauge_zero.map_or("never".into(), |t| format!("{} ms", t.as_millis())),
            statuses_of(&down),
            stream_down.map_or("opened".into(), |(s, c)| format!("{s} {c}")),
            statuses_of(&back),
            if alive { "never restarted" } else { "NOT running" },
        ),
    ))
}
