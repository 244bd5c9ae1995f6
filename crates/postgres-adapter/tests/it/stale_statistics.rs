//! Plans that must not depend on PostgreSQL's statistics being fresh. A burst of deliveries (a
//! receiver back after an outage, a fresh database) meets statistics taken before it, and the
//! dispatcher's statements must still find their rows by key rather than read the whole table.
//! Observed through the server's own counters of the table's sequential scans, read once the
//! store's sessions have ended (a session reports its counts when it ends).

use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use domain::Timestamp;
use ports::{AttemptOutcome, Attempted, EventStore};
use postgres_adapter::PgStore;
use store_contract::fixtures;

use crate::support::{admin, config, empty_schema, url_of};

/// When the burst's events happened, and when they are claimed.
const AT: i64 = 1_800_000_000;

/// Audit rows announcing `connection.connected` of tenant `acme` for the numbers `from..=to`,
/// each of its own connection (so none waits for another's delivery); the migration's triggers
/// write the events and queue their deliveries.
fn announce(from: u32, to: u32) -> String {
    let id = "translate(lpad(g::text, 26, '0'), '0123456789', 'abcdefghij')";
    format!(
        "INSERT INTO audit_events (ref_id, server_name, kind, detail, at, tenant_id, user_id, event_id, event_type, \
         event_standing, event_previous, event_reason) SELECT 'conn-' || {id}, 'linear', 'connected', NULL, {AT}, \
         'acme', 'alice', 'evt_' || {id}, 'connection.connected', 'connected', NULL, 'authorized' \
         FROM generate_series({from}, {to}) AS g"
    )
}

#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    seq_scan: i64,
    #[diesel(sql_type = BigInt)]
    n_tup_upd: i64,
}

/// The server's counters of `deliveries` in `schema`, once every session of the store on it has
/// ended, and they count `updated` row updates (so what the sessions did has been reported).
async fn counts_after_the_sessions_end(schema: &str, updated: i64) -> Counts {
    #[derive(QueryableByName)]
    struct Ended {
        #[diesel(sql_type = Bool)]
        #[allow(dead_code, reason = "only run for its effect")]
        ended: bool,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut admin = admin().await;
    let started = Instant::now();
    loop {
        let _: Vec<Ended> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind::<Text, _>(schema)
        .load(&mut admin)
        .await
        .expect("end the store's sessions");
        // Every session gone, then the counters: the updates they must show prove the writers
        // reported, and waiting for none left covers a session that only read.
        let left: Count = diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1")
            .bind::<Text, _>(schema)
            .get_result(&mut admin)
            .await
            .expect("count the store's sessions");
        let counts: Counts = diesel::sql_query(
            "SELECT seq_scan, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'deliveries'",
        )
        .bind::<Text, _>(schema)
        .get_result(&mut admin)
        .await
        .expect("read the table's counters");
        if left.n == 0 && counts.n_tup_upd >= updated {
            return counts;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the sessions' counts never came: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_record_of_outcomes_reads_no_whole_table_when_the_statistics_predate_a_burst() {
    let schema = empty_schema().await;
    let url = url_of(&schema);
    let store = PgStore::connect(&url, config()).await.expect("connect and migrate");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert the endpoint");

    // Statistics taken while 2,000 deliveries were settled and none leased, then a burst of 20,000.
    let mut setup = AsyncPgConnection::establish(&url).await.expect("connect");
    setup.batch_execute("ALTER TABLE deliveries SET (autovacuum_enabled = false)").await.expect("no autovacuum");
    setup.batch_execute(&announce(1, 2_000)).await.expect("the first events");
    setup.batch_execute("UPDATE deliveries SET state = 'delivered'; ANALYZE deliveries; ANALYZE events").await.unwrap();
    setup.batch_execute(&announce(2_001, 22_000)).await.expect("the burst");
    drop(setup);

    let (now, until) = (Timestamp::from_unix(AT + 10), Timestamp::from_unix(AT + 70));
    let due = store.claim_deliveries("d", now, until, 256).await.expect("claim");
    assert_eq!(due.len(), 256);
    drop(store);
    let before = counts_after_the_sessions_end(&schema, 2_000 + 256).await;

    let store = PgStore::connect(&url, config()).await.expect("connect again");
    let outcome = AttemptOutcome::Delivered { status: 204, at: now };
    let attempts: Vec<Attempted> = due
        .iter()
        .map(|d| Attempted { webhook: hook.id.clone(), event: d.delivery.event.id.clone(), outcome: outcome.clone() })
        .collect();
    let written = store.finish_deliveries("d", &attempts).await.expect("record the outcomes");
    assert_eq!(written, vec![true; 256]);
    drop(store);
    let after = counts_after_the_sessions_end(&schema, before.n_tup_upd + 256).await;

    assert_eq!(after.n_tup_upd - before.n_tup_upd, 256, "one update per outcome");
    assert_eq!(after.seq_scan, before.seq_scan, "the record found its deliveries by key, not by reading the table");
}
