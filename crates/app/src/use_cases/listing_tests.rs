use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use domain::{AuthMethod, Connection, NewConnection, RefId, ServerName, Transport};
use ports::StoreError;

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
                },
                NOW,
            )
        })
        .collect()
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
    mocks.connections.expect_list().returning(move |_| {
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
        async move { directory.list_connections(&owner()).await }
    });
    tokio::task::spawn_blocking(move || first_read_started.recv().unwrap()).await.unwrap();
    let later: Vec<_> = (0..3)
        .map(|_| {
            let directory = directory.clone();
            tokio::spawn(async move { directory.list_connections(&owner()).await })
        })
        .collect();
    until("the later callers wait", || {
        directory.inner.listing.lock().get(&owner()).map_or(0, |w| w.callers.len()) == 3
    })
    .await;
    release.send(()).unwrap();

    assert_eq!(first.await.unwrap().unwrap().len(), 1, "the first caller gets the read it started");
    for caller in later {
        assert_eq!(caller.await.unwrap().unwrap().len(), 2, "a later caller gets a read that started after it");
    }
    assert_eq!(reads.load(Ordering::SeqCst), 2, "three callers, one read");
    // Nobody waits, so no task reads on.
    until("the reading task stops", || !directory.inner.listing.lock().get(&owner()).is_some_and(|w| w.reading)).await;
}

#[tokio::test]
async fn a_caller_alone_reads_alone_every_time() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_list().times(3).returning(|_| Ok(connections(2)));
    let directory = mocks.directory();
    for _ in 0..3 {
        assert_eq!(directory.list_connections(&owner()).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_failed_read_fails_every_caller_that_waited_for_it_with_its_cause() {
    let mut mocks = Mocks::new();
    mocks
        .connections
        .expect_list()
        .returning(|_| Err(StoreError::Unavailable("connection refused by 10.0.0.5:5432".into())));
    let directory = mocks.directory();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let directory = directory.clone();
            tokio::spawn(async move { directory.list_connections(&owner()).await })
        })
        .collect();
    for caller in callers {
        match caller.await.unwrap() {
            Err(Error::Unavailable(cause)) => assert_eq!(cause.to_string(), "connection refused by 10.0.0.5:5432"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    // The next caller reads again.
    assert!(matches!(directory.list_connections(&owner()).await, Err(Error::Unavailable(_))));
}

#[tokio::test]
async fn a_reading_task_that_dies_leaves_no_caller_waiting_and_no_reader_marked_running() {
    let mut mocks = Mocks::new();
    // The panic also poisons the mock, so every later read dies too: the caller, which tries
    // twice, must get an error rather than wait for ever.
    mocks.connections.expect_list().returning(|_| panic!("the read dies"));
    let directory = mocks.directory();
    let answer = tokio::time::timeout(Duration::from_secs(5), directory.list_connections(&owner())).await;
    assert!(matches!(answer, Ok(Err(Error::Internal(_)))), "{answer:?}");
    assert!(
        !directory.inner.listing.lock().get(&owner()).is_some_and(|w| w.reading),
        "no reader is left marked as running"
    );
    assert!(directory.inner.listing.lock().get(&owner()).is_none_or(|w| w.callers.is_empty()));
}
