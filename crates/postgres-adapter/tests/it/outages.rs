//! A database that goes away, stops answering, or has no connection to spare gives
//! `StoreError::Unavailable` within the configured timeout, never a hang, and the same store
//! works again as soon as the database is back.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use ports::{ConnectionStore, StoreError, StoredSecrets};
use postgres_adapter::{PgConfig, PgStore};

use store_contract::proxy::CuttableProxy;

use crate::support::{admin, config, empty_schema, server_url, url_of};

/// Short enough to keep the suite quick, long enough for a loaded machine's healthy calls.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// What a call may take beyond its timeout (scheduling on a busy machine).
const SLACK: Duration = Duration::from_millis(1000);

fn short(pool_size: usize) -> PgConfig {
    // One shared lane: the pool is exactly `pool_size`, whichever runtime the test runs on.
    PgConfig { pool_size, timeout: TIMEOUT, worker_threads: 0 }
}

/// Runs `call`, asserts it was `Unavailable` and came back within the timeout (plus slack).
async fn assert_unavailable_in_time<T: std::fmt::Debug>(what: &str, call: impl Future<Output = Result<T, StoreError>>) {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{what}: expected Unavailable, got {result:?}");
    assert!(took < TIMEOUT + SLACK, "{what}: answered after {took:?}, the bound is {TIMEOUT:?}");
}

/// A migrated database behind a proxy the test controls, and a store on it.
async fn store_behind_proxy(pool_size: usize) -> (PgStore, CuttableProxy) {
    let schema = empty_schema().await;
    postgres_adapter::migrate(&url_of(&schema), short(1)).await.expect("migrate");
    let proxy = CuttableProxy::in_front_of(&server_url()).await;
    let store =
        PgStore::connect(&proxy.route(&url_of(&schema)), short(pool_size)).await.expect("connect through the proxy");
    (store, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_unavailable_and_the_same_store_recovers_when_it_is_back() {
    let (store, proxy) = store_behind_proxy(2).await;
    let connection = store_contract::fixtures::full_connection(1);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert while up");

    proxy.cut();
    assert_unavailable_in_time("get", store.get(&store_contract::fixtures::seed_owner(), &connection.ref_id)).await;
    assert_unavailable_in_time("list", store.list(&store_contract::fixtures::seed_owner())).await;
    assert_unavailable_in_time("ping", store.ping()).await;

    proxy.restore();
    assert_eq!(
        store
            .get(&store_contract::fixtures::seed_owner(), &connection.ref_id)
            .await
            .expect("get once the database is back"),
        Some(connection)
    );
    store.ping().await.expect("ping once the database is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_is_unavailable_within_the_timeout() {
    let (store, proxy) = store_behind_proxy(2).await;
    store.ping().await.expect("ping while up");

    proxy.silence();
    assert_unavailable_in_time("ping", store.ping()).await;
    assert_unavailable_in_time("list", store.list(&store_contract::fixtures::seed_owner())).await;

    proxy.restore();
    store.list(&store_contract::fixtures::seed_owner()).await.expect("list once the database answers again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_started_while_the_database_is_down_is_unavailable_at_once() {
    let schema = empty_schema().await;
    let proxy = CuttableProxy::in_front_of(&server_url()).await;
    proxy.cut();
    assert_unavailable_in_time("connect", PgStore::connect(&proxy.route(&url_of(&schema)), short(2))).await;

    let lazy =
        PgStore::connect_without_migrating(&proxy.route(&url_of(&schema)), short(2)).expect("a pool opens lazily");
    assert_unavailable_in_time("ping", lazy.ping()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_unavailable_within_the_timeout_and_recovers() {
    let schema = empty_schema().await;
    let url = url_of(&schema);
    let store = PgStore::connect(&url, short(1)).await.expect("connect");

    // Another session locks the table, so the pool's only connection waits on it.
    let mut locker = AsyncPgConnection::establish(&url).await.expect("connect the locker");
    locker.batch_execute("BEGIN; LOCK TABLE connections IN ACCESS EXCLUSIVE MODE").await.expect("lock");

    let list_started = Instant::now();
    let blocked = tokio::spawn({
        let store = store.clone();
        async move {
            let started = Instant::now();
            (store.list(&store_contract::fixtures::seed_owner()).await, started.elapsed())
        }
    });
    // Once the list holds the only connection (its query waits on the lock), a ping waits for
    // the pool and is bounded too.
    let started = Instant::now();
    while active_queries(&schema).await == 0 {
        assert!(started.elapsed() < TIMEOUT, "the list never reached the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_unavailable_in_time("ping with the pool exhausted", store.ping()).await;
    let (listed, took) = blocked.await.expect("the blocked list ends");
    assert!(matches!(listed, Err(StoreError::Unavailable(_))), "{listed:?}");
    assert!(took < TIMEOUT + SLACK, "the blocked list answered after {took:?}");

    // The server gives up on the abandoned query too (after twice the bound), instead of
    // running it on behind the lock.
    while active_queries(&schema).await > 0 {
        assert!(list_started.elapsed() < 2 * TIMEOUT + SLACK, "the abandoned query still runs on the server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    locker.batch_execute("COMMIT").await.expect("unlock");
    assert_eq!(store.list(&store_contract::fixtures::seed_owner()).await.expect("list once the lock is gone"), vec![]);
}

/// How many statements sessions of the store on `schema` are running now.
async fn active_queries(schema: &str) -> usize {
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code, reason = "only counted")]
        pid: i32,
    }
    let active: Vec<Pid> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'")
            .bind::<diesel::sql_types::Text, _>(schema),
        &mut admin().await,
    )
    .await
    .expect("list active sessions");
    active.len()
}

#[tokio::test]
async fn connections_the_server_terminated_are_replaced_without_an_error() {
    let schema = empty_schema().await;
    let store = PgStore::connect(&url_of(&schema), config()).await.expect("connect");
    store.ping().await.expect("ping");
    store.list(&store_contract::fixtures::seed_owner()).await.expect("list");

    #[derive(diesel::QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        terminated: bool,
    }
    // The function sits in the select list, so it runs only for the rows the WHERE keeps.
    let terminated: Vec<Terminated> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind::<diesel::sql_types::Text, _>(&schema),
        &mut admin().await,
    )
    .await
    .expect("terminate the store's connections");
    assert!(terminated.iter().any(|t| t.terminated), "the store had a pooled connection to terminate");

    assert_eq!(
        store.list(&store_contract::fixtures::seed_owner()).await.expect("the pool replaces the dead connection"),
        vec![]
    );
}
