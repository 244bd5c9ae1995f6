//! The one writer: a thread of its own with a connection of its own, through which every write
//! of this process goes, in the order the writes arrive.
//!
//! SQLite runs one writer at a time. When writes came from several pooled connections at once,
//! all but one waited for the file lock in SQLite's busy handler, which sleeps (a millisecond,
//! then longer) instead of queueing, and each write crossed two threads to reach a blocking one.
//! Here writes queue in a channel instead, and the thread takes what has queued up as one batch:
//! one `BEGIN IMMEDIATE … COMMIT` around them, each in a savepoint of its own, so a write that
//! fails (a duplicate key) rolls back alone and the others commit. A caller hears its outcome
//! only after the commit, so an answer is never given for a write that could still be lost.
//! Batching is group commit: under load one commit, and one append of each page to the WAL,
//! serves many writes (docs/benchmarks.md has the numbers).
//!
//! Another process can still hold the file's lock (the command-line tools); the writer then waits
//! for it up to `busy_timeout` (the store's timeout), as any connection does, and answers
//! `Unavailable` if it does not get it. The writer's answer is the truth: a write is answered
//! `Unavailable` without being run when it has waited in the queue past the store's timeout, and
//! is skipped when its caller went away (a cancelled request) before it ran.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use ports::StoreError;
use tokio::sync::oneshot;

use crate::ConnectError;
use crate::error::{from_diesel, is_lock_timeout};

/// Most writes in one transaction: bounds how long the first of a batch waits for the last.
const MAX_BATCH: usize = 64;

/// A queued write.
trait Job: Send {
    /// Whether its caller has gone away, so it need not run.
    fn abandoned(&self) -> bool;
    /// Whether it has waited past its deadline, so it must not run.
    fn expired(&self, now: Instant) -> bool;
    /// Answers it without running it.
    fn refuse(self: Box<Self>, error: StoreError);
    /// Runs it inside the batch's transaction; its answer waits for the commit.
    fn run(self: Box<Self>, conn: &mut SqliteConnection) -> Box<dyn Ran>;
}

/// A write that has run, holding its answer until its batch has committed or failed.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// `commit` is the batch's commit: `None` when it succeeded.
    fn answer(self: Box<Self>, commit: Option<&DieselError>);
}

struct Task<R, F> {
    task: F,
    deadline: Instant,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

struct Done<R> {
    result: QueryResult<R>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> Job for Task<R, F>
where
    R: Send + 'static,
    F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn expired(&self, now: Instant) -> bool {
        now > self.deadline
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }

    fn run(self: Box<Self>, conn: &mut SqliteConnection) -> Box<dyn Ran> {
        let Task { task, reply, .. } = *self;
        Box::new(Done { result: task(conn), reply })
    }
}

impl<R: Send + 'static> Ran for Done<R> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, commit: Option<&DieselError>) {
        let answer = match (self.result, commit) {
            (Ok(_), Some(failed)) => Err(commit_failed(failed)),
            (result, _) => result.map_err(from_diesel),
        };
        // The caller may have stopped waiting; then nobody needs the answer.
        let _ = self.reply.send(answer);
    }
}

/// The batch's commit failed, so a write that had succeeded in it did not happen either.
fn commit_failed(error: &DieselError) -> StoreError {
    let cause: ports::BoxError = format!("the write's transaction did not commit: {error}").into();
    if is_lock_timeout(&error.to_string()) { StoreError::Unavailable(cause) } else { StoreError::Internal(cause) }
}

