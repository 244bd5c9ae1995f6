//! API-key connects at a fixed rate, each a status change that announces one
//! `connection.connected` event, for the lifecycle events' latency scenario: every connect that
//! succeeded is written to `--log` as `<unix ms sent> <unix ms answered> <ref_id>`, so the bench
//! can match it with the line the webhook receiver logged for the same connection.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::{Options, Target, pace, seed};

/// One connect: when it was sent and answered (unix ms), and its `ref_id` or why it failed.
type Outcome = (u64, u64, Result<String, String>);

/// `connects --base URL --server NAME --rate R --seconds S --log FILE [--workers N]`: prints one
/// JSON object (counts, the rate reached, the connect's own latency percentiles).
pub(crate) async fn run(options: &Options) -> Result<()> {
    let workers: usize = options.number("workers")?.unwrap_or(64).clamp(1, 1024);
    let seconds: f64 = options.number("seconds")?.unwrap_or(5.0_f64).clamp(0.5, 60.0);
    let rate: f64 = options.number("rate")?.context("--rate is required")?;
    let log = options.get("log")?;
    let target = Arc::new(Target::from_options(options, workers)?);
    // Numbers the API keys.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let (outcomes, late) = pace::open_loop(workers, deadline, rate.clamp(0.1, 100_000.0), || {
        let (target, i) = (Arc::clone(&target), next.fetch_add(1, Ordering::Relaxed));
        async move { connect(&target, i).await }
    })
    .await?;
    let elapsed = started.elapsed();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&log).with_context(|| format!("creating {log}"))?);
    let mut timed = Vec::with_capacity(outcomes.len());
    for (sent, answered, result) in outcomes {
        if let Ok(ref_id) = &result {
            writeln!(file, "{sent} {answered} {ref_id}")?;
        }
        timed.push(result.map(|_| Duration::from_millis(answered.saturating_sub(sent))));
    }
    file.flush()?;
    pace::report(timed, late, elapsed)
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn connect(t: &Target, i: usize) -> Outcome {
    let sent = unix_ms();
    let result = seed::connect(&t.client, &t.base, &t.key, &t.server, i).await.map_err(|e| format!("{e:#}"));
    (sent, unix_ms(), result)
}
