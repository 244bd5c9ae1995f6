use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use domain::{AuthMethod, Connection, NewConnection, Owner, RefId, ServerName, Transport};
use ports::{ConnectionPosition, ConnectionQuery, StoreError};

use crate::Error;
use crate::test_support::{Mocks, NOW, owner};

fn connections(count: u8) -> Vec<Connection> {
    (1..=count)
        .map(|n| {
            Connection::connected(
                NewConnection {
                    ref_id: RefId::from_random([n; 16]),
                    owner: owner(),
                    server_name: ServerName::parse("acme").unwrap(),
                    label: None,
                    display_name: None,
                    url: None,
                    transport: Transport::StreamableHttp,
                    auth_method: AuthMethod::ApiKey,
                    exportable: true,
                },
                NOW,
            )
        })
        .collect()
}

/// The first page of `limit`, unfiltered.
fn page(limit: u32) -> ConnectionQuery {
    ConnectionQuery { after: None, limit, server_name: None, status: None }
}

/// The listing map's key of the first page of 100 of the test owner.
fn key() -> (Owner, ConnectionQuery) {
    (owner(), page(100))
}

/// Waits until `condition` holds, for at most five seconds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_arriving_during_a_read_share_the_next_one_not_the_running_one() {
    let mut mocks = Mocks::new();
    let reads = Arc::new(AtomicUsize::new(0));
    let (started, first_read_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let counted = Arc::clone(&reads);
    // The first read holds until released and sees one connection; the reads after it see two.
    mocks.connections.expect_list_page().returning(move |_, _| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            started.send(()).unwrap();
            released.lock().unwrap().recv().unwrap();
            Ok(connections(1))
        } else {
            Ok(connections(2))
        }
    });
    let directory = mocks.directory();

    let first = tokio::spawn({
        let directory = directory.clone();
        async move { directory.list_connections(&owner(), &page(100)).await }
    });
    tokio::task::spawn_blocking(move || first_read_started.recv().unwrap()).await.unwrap();
    let later: Vec<_> = (0..3)
        .map(|_| {
            let directory = directory.clone();
            tokio::spawn(async move { directory.list_connections(&owner(), &page(100)).await })
        })
        .collect();
    until("the later callers wait", || directory.inner.listing.lock().get(&key()).map_or(0, |w| w.callers.len()) == 3)
        .await;
    release.send(()).unwrap();

    assert_eq!(first.await.unwrap().unwrap().connections.len(), 1, "the first caller gets the read it started");
    for caller in later {
        assert_eq!(
            caller.await.unwrap().unwrap().connections.len(),
            2,
            "a later caller gets a read that started after it"
        );
    }
    assert_eq!(reads.load(Ordering::SeqCst), 2, "three callers, one read");
    // Nobody waits, so no task reads on.
    until("the reading task stops", || !directory.inner.listing.lock().get(&key()).is_some_and(|w| w.reading)).await;
}

#[tokio::test]
async fn a_caller_alone_reads_alone_every_time() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_list_page().times(3).returning(|_, _| Ok(connections(2)));
    let directory = mocks.directory();
    for _ in 0..3 {
        assert_eq!(directory.list_connections(&owner(), &page(100)).await.unwrap().connections.len(), 2);
    }
}

#[tokio::test]
async fn a_failed_read_fails_every_caller_that_waited_for_it_with_its_cause() {
    let mut mocks = Mocks::new();
    mocks
        .connections
        .expect_list_page()
        .returning(|_, _| Err(StoreError::Unavailable("connection refused by 10.0.0.5:5432".into())));
    let directory = mocks.directory();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let directory = directory.clone();
            tokio::spawn(async move { directory.list_connections(&owner(), &page(100)).await })
        })
        .collect();
    for caller in callers {
        match caller.await.unwrap() {
            Err(Error::Unavailable(cause)) => assert_eq!(cause.to_string(), "connection refused by 10.0.0.5:5432"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    // The next caller reads again.
    assert!(matches!(directory.list_connections(&owner(), &page(100)).await, Err(Error::Unavailable(_))));
}

#[tokio::test]
async fn a_reading_task_that_dies_leaves_no_caller_waiting_and_no_reader_marked_running() {
    let mut mocks = Mocks::new();
    // The panic also poisons the mock, so every later read dies too: the caller, which tries
    // twice, must get an error rather than wait for ever.
    mocks.connections.expect_list_page().returning(|_, _| panic!("the read dies"));
    let directory = mocks.directory();
    let answer = tokio::time::timeout(Duration::from_secs(5), directory.list_connections(&owner(), &page(100))).await;
    assert!(matches!(answer, Ok(Err(Error::Internal(_)))), "{answer:?}");
    assert!(
        !directory.inner.listing.lock().get(&key()).is_some_and(|w| w.reading),
        "no reader is left marked as running"
    );
    assert!(directory.inner.listing.lock().get(&key()).is_none_or(|w| w.callers.is_empty()));
}

#[tokio::test]
async fn a_page_reads_one_row_more_than_asked_and_says_where_the_next_page_starts() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_list_page().withf(|_, q| q.limit == 3).returning(|_, _| Ok(connections(3)));
    mocks.connections.expect_list_page().withf(|_, q| q.limit == 4).returning(|_, _| Ok(connections(3)));
    let directory = mocks.directory();

    let short = directory.list_connections(&owner(), &page(2)).await.unwrap();
    assert_eq!(short.connections.len(), 2, "the extra row is not shown");
    let last = &short.connections[1];
    assert_eq!(short.next, Some(ConnectionPosition { created_at: last.created_at, ref_id: last.ref_id.clone() }));

    let whole = directory.list_connections(&owner(), &page(3)).await.unwrap();
    assert_eq!((whole.connections.len(), whole.next), (3, None), "no row beyond: the last page");
}
