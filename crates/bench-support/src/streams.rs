//! Holds many event streams open at once through the MCP proxy, as many engines' MCP sessions
//! listening for server notifications would: `GET URL` with the engine key, each stream counted
//! open once its first event has arrived (so the whole path, proxy and server, carries it).
//!
//! At most `--opening` streams are being opened at a time, so the service's accept queue is
//! never what is measured. When every stream is open (or failed), one JSON line is printed
//! (`open`, `failed`, `open_seconds`, the p50 and p99 of the time to a stream's first event,
//! the first errors); the streams are then held `--hold` seconds, reading their events, and a
//! second line says how many were still open at the end (`held`), how many had ended early and
//! how many chunks arrived. Then every stream is dropped, which closes it. Bounded in time: at
//! most 120 s to open, the hold, and 10 s to close.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Client;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::task::JoinSet;

use crate::Options;

/// The longest wait for a stream's answer and first event, and for all of them to open.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
const ALL_OPEN_TIMEOUT: Duration = Duration::from_secs(120);
/// Errors kept for the report.
const ERRORS_KEPT: usize = 5;

/// What the streams share.
#[derive(Debug, Default)]
struct Tally {
    open: AtomicU64,
    failed: AtomicU64,
    ended_early: AtomicU64,
    chunks: AtomicU64,
    open_ms: Mutex<Vec<f64>>,
    errors: Mutex<Vec<String>>,
}

/// One stream's request.
#[derive(Debug)]
struct Target {
    client: Client,
    url: String,
    key: String,
}

/// `streams --url URL [--count N] [--opening N] [--hold S]`.
pub(crate) async fn run(options: &Options) -> Result<()> {
    let count: u64 = options.number("count")?.unwrap_or(5000_u64).clamp(1, 50_000);
    let opening: usize = options.number("opening")?.unwrap_or(64_usize).clamp(1, 1024);
    let hold = Duration::from_secs_f64(options.number("hold")?.unwrap_or(5.0_f64).clamp(0.0, 60.0));
    let client =
        Client::builder().pool_max_idle_per_host(0).connect_timeout(Duration::from_secs(10)).http1_only().build()?;
    let target = Arc::new(Target { client, url: options.get("url")?, key: Options::engine_key()? });
    let tally = Arc::new(Tally::default());
    let permits = Arc::new(Semaphore::new(opening));
    let (release, released) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let (target, tally, permits, released) =
            (Arc::clone(&target), Arc::clone(&tally), Arc::clone(&permits), released.clone());
        tasks.spawn(async move {
            if let Err(e) = hold_one(&target, &tally, &permits, released).await {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                let mut errors = tally.errors.lock().await;
                if errors.len() < ERRORS_KEPT {
                    errors.push(format!("{e:#}"));
                }
            }
        });
    }
    let settled = || tally.open.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed);
    while settled() < count && started.elapsed() < ALL_OPEN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_seconds = started.elapsed().as_secs_f64();
    let mut open_ms = tally.open_ms.lock().await.clone();
    open_ms.sort_by(f64::total_cmp);
    let at = |q: f64| open_ms.get(((open_ms.len() as f64 * q) as usize).min(open_ms.len().saturating_sub(1))).copied();
    print_line(&json!({
        "open": tally.open.load(Ordering::Relaxed), "failed": tally.failed.load(Ordering::Relaxed),
        "unsettled": count - settled().min(count), "open_seconds": open_seconds,
        "p50_ms": at(0.5), "p99_ms": at(0.99), "errors": *tally.errors.lock().await,
    }))?;
    tokio::time::sleep(hold).await;
    let ended_early = tally.ended_early.load(Ordering::Relaxed);
    let held = tally.open.load(Ordering::Relaxed) - ended_early;
    let _ = release.send(true);
    let closing = tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} });
    if closing.await.is_err() {
        tasks.abort_all();
    }
    print_line(&json!({"held": held, "ended_early": ended_early, "chunks": tally.chunks.load(Ordering::Relaxed)}))
}

fn print_line(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{value}\n").as_bytes())?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// Opens one stream (within a permit), waits for its first event, then reads it until released.
async fn hold_one(
    target: &Target,
    tally: &Tally,
    permits: &Semaphore,
    mut released: watch::Receiver<bool>,
) -> Result<()> {
    let permit = permits.acquire().await?;
    let started = Instant::now();
    let request =
        target.client.get(&target.url).header("X-Engine-Key", &target.key).header("Accept", "text/event-stream");
    let mut response = tokio::time::timeout(OPEN_TIMEOUT, request.send()).await.context("no answer in time")??;
    if !response.status().is_success() {
        let status = response.status();
        bail!("{status}: {}", response.text().await.unwrap_or_default());
    }
    let first = tokio::time::timeout(OPEN_TIMEOUT, response.chunk()).await.context("no first event in time")??;
    first.context("the stream ended before its first event")?;
    drop(permit);
    tally.open_ms.lock().await.push(started.elapsed().as_secs_f64() * 1000.0);
    tally.open.fetch_add(1, Ordering::Relaxed);
    tally.chunks.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = released.changed() => return Ok(()),
            chunk = response.chunk() => match chunk {
                Ok(Some(_)) => { tally.chunks.fetch_add(1, Ordering::Relaxed); }
                Ok(None) | Err(_) => {
                    tally.ended_early.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            },
        }
    }
}
