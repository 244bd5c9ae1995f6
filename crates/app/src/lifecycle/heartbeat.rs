//! What a periodic background job's rounds say about it, for `/health`: each round that ends
//! leaves a beat, and a [`SchedulerMonitor`] reads the last one without waiting on anything.
//! The refresh scheduler keeps one ([`crate::Refresher::monitor`]); the server keeps another for
//! the sweep of expired flows.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The scheduler's state as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerHealth {
    /// Its first round has not ended yet.
    Starting,
    /// Its last round ended recently and could claim the due tokens (a token whose refresh
    /// failed is backed off and counted in the metrics, not here).
    Ok,
    /// Its last round could not claim the due tokens (the database); the next tick tries again.
    Failing,
    /// No round has ended for `seconds`: the scheduler stopped, or, when `running`, a round has
    /// been going on that long (a large backlog at a slow provider, or a stuck round).
    Late { seconds: u64, running: bool },
}

#[derive(Debug)]
struct Beat {
    started: Instant,
    /// When the round under way began.
    running_since: Option<Instant>,
    /// When the last round ended, and whether it could claim the due tokens.
    last: Option<(Instant, bool)>,
}

/// A handle on the scheduler's beats. Cheap to clone; clones share them.
#[derive(Debug, Clone)]
pub struct SchedulerMonitor {
    beat: Arc<Mutex<Beat>>,
    /// A round is late once this long has passed since the last one ended (or since the start).
    late_after: Duration,
}

impl SchedulerMonitor {
    /// Three intervals, and never less than a minute: a round that refreshes many tokens at a
    /// slow provider takes a while without anything being wrong.
    pub fn new(interval: Duration, now: Instant) -> Self {
        let late_after = interval.saturating_mul(3).max(Duration::from_secs(60));
        let beat = Beat { started: now, running_since: None, last: None };
        Self { beat: Arc::new(Mutex::new(beat)), late_after }
    }

    pub fn round_started(&self, at: Instant) {
        self.lock().running_since = Some(at);
    }

    pub fn round_ended(&self, at: Instant, succeeded: bool) {
        let mut beat = self.lock();
        beat.running_since = None;
        beat.last = Some((at, succeeded));
    }

    /// The scheduler's state at `now`.
    pub fn health(&self, now: Instant) -> SchedulerHealth {
        let beat = self.lock();
        let since = beat.last.map_or(beat.started, |(ended, _)| ended);
        let quiet = now.saturating_duration_since(since);
        match beat.last {
            _ if quiet > self.late_after => {
                SchedulerHealth::Late { seconds: quiet.as_secs(), running: beat.running_since.is_some() }
            }
            None => SchedulerHealth::Starting,
            Some((_, true)) => SchedulerHealth::Ok,
            Some((_, false)) => SchedulerHealth::Failing,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Beat> {
        self.beat.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(30);

    #[test]
    fn the_scheduler_is_starting_until_its_first_round_ends_then_reports_that_round() {
        let t0 = Instant::now();
        let monitor = SchedulerMonitor::new(INTERVAL, t0);
        assert_eq!(monitor.health(t0 + Duration::from_secs(1)), SchedulerHealth::Starting);
        monitor.round_ended(t0 + Duration::from_secs(2), true);
        assert_eq!(monitor.health(t0 + Duration::from_secs(3)), SchedulerHealth::Ok);
        monitor.round_ended(t0 + Duration::from_secs(32), false);
        assert_eq!(monitor.health(t0 + Duration::from_secs(33)), SchedulerHealth::Failing);
        monitor.round_ended(t0 + Duration::from_secs(62), true);
        assert_eq!(monitor.clone().health(t0 + Duration::from_secs(63)), SchedulerHealth::Ok, "clones share beats");
    }

    #[test]
    fn a_scheduler_without_a_round_for_three_intervals_is_late() {
        let t0 = Instant::now();
        let monitor = SchedulerMonitor::new(INTERVAL, t0);
        assert_eq!(monitor.health(t0 + Duration::from_secs(91)), SchedulerHealth::Late { seconds: 91, running: false });
        monitor.round_ended(t0 + Duration::from_secs(100), true);
        assert_eq!(monitor.health(t0 + Duration::from_secs(190)), SchedulerHealth::Ok);
        assert_eq!(
            monitor.health(t0 + Duration::from_secs(191)),
            SchedulerHealth::Late { seconds: 91, running: false }
        );
    }

    #[test]
    fn a_long_round_is_late_and_known_to_be_running() {
        let t0 = Instant::now();
        let monitor = SchedulerMonitor::new(INTERVAL, t0);
        monitor.round_started(t0);
        assert_eq!(monitor.health(t0 + Duration::from_secs(95)), SchedulerHealth::Late { seconds: 95, running: true });
        monitor.round_ended(t0 + Duration::from_secs(96), true);
        assert_eq!(monitor.health(t0 + Duration::from_secs(97)), SchedulerHealth::Ok);
    }

    #[test]
    fn an_absurd_interval_does_not_overflow() {
        let monitor = SchedulerMonitor::new(Duration::MAX, Instant::now());
        assert_eq!(monitor.health(Instant::now()), SchedulerHealth::Starting);
    }

    #[test]
    fn a_short_interval_still_allows_a_minute_before_a_round_is_late() {
        let t0 = Instant::now();
        let monitor = SchedulerMonitor::new(Duration::from_secs(1), t0);
        monitor.round_ended(t0, true);
        assert_eq!(monitor.health(t0 + Duration::from_secs(60)), SchedulerHealth::Ok);
        assert_eq!(monitor.health(t0 + Duration::from_secs(61)), SchedulerHealth::Late { seconds: 61, running: false });
    }
}
