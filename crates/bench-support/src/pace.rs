//! What the load drivers share: open-loop pacing (a task started every `1/rate` seconds, with a
//! bounded number in flight, so the driver's own slowness shows as skipped starts instead of a
//! lower rate that looks like the service's) and the one JSON summary they print.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Starts `start()` every `1/rate` seconds until `deadline`, with at most `workers` in flight; a
/// start that finds them all busy is counted as late and skipped (the driver, not the service,
/// is then the limit). Answers every task's output, and the late starts.
pub(crate) async fn open_loop<T, F, Fut>(
    workers: usize,
    deadline: Instant,
    rate: f64,
    start: F,
) -> Result<(Vec<T>, u64)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
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
        let task = start();
        tasks.spawn(async move {
            let output = task.await;
            drop(slot);
            output
        });
    }
    let mut all = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        all.push(done?);
    }
    Ok((all, late))
}

/// The value at quantile `q` of sorted `values` (nearest rank), if any.
fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
}

/// One JSON object on standard output: counts (`completed`, `failed`, `late` starts), the rate
/// completed per second over `elapsed`, latency percentiles, and the first error.
pub(crate) fn report(
    outcomes: impl IntoIterator<Item = Result<Duration, String>>,
    late: u64,
    elapsed: Duration,
) -> Result<()> {
    let mut latencies = Vec::new();
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
    let ms = |q: f64| percentile(&latencies, q).map(|d| d.as_secs_f64() * 1000.0);
    let summary = json!({
        "completed": latencies.len(),
        "failed": failed,
        "late": late,
        "seconds": elapsed.as_secs_f64(),
        "rps": latencies.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "first_error": first_error,
    });
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{summary}\n").as_bytes())?;
    Ok(())
}
