//! The webhook dispatcher: every replica runs one. It leases due deliveries in the database (so
//! one replica sends each attempt), sends them at once, and records the outcomes that have ended
//! in one write, each with the lease it held; a replica that dies only delays its leased
//! deliveries until the leases lapse (and sends again the ones it had sent but not yet recorded:
//! at least once).
//!
//! Order per connection comes from the claim (a later event of a connection is not claimable
//! while an earlier one is pending, or sent but not yet recorded), so at most one delivery per
//! connection and endpoint is in hand at a time. Retries back off exponentially with jitter for
//! `WEBHOOK_RETRY_HOURS`; an endpoint that keeps failing opens its circuit breaker (the one
//! refreshes use), and its deliveries wait for the cool-down without an attempt counted. The
//! dispatcher also prunes old events.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{Timestamp, WebhookId};
use ports::{
    AttemptOutcome, Attempted, Cipher, Clock, DueDelivery, EventStore, SendError, WebhookMessage, WebhookSender,
};
use secrecy::SecretString;
use tokio::task::{JoinHandle, JoinSet};

use super::payload::EventPayload;
use super::webhook_aad;
use crate::lifecycle::backoff;
use crate::lifecycle::breaker::{Admission, Breakers};
use crate::{Deps, Directory, Error};

/// Events pruned per statement; a round prunes until none is left.
const PRUNE_BATCH: u32 = 1_000;
/// Seconds between two prunings.
const PRUNE_EVERY_SECONDS: u64 = 600;
/// How long a claimed delivery may wait for its endpoint's room before it is put back: its
/// endpoint's address and secrets were read by the claim.
const HOLD_AT_MOST: Duration = Duration::from_secs(2);

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub postponed: usize,
}

/// Sends the deliveries this replica claims.
pub struct Dispatcher<D: Deps> {
    directory: Directory<D>,
    breakers: Arc<Breakers>,
    in_flight: Arc<InFlight>,
    /// Where the claim, the record and the pruning run (the current runtime when `None`).
    store_runtime: Option<tokio::runtime::Handle>,
    /// The store they go through, when not the directory's events port.
    own_store: Option<Arc<D::Events>>,
}

/// The dispatcher's way to its deliveries: the directory's events port, or a store of its own.
struct Deliveries<D: Deps> {
    directory: Directory<D>,
    own: Option<Arc<D::Events>>,
}

impl<D: Deps> Deliveries<D> {
    fn events(&self) -> &D::Events {
        self.own.as_deref().unwrap_or(&self.directory.ports().events)
    }
}

/// A claim under way on its own task.
type Claim = JoinHandle<Result<Vec<DueDelivery>, Error>>;

/// What the dispatcher has in hand, each delivery from its claim to its record: the sends under
/// way, the claimed deliveries waiting for their endpoint's room (since when), the outcomes not
/// yet recorded, and how many the record under way holds.
struct Pipeline {
    running: JoinSet<Attempted>,
    held: VecDeque<(Instant, DueDelivery)>,
    ended: Vec<Attempted>,
    recording: usize,
}

impl Pipeline {
    fn new(slots: usize) -> Self {
        Self { running: JoinSet::new(), held: VecDeque::new(), ended: Vec::with_capacity(slots), recording: 0 }
    }

    /// The slots taken. A delivery holds its slot until its outcome is recorded, so the sends
    /// never outrun the database: a record holds at most the slots (one of 31,072 outcomes
    /// outran the store's bound, and all were sent again).
    fn taken(&self) -> usize {
        self.running.len() + self.held.len() + self.ended.len() + self.recording
    }
}

/// Sends under way per endpoint, in this replica.
#[derive(Debug, Default)]
struct InFlight(Mutex<HashMap<WebhookId, usize>>);

impl InFlight {
    /// Counts a send to `endpoint` in, unless `cap` are under way already.
    fn enter(&self, endpoint: &WebhookId, cap: usize) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(endpoint.clone()).or_default();
        let admitted = *count < cap;
        *count += usize::from(admitted);
        admitted
    }

    fn leave(&self, endpoint: &WebhookId) {
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(endpoint) {
            *count -= 1;
            if *count == 0 {
                counts.remove(endpoint);
            }
        }
    }
}

