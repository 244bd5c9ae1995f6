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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Whether the thread has a working connection (`ping` reports it).
    connected: Arc<AtomicBool>,
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
        Self::start_with(open, timeout)
    }

    /// Starts the thread with a connection from `open`, which it calls again whenever it needs a
    /// fresh connection.
    fn start_with(
        open: impl Fn() -> Result<SqliteConnection, ConnectError> + Send + 'static,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let conn = open()?;
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let commits = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicBool::new(true));
        let thread =
            Thread { jobs, reopen: Box::new(open), commits: Arc::clone(&commits), connected: connected.clone() };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || thread.serve(conn))
            .map_err(ConnectError::Writer)?;
        Ok(Self { queue, timeout, connected, commits })
    }

    /// Whether writes can be served: the thread runs and holds a working connection.
    pub(crate) fn healthy(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Queues `task` and waits for its outcome after its commit: at most about twice the store's
    /// timeout (in the queue, then for another process's lock). The task runs inside a
    /// transaction (a savepoint of the batch's): it must not begin one.
    ///
    /// A write that has not started by its deadline never runs. Only if the writer itself stalls
    /// for four times the timeout (a disk that stops answering) does a caller give up on a
    /// write that may still complete.
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

/// The writer thread's side.
struct Thread {
    jobs: mpsc::Receiver<Box<dyn Job>>,
    reopen: Box<dyn Fn() -> Result<SqliteConnection, ConnectError> + Send>,
    commits: Arc<AtomicU64>,
    connected: Arc<AtomicBool>,
}

impl Thread {
    /// Takes batches until every handle is gone.
    fn serve(self, conn: SqliteConnection) {
        let mut conn = Some(conn);
        while let Ok(first) = self.jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch.retain(|job| !job.abandoned());
            if batch.is_empty() {
                continue;
            }
            // Without a working connection (see below) the batch waits for none: it is refused,
            // and the next one tries to open the database again.
            if conn.is_none() {
                self.reconnect(&mut conn);
            }
            let Some(working) = conn.as_mut() else {
                for job in batch {
                    job.refuse(StoreError::Unavailable("the SQLite writer cannot open the database".into()));
                }
                continue;
            };
            // A panicking write, or a failure SQLite answered by rolling the whole transaction
            // back itself (a full disk), leaves the connection in a state diesel cannot go on
            // from: its batch is answered (after a panic, the callers hear that the writer
            // stopped), and the connection is replaced.
            let panicked = catch_unwind(AssertUnwindSafe(|| commit(working, batch, &self.commits))).is_err();
            if panicked {
                tracing::error!("a SQLite write panicked; its batch was rolled back");
            }
            if panicked || AnsiTransactionManager::is_broken_transaction_manager(working) {
                conn = None;
                self.reconnect(&mut conn);
            }
        }
    }

    /// Opens a fresh connection into `conn`, recording whether that worked.
    fn reconnect(&self, conn: &mut Option<SqliteConnection>) {
        match (self.reopen)() {
            Ok(fresh) => *conn = Some(fresh),
            Err(e) => {
                tracing::error!(error = %e, "the SQLite writer cannot open the database; writes fail until it can")
            }
        }
        self.connected.store(conn.is_some(), Ordering::Relaxed);
    }
}

/// Runs a batch in one transaction, each write in a savepoint, then answers every write.
fn commit(conn: &mut SqliteConnection, batch: Vec<Box<dyn Job>>, commits: &AtomicU64) {
    let mut pending = VecDeque::from(batch);
    let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(pending.len());
    let outcome = conn.immediate_transaction(|conn| {
        while let Some(job) = pending.pop_front() {
            // Checked as each write starts: the lock, or the writes before it, may have taken
            // a while.
            if job.abandoned() {
                continue;
            }
            if job.expired(Instant::now()) {
                job.refuse(queued_too_long());
                continue;
            }
            // `transaction` inside a transaction is a savepoint: a failed write rolls back alone.
            let (mut job, mut done) = (Some(job), None);
            let step = conn.transaction(|conn| {
                let result = job.take().expect("runs once").run(conn);
                let succeeded = result.succeeded();
                done = Some(result);
                if succeeded { Ok(()) } else { Err(DieselError::RollbackTransaction) }
            });
            match (step, done) {
                (Ok(()) | Err(DieselError::RollbackTransaction), Some(result)) => ran.push(result),
                // The savepoint itself failed: the transaction cannot go on. A write that did
                // not get to run is refused below with the others.
                (Err(e), done) => {
                    ran.extend(done);
                    pending.extend(job);
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
