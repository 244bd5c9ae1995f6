//! The refresh scheduler: every interval, claim the due tokens (leases, so replicas split them)
//! and refresh them, a bounded number at a time, until none is left for this round.

use std::sync::Arc;
use std::time::Instant;

use ports::{Clock, DueWindow, Lease, RefreshQueue};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::heartbeat::SchedulerMonitor;
use super::lease::{Attempt, Mode, is_breaker_skip};
use crate::{Deps, Directory, Error, RefreshOutcome};

/// Most claims one round makes, so a round ends even if tokens kept coming due.
const MAX_BATCHES_PER_ROUND: usize = 100;

/// What one round did, counted per connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Connections this replica leased.
    pub claimed: usize,
    pub refreshed: usize,
    /// Refreshed by someone else between the claim and the attempt.
    pub already_fresh: usize,
    /// The grant was gone (`invalid_grant`): the connection is now `expired`.
    pub expired: usize,
    /// Failed and backed off.
    pub failed: usize,
    /// Not attempted: the authorization server's breaker is open.
    pub skipped: usize,
    /// Another replica took the lease over (this one's had run out).
    pub busy: usize,
    /// The connection went away, or the database failed.
    pub errors: usize,
}

impl RoundReport {
    fn count(&mut self, attempt: &Result<Attempt, Error>) {
        match attempt {
            Ok(Attempt::Done(RefreshOutcome::Refreshed)) => self.refreshed += 1,
            Ok(Attempt::Done(RefreshOutcome::AlreadyFresh)) => self.already_fresh += 1,
            Ok(Attempt::Done(RefreshOutcome::Expired)) => self.expired += 1,
            Ok(Attempt::Busy) => self.busy += 1,
            Err(e) if is_breaker_skip(e) => self.skipped += 1,
            Err(Error::Provider { .. }) => self.failed += 1,
            Err(_) => self.errors += 1,
        }
    }
}

/// The background refresher of one replica.
pub struct Refresher<D: Deps> {
    directory: Directory<D>,
    monitor: SchedulerMonitor,
}

impl<D: Deps> std::fmt::Debug for Refresher<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher").field("settings", &self.directory.settings().refresh).finish()
    }
}

impl<D: Deps> Clone for Refresher<D> {
    fn clone(&self) -> Self {
        Self { directory: self.directory.clone(), monitor: self.monitor.clone() }
    }
}

impl<D: Deps> Refresher<D> {
    pub fn new(directory: Directory<D>) -> Self {
        let monitor = SchedulerMonitor::new(directory.settings().refresh.interval, Instant::now());
        Self { directory, monitor }
    }

    /// A handle that tells how the rounds of [`Refresher::run`] are going (for `/health`).
    pub fn monitor(&self) -> SchedulerMonitor {
        self.monitor.clone()
    }

    /// One round: claims due tokens in batches and refreshes them, `concurrency` at a time,
    /// until a claim comes back short; then reports the backlog to the metrics. Its end is a
    /// beat for the [`SchedulerMonitor`].
    pub async fn run_once(&self) -> Result<RoundReport, Error> {
        self.monitor.round_started(Instant::now());
        let round = self.round().await;
        self.monitor.round_ended(Instant::now(), round.is_ok());
        round
    }

    async fn round(&self) -> Result<RoundReport, Error> {
        let mut report = RoundReport::default();
        let settings = &self.directory.settings().refresh;
        let batch = u32::try_from(settings.concurrency.max(1) * 4).unwrap_or(u32::MAX);
        for _ in 0..MAX_BATCHES_PER_ROUND {
            let claimed = self.claim(batch).await?;
            report.claimed += claimed.len();
            let short = claimed.len() < batch as usize;
            self.refresh_all(claimed, &mut report).await;
            if short {
                break;
            }
        }
        self.report_backlog().await;
        Ok(report)
    }

    /// Runs a round every interval, forever (the server aborts the task at shutdown). A round
    /// that fails is logged and the next one tries again.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.directory.settings().refresh.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.run_once().await {
                Ok(report) if report.claimed == 0 => {}
                Ok(report) => tracing::info!(?report, "refresh round"),
                Err(e) => tracing::warn!(error = %e, "refresh round failed"),
            }
        }
    }

    fn window(&self) -> DueWindow {
        let settings = &self.directory.settings().refresh;
        let now = self.directory.ports().clock.now();
        DueWindow {
            now,
            due_before: now.plus_seconds(settings.ahead_seconds),
            stale_before: now.plus_seconds(-settings.stale_after_seconds),
        }
    }

    async fn claim(&self, limit: u32) -> Result<Vec<Lease>, Error> {
        let window = self.window();
        let lease_until = window.now.plus_seconds(self.directory.settings().refresh.lease_seconds);
        let owner = &self.directory.inner.lifecycle.owner;
        Ok(self.directory.ports().leases.claim_due(owner, window, lease_until, limit).await?)
    }

    /// Refreshes the claimed connections on their own tasks, a bounded number at once. The
    /// tasks belong to this call: aborting the round aborts them, and their leases lapse.
    async fn refresh_all(&self, claimed: Vec<Lease>, report: &mut RoundReport) {
        let settings = &self.directory.settings().refresh;
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for lease in claimed {
            let (directory, permits) = (self.directory.clone(), Arc::clone(&permits));
            let margin = settings.ahead_seconds;
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                directory.refresh_with(&lease.ref_id, margin, Mode::Scheduled).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(attempt) => report.count(&attempt),
                Err(e) => {
                    tracing::error!(error = %e, "a refresh task ended abnormally");
                    report.errors += 1;
                }
            }
        }
    }

    async fn report_backlog(&self) {
        let window = self.window();
        match self.directory.ports().leases.due_stats(window).await {
            Ok(stats) => {
                // A token is due from `ahead` seconds before its expiry, i.e. since `due_before` passed it.
                let due_for = stats.earliest_expiry.map_or(0, |at| at.seconds_until(window.due_before));
                self.directory.metrics().refresh_backlog(stats.due, u64::try_from(due_for).unwrap_or(0));
            }
            Err(e) => tracing::warn!(error = %e, "could not count the tokens due"),
        }
    }
}