/// A send counted in by [`InFlight::enter`], counted out when dropped.
struct Entered<'a>(&'a InFlight, WebhookId);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.leave(&self.1);
    }
}

impl<D: Deps> std::fmt::Debug for Dispatcher<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl<D: Deps> Dispatcher<D> {
    pub fn new(directory: Directory<D>) -> Self {
        let settings = &directory.settings().events;
        let breakers = Arc::new(Breakers::new(settings.breaker_threshold, settings.breaker_cooldown_seconds));
        Self { directory, breakers, in_flight: Arc::default(), store_runtime: None, own_store: None }
    }

    /// Claims, records and prunes through `store` (the same database through a pool of the
    /// dispatcher's own) rather than through the directory's events port: connections opened and
    /// driven where the dispatcher runs, which no other caller waits on.
    #[must_use]
    pub fn with_events_store(mut self, store: D::Events) -> Self {
        self.own_store = Some(Arc::new(store));
        self
    }

    fn deliveries(&self) -> Deliveries<D> {
        Deliveries { directory: self.directory.clone(), own: self.own_store.clone() }
    }

    /// Runs the claims, the records and the pruning on `runtime` rather than on the runtime that
    /// runs the dispatcher. A store whose connections are driven by the runtime that opened them
    /// (PostgreSQL's) then never has another caller's query wait on the dispatcher's thread,
    /// which yields the CPU to requests (server `background.rs`).
    #[must_use]
    pub fn with_store_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.store_runtime = Some(runtime);
        self
    }

    fn spawn_store<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> JoinHandle<T> {
        match &self.store_runtime {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        }
    }

    /// Sends for ever, up to `WEBHOOK_CONCURRENCY` at once: claims as many as there are free
    /// slots (at least a quarter of them, so claims stay batched), again as soon as a quarter is
    /// free after a full claim, else at the next poll. A delivery holds its slot from its claim
    /// to the record of its outcome, so a slow receiver holds its own deliveries' slots, never a
    /// round of everyone's, and the sends never outrun the database; one endpoint sends at most
    /// half of them at once (its other claimed deliveries wait here for its room). The claim and
    /// the record of the outcomes that ended (one write for all, at most one under way) run
    /// beside the sends, so neither leaves the receivers idle while it waits for the database.
    /// Old events are pruned every ten minutes.
    pub async fn run(self) {
        let settings = self.directory.settings().events.clone();
        let slots = settings.batch.max(1) as usize;
        let mut pipe = Pipeline::new(slots);
        let mut pruned_at: Option<Instant> = None;
        let mut claiming: Option<(usize, Instant, Claim)> = None;
        let mut recording: Option<JoinHandle<()>> = None;
        let mut pruning: Option<JoinHandle<()>> = None;
        let mut poll = tokio::time::interval(settings.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether a claim may start as soon as a quarter of the slots is free.
        let mut may_claim = true;
        loop {
            if recording.is_none() && !pipe.ended.is_empty() {
                pipe.recording = pipe.ended.len();
                recording = Some(self.spawn_store(record(self.deliveries(), std::mem::take(&mut pipe.ended))));
            }
            let free = slots.saturating_sub(pipe.taken());
            if claiming.is_none() && may_claim && free * 4 >= slots {
                may_claim = false;
                // The lease runs from before the claim's query: a held delivery's time counts from here.
                claiming = Some((free, Instant::now(), self.spawn_store(claim(self.deliveries(), free))));
            }
            if pruning.as_ref().is_none_or(JoinHandle::is_finished)
                && pruned_at.is_none_or(|at| at.elapsed().as_secs() >= PRUNE_EVERY_SECONDS)
            {
                pruned_at = Some(Instant::now());
                pruning = Some(self.spawn_store(prune_logged(self.deliveries())));
            }
            tokio::select! {
                claimed = async { (&mut claiming.as_mut().expect("a claim under way").2).await }, if claiming.is_some() => {
                    let (asked, since) = claiming.take().map_or((0, Instant::now()), |(asked, since, _)| (asked, since));
                    match joined(claimed) {
                        Some(Ok(claimed)) => {
                            // Full: the next claim as soon as there is room, not at the next poll.
                            may_claim = claimed.len() == asked;
                            self.take(claimed, since, &mut pipe);
                        }
                        Some(Err(e)) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
                        None => {}
                    }
                }
                done = async { (&mut recording.as_mut().expect("a record under way")).await }, if recording.is_some() => {
                    (recording, pipe.recording) = (None, 0);
                    joined(done);
                }
                Some(done) = pipe.running.join_next() => {
                    pipe.ended.extend(joined(done));
                    self.start_held(&mut pipe);
                }
                _ = poll.tick() => {
                    may_claim = true;
                    self.start_held(&mut pipe);
                }
            }
        }
    }

    /// Claims what is due (up to a full batch) and sends it, each delivery on its own task;
    /// once every attempt has ended, records their outcomes in one write.
    pub async fn round(&self) -> Result<DispatchReport, Error> {
        let batch = self.directory.settings().events.batch as usize;
        let mut pipe = Pipeline::new(batch);
        let claimed = self.start(batch, &mut pipe).await?;
        let mut report = DispatchReport { claimed, ..DispatchReport::default() };
        while let Some(done) = pipe.running.join_next().await {
            pipe.ended.extend(joined(done));
            self.start_held(&mut pipe);
        }
        let ended = pipe.ended;
        for a in &ended {
            match a.outcome {
                AttemptOutcome::Delivered { .. } => report.delivered += 1,
                AttemptOutcome::Retry { .. } => report.retried += 1,
                AttemptOutcome::Failed { .. } | AttemptOutcome::Gone { .. } => report.failed += 1,
                AttemptOutcome::Postponed { .. } => report.postponed += 1,
            }
        }
        record(self.deliveries(), ended).await;
        Ok(report)
    }

    /// Claims up to `limit` due deliveries and starts sending each whose endpoint has room,
    /// holding the others; how many it claimed.
    async fn start(&self, limit: usize, pipe: &mut Pipeline) -> Result<usize, Error> {
        let since = Instant::now();
        let claimed = claim(self.deliveries(), limit).await?;
        let started = claimed.len();
        self.take(claimed, since, pipe);
        Ok(started)
    }

    /// Starts sending each of `claimed` (its query begun at `since`) whose endpoint has room,
    /// holding the others.
    fn take(&self, claimed: Vec<DueDelivery>, since: Instant, pipe: &mut Pipeline) {
        for due in claimed {
            self.start_or_hold(since, due, pipe);
        }
    }

    /// Starts `due` (claimed at `since`) if its endpoint has room, else holds it; puts it back
    /// unsent (postponed to now, no attempt counted) once it has been held for [`HOLD_AT_MOST`]
    /// or half its lease, so it is never sent after its lease lapsed nor long after its
    /// endpoint's address and secrets were read.
    fn start_or_hold(&self, since: Instant, due: DueDelivery, pipe: &mut Pipeline) {
        let lease = Duration::from_secs(self.directory.settings().events.lease_seconds.max(2) as u64 / 2);
        if since.elapsed() >= HOLD_AT_MOST.min(lease) {
            let outcome = AttemptOutcome::Postponed { next_at: self.directory.ports().clock.now() };
            pipe.ended.push(settled(&self.directory, due, outcome));
        } else if let Some(due) = self.launch(due, pipe) {
            pipe.held.push_back((since, due));
        }
    }

    /// Starts sending `due` if its endpoint has room; gives it back if not.
    fn launch(&self, due: DueDelivery, pipe: &mut Pipeline) -> Option<DueDelivery> {
        let cap = (self.directory.settings().events.batch as usize / 2).max(1);
        if !self.in_flight.enter(&due.delivery.webhook_id, cap) {
            return Some(due);
        }
        let (directory, breakers, in_flight) =
            (self.directory.clone(), Arc::clone(&self.breakers), Arc::clone(&self.in_flight));
        pipe.running.spawn(async move { attempt(&directory, &breakers, &in_flight, due).await });
        None
    }

    /// Starts the held deliveries whose endpoint has room now, in the order they were claimed
    /// (or puts them back: [`Self::start_or_hold`]).
    fn start_held(&self, pipe: &mut Pipeline) {
        for _ in 0..pipe.held.len() {
            let Some((since, due)) = pipe.held.pop_front() else { break };
            self.start_or_hold(since, due, pipe);
        }
    }

    /// Deletes events older than `EVENT_RETENTION_DAYS` (a pending delivery keeps its event).
    pub async fn prune(&self) -> Result<u64, Error> {
        prune(&self.deliveries()).await
    }
}

