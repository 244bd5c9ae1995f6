//! The feed on PostgreSQL, where writers commit concurrently: a transaction that took its id
//! first but numbered its event later commits first, and the other one's event (a lower `seq`)
//! becomes visible only after the cursor passed the first. Ordered by `seq`, the cursor would skip
//! it for ever; ordered by the writing transaction, it comes next.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use domain::TenantId;
use ports::{EventQuery, EventStore, FeedPosition, LifecycleEvent};
use postgres_adapter::PgStore;

use crate::support::{config, empty_schema, url_of};

/// An audit row announcing event `id` of tenant `feedrace`.
fn announce(id: &str) -> String {
    format!(
        "INSERT INTO audit_events (ref_id, server_name, kind, detail, at, tenant_id, user_id, event_id, event_type, \
         event_standing, event_previous, event_reason) VALUES ('conn-aaaaaaaaaaaaaaaaaaaaaaaaaa', 'linear', \
         'connected', NULL, 1800000000, 'feedrace', 'alice', '{id}', 'connection.connected', 'connected', NULL, \
         'authorized')"
    )
}

/// Reads the feed after `after` until it lists something (the cluster's other transactions may
/// hold it back a while); `None` when nothing came within the bound.
async fn next_after(store: &PgStore, after: FeedPosition) -> Option<Vec<(FeedPosition, LifecycleEvent)>> {
    let query = EventQuery { tenant: TenantId::parse("feedrace").unwrap(), user: None, after, limit: 10 };
    for _ in 0..300 {
        let listed = store.events_after(&query).await.expect("feed");
        if !listed.is_empty() {
            return Some(listed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn an_event_whose_transaction_commits_after_a_later_numbered_one_is_not_skipped() {
    let url = url_of(&empty_schema().await);
    let store = PgStore::connect(&url, config()).await.expect("connect and migrate");
    let mut first = AsyncPgConnection::establish(&url).await.unwrap();
    let mut second = AsyncPgConnection::establish(&url).await.unwrap();
    let (early, late) = ("evt_aaaaaaaaaaaaaaaaaaaaaaaaaa", "evt_bbbbbbbbbbbbbbbbbbbbbbbbbb");

    // `first` takes its transaction id; `second` takes a later one and numbers its event first.
    first.batch_execute("BEGIN; SELECT pg_current_xact_id()").await.unwrap();
    second.batch_execute(&format!("BEGIN; {}", announce(late))).await.unwrap();
    // `first` numbers its event after `second`'s, and commits first.
    first.batch_execute(&format!("{}; COMMIT", announce(early))).await.unwrap();
    let listed = next_after(&store, FeedPosition::default()).await.expect("the committed event is listed");
    assert_eq!(listed.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(), [early]);
    let cursor = listed[0].0;

    second.batch_execute("COMMIT").await.unwrap();
    let listed = next_after(&store, cursor).await.expect("the event committed later is listed after the cursor");
    assert_eq!(listed.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(), [late]);
    assert!(listed[0].1.seq < cursor.seq, "the late event has the lower seq, as the scenario intends");
}