/// The handle callers queue writes through. Cloning shares the one thread; the thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    timeout: Duration,
    /// Transactions committed so far (the tests see batching through it).
    #[cfg_attr(not(test), expect(dead_code, reason = "only the tests read it"))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Opens the writer's connection with `pragmas` and starts its thread.
    pub(crate) fn start(path: &str, pragmas: String, timeout: Duration) -> Result<Self, ConnectError> {
        let open = {
            let path = path.to_owned();
            move || -> Result<SqliteConnection, ConnectError> {
                let mut conn = SqliteConnection::establish(&path)
                    .map_err(|source| ConnectError::Open { path: path.clone().into(), source })?;
                conn.batch_execute(&pragmas).map_err(ConnectError::Configure)?;
                Ok(conn)
            }
        };
        let conn = open()?;
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&commits);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, &jobs, open, &counted))
            .map_err(ConnectError::Writer)?;
        Ok(Self { queue, timeout, commits })
    }

    /// Queues `task` and waits for its outcome after its commit: at most about twice the store's
    /// timeout (in the queue, then for another process's lock). The task runs inside a
    /// transaction (a savepoint of the batch's): it must not begin one.
    pub(crate) async fn write<R, F>(&self, task: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + self.timeout;
        self.queue.send(Box::new(Task { task, deadline, reply })).map_err(|_| stopped())?;
        // The writer always answers in time; this bound only guards against its being stuck.
        match tokio::time::timeout(self.timeout * 4, answer).await {
            Ok(Ok(result)) => result,
            // The thread dropped the write unanswered: it panicked, or is gone.
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(StoreError::Unavailable("the SQLite writer did not answer in time".into())),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer is not running".into())
}

/// The thread: takes batches until every handle is gone.
fn serve(
    mut conn: SqliteConnection,
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    reopen: impl Fn() -> Result<SqliteConnection, ConnectError>,
    commits: &AtomicU64,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let (expired, live): (Vec<_>, Vec<_>) =
            batch.into_iter().filter(|job| !job.abandoned()).partition(|job| job.expired(now));
        for job in expired {
            job.refuse(queued_too_long());
        }
        let batch = live;
        if batch.is_empty() {
            continue;
        }
        // A panicking write, or a failure SQLite answered by rolling the whole transaction back
        // itself (a full disk), leaves the connection in a state diesel cannot go on from: its
        // batch is answered (or, after a panic, the callers hear that the writer stopped), the
        // connection is replaced, and the thread goes on with the next batch.
        let panicked = catch_unwind(AssertUnwindSafe(|| commit(&mut conn, batch, commits))).is_err();
        if panicked {
            tracing::error!("a SQLite write panicked; its batch was rolled back");
        }
        if panicked || AnsiTransactionManager::is_broken_transaction_manager(&mut conn) {
            match reopen() {
                Ok(fresh) => conn = fresh,
                Err(e) => {
                    tracing::error!(error = %e, "the SQLite writer cannot reopen the database; writes stop");
                    return;
                }
            }
        }
    }
}

/// Runs a batch in one transaction, each write in a savepoint, then answers every write.
fn commit(conn: &mut SqliteConnection, batch: Vec<Box<dyn Job>>, commits: &AtomicU64) {
    let mut pending = VecDeque::from(batch);
    let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(pending.len());
    let outcome = conn.immediate_transaction(|conn| {
        // Checked again once the lock is held: getting it may have taken a while.
        let now = Instant::now();
        while let Some(job) = pending.pop_front() {
            if job.expired(now) {
                job.refuse(queued_too_long());
                continue;
            }
            // `transaction` inside a transaction is a savepoint: a failed write rolls back alone.
            let mut done = None;
            let step = conn.transaction(|conn| {
                let result = job.run(conn);
                let succeeded = result.succeeded();
                done = Some(result);
                if succeeded { Ok(()) } else { Err(DieselError::RollbackTransaction) }
            });
            match (step, done) {
                (Ok(()) | Err(DieselError::RollbackTransaction), Some(result)) => ran.push(result),
                // The savepoint itself failed: the transaction cannot go on.
                (Err(e), done) => {
                    ran.extend(done);
                    return Err(e);
                }
                (Ok(()), None) => unreachable!("a savepoint that succeeded ran its write"),
            }
        }
        Ok::<(), DieselError>(())
    });
    let failed = outcome.err();
    if failed.is_none() {
        commits.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(error) = &failed {
        // The transaction could not begin (another process held the lock past busy_timeout),
        // or stopped half-way: what did not run is answered with why.
        for job in pending {
            job.refuse(commit_failed(error));
        }
    }
    for result in ran {
        result.answer(failed.as_ref());
    }
}

fn queued_too_long() -> StoreError {
    StoreError::Unavailable("the write waited in the SQLite writer's queue past the store's timeout".into())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