/// Leases up to `limit` due deliveries for this replica.
async fn claim<D: Deps>(store: Deliveries<D>, limit: usize) -> Result<Vec<DueDelivery>, Error> {
    let directory = &store.directory;
    let now = directory.ports().clock.now();
    let until = now.plus_seconds(directory.settings().events.lease_seconds);
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    Ok(store.events().claim_deliveries(directory.replica(), now, until, limit).await?)
}

/// Prunes old events (see [`Dispatcher::prune`]), saying so when it fails.
async fn prune_logged<D: Deps>(store: Deliveries<D>) {
    if let Err(e) = prune(&store).await {
        tracing::warn!(error = %e, "pruning old events failed");
    }
}

/// Deletes events older than `EVENT_RETENTION_DAYS` (a pending delivery keeps its event).
async fn prune<D: Deps>(store: &Deliveries<D>) -> Result<u64, Error> {
    let directory = &store.directory;
    let before = directory.ports().clock.now().plus_seconds(-directory.settings().events.retention_seconds);
    let mut pruned = 0;
    loop {
        let deleted = store.events().prune_events(before, PRUNE_BATCH).await?;
        pruned += deleted;
        if deleted < u64::from(PRUNE_BATCH) {
            return Ok(pruned);
        }
    }
}

/// Records the attempts that have ended, in one write, and lets their leases go. One that is
/// not recorded (the database down, or its lease lapsed) is sent again once its lease lapses.
async fn record<D: Deps>(store: Deliveries<D>, ended: Vec<Attempted>) {
    if ended.is_empty() {
        return;
    }
    match store.events().finish_deliveries(store.directory.replica(), &ended).await {
        Ok(written) => {
            for (a, _) in ended.iter().zip(written).filter(|(_, written)| !written) {
                let (webhook, event) = (&a.webhook, &a.event);
                tracing::warn!(%webhook, %event, "a delivery's outcome was not recorded: its lease lapsed or its endpoint was deleted");
            }
        }
        Err(e) => {
            let deliveries = ended.len();
            tracing::warn!(deliveries, error = %e, "deliveries' outcomes were not recorded; they are sent again");
        }
    }
}

