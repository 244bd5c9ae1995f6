//! Complete OAuth flows against the service and its authorization server, as fast as a bounded
//! number of workers can, or at a fixed rate of flow starts. A flow is three dependent requests:
//! `POST /assets/connect`, `GET auth_url` (the provider consents and redirects), and the callback
//! `GET`, during which the service exchanges the code at the provider's token endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Options;

/// What every flow needs.
#[derive(Debug)]
struct Target {
    client: Client,
    base: String,
    server: String,
    key: String,
}

/// `flows --base URL --server NAME [--workers N] [--seconds S] [--rate R]`.
pub(crate) async fn run(options: &Options) -> Result<()> {
    let workers: usize = options.number("workers")?.unwrap_or(16).clamp(1, 256);
    let seconds: f64 = options.number("seconds")?.unwrap_or(8.0_f64).clamp(0.5, 60.0);
    let rate: Option<f64> = options.number("rate")?;
    let target = Arc::new(Target {
        client: crate::client(workers)?,
        base: options.get("base")?,
        server: options.get("server")?,
        key: Options::engine_key()?,
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let (outcomes, late) = match rate {
        None => closed_loop(&target, workers, deadline).await?,
        Some(rate) => open_loop(&target, workers, deadline, rate.clamp(0.1, 100_000.0)).await?,
    };
    report(outcomes, late, started.elapsed())
}

/// `workers` tasks, each starting its next flow when the previous one ends, until the deadline.
async fn closed_loop(target: &Arc<Target>, workers: usize, deadline: Instant) -> Result<(Vec<Outcome>, u64)> {
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let target = Arc::clone(target);
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            while Instant::now() < deadline {
                outcomes.push(timed(&target).await);
            }
            outcomes
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done?);
    }
    Ok((all, 0))
}

/// A flow started every `1/rate` seconds, with at most `workers` in flight; a start that finds
/// them all busy is counted as late and skipped (the driver, not the service, is then the limit).
async fn open_loop(target: &Arc<Target>, workers: usize, deadline: Instant, rate: f64) -> Result<(Vec<Outcome>, u64)> {
    let slots = Arc::new(Semaphore::new(workers));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut tasks = JoinSet::new();
    let mut late = 0;
    while Instant::now() < deadline {
        ticks.tick().await;
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            late += 1;
            continue;
        };
        let target = Arc::clone(target);
        tasks.spawn(async move {
            let outcome = timed(&target).await;
            drop(slot);
            outcome
        });
    }
    let mut all = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        all.push(done?);
    }
    Ok((all, late))
}

type Outcome = Result<Duration, String>;

async fn timed(target: &Target) -> Outcome {
    let start = Instant::now();
    match flow(target).await {
        Ok(()) => Ok(start.elapsed()),
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn flow(t: &Target) -> Result<()> {
    let created = t
        .client
        .post(format!("{}/assets/connect", t.base))
        .header("X-Engine-Key", &t.key)
        .json(&json!({"server_name": t.server}))
        .send()
        .await
        .context("connect")?;
    let created = expect_json(created, StatusCode::OK, "connect").await?;
    let auth_url = created["auth_url"].as_str().context("connect answered no auth_url")?;
    let consent = t.client.get(auth_url).send().await.context("authorize")?;
    if consent.status() != StatusCode::FOUND {
        bail!("the provider answered {} to the authorization request", consent.status());
    }
    let callback = consent.headers().get(header::LOCATION).context("the provider redirected nowhere")?;
    let done = t
        .client
        .get(callback.to_str().context("a redirect that is no text")?)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .context("callback")?;
    let done = expect_json(done, StatusCode::OK, "callback").await?;
    if done["status"] != "connected" {
        bail!("the callback left the connection {}", done["status"]);
    }
    Ok(())
}

async fn expect_json(response: reqwest::Response, expected: StatusCode, step: &str) -> Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{step} answered no JSON ({status})"))?;
    if status != expected {
        bail!("{step} answered {status} {}", body["error"]);
    }
    Ok(body)
}

/// One JSON object on standard output: counts, flows per second and latency percentiles.
fn report(outcomes: Vec<Outcome>, late: u64, elapsed: Duration) -> Result<()> {
    let mut latencies = Vec::with_capacity(outcomes.len());
    let mut failed = 0_u64;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(latency) => latencies.push(latency),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    latencies.sort_unstable();
    let percentile = |q: f64| {
        let last = latencies.len().checked_sub(1)?;
        let index = ((last as f64) * q).round() as usize;
        Some(latencies[index].as_secs_f64() * 1000.0)
    };
    let summary = json!({
        "completed": latencies.len(),
        "failed": failed,
        "late": late,
        "seconds": elapsed.as_secs_f64(),
        "rps": latencies.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "first_error": first_error,
    });
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{summary}\n").as_bytes())?;
    Ok(())
}
