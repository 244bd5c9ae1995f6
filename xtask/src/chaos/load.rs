//! Steady read and write load from a few threads while a scenario hurts something, with every
//! answer recorded (when, what, how long) for the verdict.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::flows;
use super::http::{Client, Reply};

/// Pause between two requests of one thread: steady load, not a benchmark.
pub(crate) const PACE: Duration = Duration::from_millis(5);

/// One answer.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Since the load started, when the request was sent.
    pub sent: Duration,
    pub reply: Reply,
    /// A connection created by this request (its API key is `key`).
    pub created: Option<(String, String)>,
}

/// Running load; [`Load::finish`] stops it and returns every sample.
#[derive(Debug)]
pub(crate) struct Load {
    pub started: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// `readers` threads read the connections in `targets` (one connection, then its
    /// credentials); `writers` threads create API-key connections with keys `{key_prefix}{n}`.
    /// Each thread pauses `pace` between requests and stops by itself after `limit` at the latest.
    pub(crate) fn start(
        client: &Client,
        targets: &[String],
        readers: usize,
        writers: usize,
        key_prefix: &str,
        pace: Duration,
        limit: Duration,
    ) -> Self {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let targets: Arc<Vec<String>> = Arc::new(targets.to_vec());
        let mut threads = Vec::new();
        for t in 0..readers + writers {
            let (client, stop, targets) = (client.clone(), stop.clone(), targets.clone());
            let prefix = format!("{key_prefix}w{t}n");
            let writer = t >= readers;
            threads.push(std::thread::spawn(move || {
                let mut samples = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                    let sent = started.elapsed();
                    n += 1;
                    let (reply, created) = if writer {
                        let key = format!("{prefix}{n}");
                        let body =
                            serde_json::json!({"server_name": flows::KEYED_SERVER, "server_config": {"api_key": key}});
                        let reply = client.post("/assets/connect", &body);
                        let created =
                            reply.body["ref_id"].as_str().filter(|_| reply.status == 200).map(|r| (r.to_owned(), key));
                        (reply, created)
                    } else {
                        let target = &targets[(t + n) % targets.len().max(1)];
                        let path = if n % 2 == 0 {
                            format!("/assets/connections/{target}")
                        } else {
                            format!("/assets/connections/{target}/credentials")
                        };
                        (client.get(&path), None)
                    };
                    samples.push(Sample { sent, reply, created });
                    std::thread::sleep(pace);
                }
                samples
            }));
        }
        Self { started, stop, threads }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Sample> = self.threads.into_iter().flat_map(|t| t.join().unwrap_or_default()).collect();
        all.sort_by_key(|s| s.sent);
        all
    }
}

/// Counts of answers by status: `(ok, unavailable, other)`; "other" includes no answer at all.
pub(crate) fn tally<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> (usize, usize, usize) {
    samples.into_iter().fold((0, 0, 0), |(ok, down, other), s| match s.reply.status {
        200 => (ok + 1, down, other),
        503 => (ok, down + 1, other),
        _ => (ok, down, other + 1),
    })
}

/// A status histogram such as `200×812 503×40`, for FAIL messages.
pub(crate) fn statuses<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> String {
    statuses_of(samples.into_iter().map(|s| &s.reply))
}

/// [`statuses`] of answers.
pub(crate) fn statuses_of<'a>(replies: impl IntoIterator<Item = &'a Reply>) -> String {
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for r in replies {
        *counts.entry(r.status).or_default() += 1;
    }
    counts.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(" ")
}

/// The `q` quantile (0..=1) of the latencies, in milliseconds.
pub(crate) fn quantile_ms(samples: &[&Sample], q: f64) -> f64 {
    quantile_ms_of(samples.iter().map(|s| &s.reply), q)
}

/// [`quantile_ms`] of answers.
pub(crate) fn quantile_ms_of<'a>(replies: impl IntoIterator<Item = &'a Reply>, q: f64) -> f64 {
    let mut ms: Vec<f64> = replies.into_iter().map(|r| r.elapsed.as_secs_f64() * 1000.0).collect();
    if ms.is_empty() {
        return 0.0;
    }
    ms.sort_by(f64::total_cmp);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss, reason = "an index")]
    let index = ((ms.len() - 1) as f64 * q).round() as usize;
    ms[index]
}