/// Sends one claimed delivery, counted in `in_flight` already (and out when it ends); how it
/// ended, to record. Postponed without a send (and without an attempt counted) while its
/// endpoint's breaker is open.
async fn attempt<D: Deps>(
    directory: &Directory<D>,
    breakers: &Breakers,
    in_flight: &InFlight,
    due: DueDelivery,
) -> Attempted {
    let ports = directory.ports();
    let now = ports.clock.now();
    let id = &due.delivery.webhook_id;
    let endpoint = id.as_str();
    // Counted out however this ends (a panic included), so the endpoint's share is never lost.
    let _entered = Entered(in_flight, id.clone());
    let outcome = match breakers.admit(endpoint, now) {
        Admission::Refused => {
            let cooldown = directory.settings().events.breaker_cooldown_seconds;
            AttemptOutcome::Postponed { next_at: now.plus_seconds(cooldown) }
        }
        Admission::Go(_) => {
            let sent = send(directory, &due, now).await;
            let transient = matches!(&sent, Ok(status) if retried_status(*status))
                || matches!(sent, Err(SendError::Timeout | SendError::Unreachable(_)));
            breakers.record(endpoint, ports.clock.now(), transient);
            judge(directory, &due, sent, ports.clock.now())
        }
    };
    settled(directory, due, outcome)
}

