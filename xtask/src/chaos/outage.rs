//! PostgreSQL going away under load: killed (`pg_ctl stop -m immediate`) then restarted, and
//! frozen (SIGSTOP on the postmaster and every backend) then thawed. The service is never
//! restarted; it must answer only `200` or `503` throughout, recover within seconds, and keep
//! every connection it acknowledged.

use std::time::Duration;

use anyhow::Result;

use super::load::{Load, PACE, Sample, statuses, tally};
use super::procs::{Service, process_tree, resources, signal};
use super::{Backend, Outcome, Run, flows};

/// How long after the database is back the last failure may come.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// The pool timeout the services of these scenarios run with (`DATABASE_TIMEOUT_MS`).
const POOL_TIMEOUT: Duration = Duration::from_millis(1000);

fn seed(client: &super::http::Client, prefix: &str, n: usize) -> Result<Vec<(String, String)>> {
    (0..n)
        .map(|i| {
            let key = format!("{prefix}seed{i}");
            Ok((flows::connect_with_key(client, &key)?, key))
        })
        .collect()
}

fn end(s: &Sample) -> Duration {
    s.sent + s.reply.elapsed
}

/// How long after `back` the last answer other than `200` ended (zero when none did).
fn recovery(samples: &[Sample], back: Duration) -> Duration {
    samples.iter().filter(|s| s.reply.status != 200).map(end).max().map_or(Duration::ZERO, |t| t.saturating_sub(back))
}

/// Every acknowledged connection is still listed and its credential opens to the key it was
/// given. Returns `(checked, intact)`.
fn verify(client: &super::http::Client, acknowledged: &[(String, String)]) -> (usize, usize) {
    let intact = acknowledged
        .iter()
        .filter(|(ref_id, key)| {
            let reply = flows::credentials(client, ref_id);
            reply.status == 200 && flows::authorization(&reply) == Some(&format!("Bearer {key}"))
        })
        .count();
    (acknowledged.len(), intact)
}

pub(crate) fn database_killed(run: &Run) -> Result<Outcome> {
    let spec = run.service("pg-kill", Backend::Postgres)?;
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(10));
    let prefix = format!("{}kill", run.secrets.api_key_prefix);
    let mut acknowledged = seed(&client, &prefix, 20)?;
    let targets: Vec<String> = acknowledged.iter().map(|(r, _)| r.clone()).collect();

    let load = Load::start(&client, &targets, 4, 4, &prefix, PACE, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(3));
    let killed = load.elapsed();
    run.pg().kill_immediately()?;
    std::thread::sleep(Duration::from_secs(8));
    let restarting = load.elapsed();
    run.pg().restart()?;
    let back = load.elapsed();
    std::thread::sleep(Duration::from_secs(10));
    let samples = load.finish();

    let before: Vec<&Sample> = samples.iter().filter(|s| end(s) < killed).collect();
    let (ok_before, _, _) = tally(before.iter().copied());
    let (ok, down, other) = tally(&samples);
    let recovered = recovery(&samples, back);
    acknowledged.extend(samples.iter().filter_map(|s| s.created.clone()));
    let (checked, intact) = verify(&client, &acknowledged);
    service.stop()?;

    let pass = ok_before == before.len() && other == 0 && recovered <= RECOVERY_BOUND && intact == checked && down > 0;
    Ok(Outcome::new(
        pass,
        format!(
            "{} requests: {ok} × 200, {down} × 503, {other} other [{}]; database down {:.1} s (restart took {:.1} s); \
             last failure {:.2} s after it was back (bound {} s); {intact}/{checked} acknowledged connections \
             present and decryptable",
            samples.len(),
            statuses(&samples),
            (back - killed).as_secs_f64(),
            (back - restarting).as_secs_f64(),
            recovered.as_secs_f64(),
            RECOVERY_BOUND.as_secs(),
        ),
    ))
}

