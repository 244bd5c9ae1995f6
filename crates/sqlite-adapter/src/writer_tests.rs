//! The writer on its own, on a scratch table: batching, a failure inside a batch, the deadline,
//! a caller that went away, a panicking write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use ports::StoreError;

use super::Writer;
use crate::ConnectError;

/// The store's timeout where a test waits it out on purpose.
const SHORT: Duration = Duration::from_millis(400);
/// Where a test must never hit it, however slow the machine.
const LONG: Duration = Duration::from_secs(10);

struct Scratch {
    _dir: tempfile::TempDir,
    path: String,
    writer: Writer,
}

fn scratch(timeout: Duration) -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writer.db").to_str().unwrap().to_owned();
    let mut setup = SqliteConnection::establish(&path).unwrap();
    setup.batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);").unwrap();
    let pragmas = format!("PRAGMA busy_timeout = {};", timeout.as_millis());
    let writer = Writer::start(&path, pragmas, timeout).unwrap();
    Scratch { _dir: dir, path, writer }
}

impl Scratch {
    fn insert(&self, id: i32) -> impl Future<Output = Result<usize, StoreError>> + use<> {
        let writer = self.writer.clone();
        async move {
            writer
                .write(move |conn| {
                    diesel::sql_query("INSERT INTO t (id) VALUES (?)").bind::<Integer, _>(id).execute(conn)
                })
                .await
        }
    }

    /// The ids committed, as another connection sees them.
    fn committed(&self) -> Vec<i64> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let mut conn = SqliteConnection::establish(&self.path).unwrap();
        let rows: Vec<Row> = diesel::sql_query("SELECT id FROM t ORDER BY id").load(&mut conn).unwrap();
        rows.into_iter().map(|r| r.id).collect()
    }

    /// Another process's writer, holding the file's write lock until dropped or committed.
    fn lock(&self) -> SqliteConnection {
        let mut conn = SqliteConnection::establish(&self.path).unwrap();
        conn.batch_execute("BEGIN IMMEDIATE").unwrap();
        conn
    }

    fn commits(&self) -> u64 {
        self.writer.commits.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_queue_up_share_a_commit_and_a_failing_one_rolls_back_alone() {
    let db = scratch(LONG);
    let mut locker = db.lock();
    // While the lock is held the first write waits for it, and the others queue behind it.
    let writes: Vec<_> = [1, 2, 3, 2, 4, 5, 6, 7].into_iter().map(|id| tokio::spawn(db.insert(id))).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = db.commits();
    locker.batch_execute("COMMIT").unwrap();

    let mut outcomes = Vec::new();
    for write in writes {
        outcomes.push(write.await.unwrap());
    }
    let conflicts = outcomes.iter().filter(|o| matches!(o, Err(StoreError::Conflict(_)))).count();
    assert_eq!(conflicts, 1, "the second 2 is refused: {outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(1))).count(), 7);
    assert_eq!(db.committed(), [1, 2, 3, 4, 5, 6, 7], "the refused write took nothing else with it");
    let commits = db.commits() - before;
    assert!(commits < 8, "eight writes that queued together took {commits} commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_get_the_lock_in_time_is_unavailable_and_never_lands() {
    let db = scratch(SHORT);
    let locker = db.lock();
    let started = Instant::now();
    let first = tokio::spawn(db.insert(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Queued behind the first: by the time the writer could try, its deadline has passed too.
    let second = tokio::spawn(db.insert(2));

    assert!(matches!(first.await.unwrap(), Err(StoreError::Unavailable(_))));
    assert!(matches!(second.await.unwrap(), Err(StoreError::Unavailable(_))));
    // About twice the timeout: in the queue, then for the lock (the first write's wait).
    assert!(started.elapsed() < SHORT * 10, "answered within a bound: {:?}", started.elapsed());
    drop(locker);
    tokio::time::sleep(SHORT).await;
    assert_eq!(db.committed(), Vec::<i64>::new(), "a write answered Unavailable is not applied later");
    assert_eq!(db.insert(3).await.unwrap(), 1, "the writer works again once the lock is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_caller_went_away_before_it_ran_is_skipped() {
    let db = scratch(LONG);
    let mut locker = db.lock();
    let blocker = tokio::spawn(db.insert(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = tokio::spawn(db.insert(2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    gone.abort();
    let _ = gone.await;
    locker.batch_execute("COMMIT").unwrap();

    assert_eq!(blocker.await.unwrap().unwrap(), 1);
    assert_eq!(db.insert(3).await.unwrap(), 1);
    assert_eq!(db.committed(), [1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_is_answered_and_the_writer_goes_on() {
    let db = scratch(LONG);
    let panicked = db.writer.write(|_conn| -> QueryResult<()> { panic!("a bug in a write") }).await;
    assert!(matches!(panicked, Err(StoreError::Unavailable(_))), "{panicked:?}");
    assert_eq!(db.insert(1).await.unwrap(), 1);
    assert_eq!(db.committed(), [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_cannot_reopen_the_database_refuses_writes_reports_it_and_recovers_by_itself() {
    let db = scratch(LONG);
    let openable = Arc::new(AtomicBool::new(true));
    let writer = {
        let (path, openable) = (db.path.clone(), Arc::clone(&openable));
        let open = move || {
            if !openable.load(Ordering::Relaxed) {
                let refused = ConnectionError::BadConnection("the disk is gone".into());
                return Err(ConnectError::Open { path: path.clone().into(), source: refused });
            }
            SqliteConnection::establish(&path)
                .map_err(|source| ConnectError::Open { path: path.clone().into(), source })
        };
        Writer::start_with(open, LONG).unwrap()
    };
    // A panicking write makes the writer replace its connection, and the database cannot be opened.
    openable.store(false, Ordering::Relaxed);
    let _ = writer.write(|_conn| -> QueryResult<()> { panic!("a bug in a write") }).await;
    // The panicking write is answered as it unwinds, before the thread has tried to reopen.
    let tried = Instant::now();
    while writer.healthy() && tried.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!writer.healthy(), "the health check sees the writer has no connection");
    let refused = writer.write(|conn| diesel::sql_query("INSERT INTO t (id) VALUES (1)").execute(conn)).await;
    assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");

    openable.store(true, Ordering::Relaxed);
    let written = writer.write(|conn| diesel::sql_query("INSERT INTO t (id) VALUES (2)").execute(conn)).await;
    assert_eq!(written.unwrap(), 1, "the next write opens the database again");
    assert!(writer.healthy());
    assert_eq!(db.committed(), [2]);
}