/// How the attempt at `due` ended, counted in the metrics, to record.
fn settled<D: Deps>(directory: &Directory<D>, due: DueDelivery, outcome: AttemptOutcome) -> Attempted {
    directory.metrics().webhook_attempt(outcome.name());
    let DueDelivery { delivery, .. } = due;
    Attempted { webhook: delivery.webhook_id, event: delivery.event.id, outcome }
}

/// What a finished task gave (a panic goes on); `None` when it was cancelled.
fn joined<T>(done: Result<T, tokio::task::JoinError>) -> Option<T> {
    match done {
        Ok(value) => Some(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

/// Signs and sends the delivery with the endpoint's secrets (the previous one too while it
/// overlaps).
async fn send<D: Deps>(directory: &Directory<D>, due: &DueDelivery, now: Timestamp) -> Result<u16, SendError> {
    let ports = directory.ports();
    let id = &due.delivery.webhook_id;
    let mut secrets: Vec<SecretString> = Vec::with_capacity(2);
    match ports.cipher.open(&due.secret, &webhook_aad(id, "secret")) {
        Ok(secret) => secrets.push(secret),
        Err(e) => {
            tracing::error!(webhook = %id, error = %e, "a webhook's signing secret does not open");
            return Err(SendError::Refused("the endpoint's signing secret could not be read".into()));
        }
    }
    if let Some((previous, until)) = &due.previous_secret
        && *until > now
        && let Ok(previous) = ports.cipher.open(previous, &webhook_aad(id, "previous_secret"))
    {
        secrets.push(previous);
    }
    let message = WebhookMessage {
        url: due.url.clone(),
        id: due.delivery.event.id.clone(),
        timestamp: now.unix(),
        body: EventPayload::from(&due.delivery.event).body(),
        secrets,
    };
    ports.webhooks.send(&message).await
}

/// What an answer (or its absence) means for the delivery.
fn judge<D: Deps>(
    directory: &Directory<D>,
    due: &DueDelivery,
    sent: Result<u16, SendError>,
    now: Timestamp,
) -> AttemptOutcome {
    let (status, error) = match sent {
        Ok(status) if (200..300).contains(&status) => return AttemptOutcome::Delivered { status, at: now },
        Ok(410) => return AttemptOutcome::Gone { at: now },
        Ok(status) if retried_status(status) => (Some(status), format!("the receiver answered {status}")),
        Ok(status) => {
            let error = format!("the receiver answered {status}, which is not retried");
            return AttemptOutcome::Failed { status: Some(status), error, at: now };
        }
        Err(SendError::Refused(reason)) => return AttemptOutcome::Failed { status: None, error: reason, at: now },
        Err(e) => (None, e.to_string()),
    };
    let settings = &directory.settings().events;
    let failures = due.delivery.attempts.saturating_add(1);
    let wait = backoff::delay_seconds(
        failures,
        settings.backoff_base_seconds,
        settings.backoff_max_seconds,
        backoff::jitter(),
    );
    let next_at = now.plus_seconds(wait);
    if next_at > due.delivery.retry_from.plus_seconds(settings.retry_seconds) {
        let error = format!("{error}; retried for WEBHOOK_RETRY_HOURS, given up");
        return AttemptOutcome::Failed { status, error, at: now };
    }
    AttemptOutcome::Retry { status, error, next_at }
}

/// Answers that may change by themselves: a timeout (`408`), `429` and every `5xx`.
fn retried_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// One delivery attempted by `dispatcher` as a round would.
    pub(in crate::events) async fn attempt_now<D: Deps>(
        dispatcher: &Dispatcher<D>,
        due: DueDelivery,
    ) -> AttemptOutcome {
        assert!(dispatcher.in_flight.enter(&due.delivery.webhook_id, usize::MAX));
        attempt(&dispatcher.directory, &dispatcher.breakers, &dispatcher.in_flight, due).await.outcome
    }
}