pub(crate) fn database_frozen(run: &Run) -> Result<Outcome> {
    let spec =
        run.service("pg-freeze", Backend::Postgres)?.var("DATABASE_TIMEOUT_MS", POOL_TIMEOUT.as_millis().to_string());
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(30));
    let prefix = format!("{}freeze", run.secrets.api_key_prefix);
    let mut acknowledged = seed(&client, &prefix, 20)?;
    let targets: Vec<String> = acknowledged.iter().map(|(r, _)| r.clone()).collect();

    let load = Load::start(&client, &targets, 30, 2, &prefix, PACE, Duration::from_secs(60));
    let sampler = Sampler::start(service.pid);
    std::thread::sleep(Duration::from_secs(3));
    let baseline = sampler.peak();
    let frozen_pids = process_tree(run.pg().postmaster_pid()?);
    signal("STOP", &frozen_pids)?;
    // Measured once every process has been stopped: a request sent while `kill` was still
    // running could be answered by a backend not yet stopped.
    let frozen = load.elapsed();
    std::thread::sleep(Duration::from_secs(10));
    let peak_frozen = sampler.peak();
    let thawed = load.elapsed();
    signal("CONT", &frozen_pids)?;
    std::thread::sleep(Duration::from_secs(8));
    let samples = load.finish();
    sampler.stop();

    // Requests sent while frozen (and early enough to be answered before the thaw).
    let inside: Vec<&Sample> =
        samples.iter().filter(|s| s.sent >= frozen && s.sent + POOL_TIMEOUT * 2 < thawed).collect();
    let slowest = inside.iter().map(|s| s.reply.elapsed).max().unwrap_or_default();
    let bound = POOL_TIMEOUT + Duration::from_millis(500);
    let (_, down_inside, _) = tally(inside.iter().copied());
    let without_retry_after = samples.iter().filter(|s| s.reply.status == 503 && s.reply.retry_after.is_none()).count();
    let (ok, down, other) = tally(&samples);
    let recovered = recovery(&samples, thawed);
    acknowledged.extend(samples.iter().filter_map(|s| s.created.clone()));
    let (checked, intact) = verify(&client, &acknowledged);
    service.stop()?;

    let threads_bounded = peak_frozen.1 <= baseline.1 + 16;
    let rss_bounded = peak_frozen.0 <= baseline.0 + 64.0;
    let pass = other == 0
        && down_inside == inside.len()
        && !inside.is_empty()
        && slowest <= bound
        && without_retry_after == 0
        && threads_bounded
        && rss_bounded
        && recovered <= RECOVERY_BOUND
        && intact == checked;
    Ok(Outcome::new(
        pass,
        format!(
            "{} requests: {ok} × 200, {down} × 503 ({without_retry_after} without Retry-After), {other} other [{}]; \
             {} processes frozen 10 s: {down_inside}/{} requests sent then answered 503, slowest {} ms (bound {} ms); \
             service RSS {:.1} → {:.1} MiB, threads {} → {}; last failure {:.2} s after SIGCONT; \
             {intact}/{checked} acknowledged connections intact",
            samples.len(),
            statuses(&samples),
            frozen_pids.len(),
            inside.len(),
            slowest.as_millis(),
            bound.as_millis(),
            baseline.0,
            peak_frozen.0,
            baseline.1,
            peak_frozen.1,
            recovered.as_secs_f64(),
        ),
    ))
}

/// Samples a process's RSS and thread count every 100 ms, keeping the peaks.
pub(crate) struct Sampler {
    peak: std::sync::Arc<std::sync::Mutex<(f64, u32)>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Sampler {
    pub(crate) fn start(pid: u32) -> Self {
        let peak = std::sync::Arc::new(std::sync::Mutex::new((0.0_f64, 0_u32)));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            // Bounded: at most ten minutes of samples.
            for _ in 0..6000 {
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if let Some((rss, threads)) = resources(pid) {
                    let mut guard = p.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    *guard = (guard.0.max(rss), guard.1.max(threads));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { peak, stop }
    }

    /// The peaks so far: RSS in MiB and threads.
    pub(crate) fn peak(&self) -> (f64, u32) {
        *self.peak.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler").field("peak", &self.peak()).finish()
    }
}
