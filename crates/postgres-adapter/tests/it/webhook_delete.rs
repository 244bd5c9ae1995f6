//! Deleting a webhook endpoint while a change of its tenant's connection is written, on
//! PostgreSQL, where the two commit concurrently: the change's trigger still sees the endpoint
//! (its delete has not committed) and queues a delivery to it. The change must not fail for that
//! (a refresh's rotated token would be lost), and the delivery left behind must never be sent,
//! listed, nor keep its event from being pruned.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use domain::Timestamp;
use ports::EventStore;
use postgres_adapter::PgStore;
use store_contract::fixtures;

use crate::support::{config, empty_schema, url_of};

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// An audit row announcing an event of `acme`'s connection, written at unix second 1800000000.
const ANNOUNCE: &str = "INSERT INTO audit_events (ref_id, server_name, kind, detail, at, tenant_id, user_id, \
     event_id, event_type, event_standing, event_previous, event_reason) VALUES \
     ('conn-aaaaaaaaaaaaaaaaaaaaaaaaaa', 'linear', 'connected', NULL, 1800000000, 'acme', 'alice', \
     'evt_aaaaaaaaaaaaaaaaaaaaaaaaaa', 'connection.connected', 'connected', NULL, 'authorized')";

/// Whether the session `pid` is waiting for a lock.
async fn waits_for_a_lock(observer: &mut AsyncPgConnection, pid: i32) -> bool {
    let query = format!("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {pid} AND wait_event_type = 'Lock'");
    let rows: Vec<Number> = diesel::sql_query(query).load(observer).await.expect("pg_stat_activity");
    rows[0].n > 0
}

#[tokio::test]
async fn a_change_written_while_its_tenants_endpoint_is_deleted_succeeds_and_its_delivery_goes_nowhere() {
    let url = url_of(&empty_schema().await);
    let store = PgStore::connect(&url, config()).await.expect("connect and migrate");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    let mut deleting = AsyncPgConnection::establish(&url).await.unwrap();
    let mut writing = AsyncPgConnection::establish(&url).await.unwrap();
    let mut observer = AsyncPgConnection::establish(&url).await.unwrap();
    let pid: Vec<Pid> = diesel::sql_query("SELECT pg_backend_pid() AS pid").load(&mut writing).await.unwrap();
    let pid = pid[0].pid;

    deleting.batch_execute(&format!("BEGIN; DELETE FROM webhooks WHERE id = '{}'", hook.id.as_str())).await.unwrap();
    let mut change = tokio::spawn(async move { writing.batch_execute(ANNOUNCE).await });
    // The change either finishes at once or waits on the delete's lock; then the delete commits.
    let written = loop {
        tokio::select! {
            written = &mut change => break Some(written.expect("the change's task")),
            () = tokio::task::yield_now() => {}
        }
        if waits_for_a_lock(&mut observer, pid).await {
            break None;
        }
    };
    deleting.batch_execute("COMMIT").await.unwrap();
    let written = match written {
        Some(written) => written,
        None => change.await.expect("the change's task"),
    };
    assert!(written.is_ok(), "the change failed: {written:?}");

    let later = Timestamp::from_unix(1_800_000_100);
    let claimed = store.claim_deliveries("d", later, later.plus_seconds(60), 10).await.expect("claim");
    assert_eq!(claimed, vec![], "a delivery to a deleted endpoint is never sent");
    assert_eq!(store.deliveries(&hook.tenant, &hook.id, None, 10).await.expect("deliveries"), vec![]);
    assert_eq!(store.prune_events(later, 10).await.expect("prune"), 1, "it does not keep its event");
}
