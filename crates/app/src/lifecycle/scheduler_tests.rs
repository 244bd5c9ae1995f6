//! Unit tests of a scheduler round against mocked ports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use domain::ConnectionStatus;
use ports::mocks::MockRefreshQueue;
use ports::{DueStats, Lease, OAuthError, RetryState};

use super::tests::{all_due, build};
use crate::test_support::{Mocks, NOW, RecordedMetrics, connection, ref_id, tokens};
use crate::{Refresher, RoundReport, SchedulerHealth};

/// A queue whose claims hand out `batches` in turn (then nothing), owned by one replica.
fn queue(batches: Vec<Vec<u8>>, due: DueStats, claims: Arc<AtomicUsize>) -> MockRefreshQueue {
    let mut leases = MockRefreshQueue::new();
    let batches = Mutex::new(batches.into_iter());
    leases.expect_claim_due().returning(move |_, window, until, limit| {
        assert_eq!(window.due_before, window.now.plus_seconds(300), "the refresh-ahead window");
        assert_eq!(window.stale_before, window.now.plus_seconds(-86_400), "a day for tokens without expiry");
        assert_eq!(until, window.now.plus_seconds(60), "the lease");
        assert_eq!(limit, 32, "four batches' worth of the concurrency");
        claims.fetch_add(1, Ordering::SeqCst);
        let batch = batches.lock().unwrap().next().unwrap_or_default();
        Ok(batch.into_iter().map(|n| Lease { ref_id: ref_id(n), failures: 0 }).collect())
    });
    leases.expect_try_lease().returning(|r, _, _, _| Ok(Some(Lease { ref_id: r.clone(), failures: 0 })));
    leases.expect_release().returning(|_, _, _| Ok(true));
    leases.expect_due_stats().returning(move |_| Ok(due));
    leases
}

#[tokio::test]
async fn a_round_claims_until_a_short_batch_refreshes_each_and_reports_the_backlog() {
    let metrics = Arc::new(RecordedMetrics::default());
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    mocks.oauth.expect_refresh().times(33).returning(|_, _, _| Ok(tokens(3_600)));
    mocks.connections.expect_update().times(33).returning(|_, _, _, _| Ok(true));
    let claims = Arc::new(AtomicUsize::new(0));
    let due = DueStats { due: 7, earliest_expiry: Some(NOW.plus_seconds(-20)) };
    mocks.leases = queue(vec![(1..=32).collect(), vec![40]], due, claims.clone());
    let (dir, _) = build(mocks, metrics.clone());

    let report = Refresher::new(dir).run_once().await.unwrap();
    assert_eq!(claims.load(Ordering::SeqCst), 2, "a full batch is followed by another claim, a short one ends");
    assert_eq!(report, RoundReport { claimed: 33, refreshed: 33, ..RoundReport::default() });
    assert_eq!(*metrics.backlog.lock().unwrap(), [(7, 320)], "due since 300 + 20 seconds");
}

#[tokio::test]
async fn a_round_counts_failures_and_expiries_and_goes_on_after_them() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    let calls = AtomicUsize::new(0);
    mocks.oauth.expect_refresh().times(3).returning(move |_, _, _| match calls.fetch_add(1, Ordering::SeqCst) {
        0 => Err(OAuthError::Rejected { code: "invalid_grant".into(), description: None }),
        1 => Err(OAuthError::InvalidResponse("not JSON".into())),
        _ => Ok(tokens(3_600)),
    });
    mocks.connections.expect_update().times(2).returning(|_, _, _, _| Ok(true));
    mocks.leases = queue(vec![vec![1, 2, 3]], DueStats::default(), Arc::default());
    let (dir, _) = build(mocks, Arc::default());
    let report = Refresher::new(dir).run_once().await.unwrap();
    // The three run at once, so which one fails how is not fixed; the counts are.
    assert_eq!((report.claimed, report.expired, report.failed, report.refreshed), (3, 1, 1, 1));
}

#[tokio::test]
async fn a_claimed_token_that_another_replica_refreshed_meanwhile_is_left_alone() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_get_any().returning(|r| Ok(Some(connection(r, ConnectionStatus::Connected, 3_600))));
    mocks.oauth.expect_refresh().never();
    let mut leases = MockRefreshQueue::new();
    leases.expect_claim_due().times(1).returning(|_, _, _, _| Ok(vec![Lease { ref_id: ref_id(1), failures: 2 }]));
    leases.expect_try_lease().returning(|r, _, _, _| Ok(Some(Lease { ref_id: r.clone(), failures: 2 })));
    let released = Arc::new(Mutex::new(Vec::new()));
    let recorded = released.clone();
    leases.expect_release().returning(move |_, _, retry| {
        recorded.lock().unwrap().push(retry);
        Ok(true)
    });
    leases.expect_due_stats().returning(|_| Ok(DueStats::default()));
    mocks.leases = leases;
    let (dir, _) = build(mocks, Arc::default());
    let report = Refresher::new(dir).run_once().await.unwrap();
    assert_eq!(report, RoundReport { claimed: 1, already_fresh: 1, ..RoundReport::default() });
    assert_eq!(*released.lock().unwrap(), [RetryState::CLEAR], "a fresh token clears its backoff");
}

#[tokio::test]
async fn the_monitor_tells_a_failing_round_from_a_good_one() {
    let mut mocks = Mocks::new();
    let mut leases = MockRefreshQueue::new();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let failing = fail.clone();
    leases.expect_claim_due().returning(move |_, _, _, _| {
        if failing.load(Ordering::SeqCst) {
            Err(ports::StoreError::Unavailable("the database is down".into()))
        } else {
            Ok(Vec::new())
        }
    });
    leases.expect_due_stats().returning(|_| Ok(DueStats::default()));
    mocks.leases = leases;
    let refresher = Refresher::new(mocks.directory());
    let monitor = refresher.monitor();
    let now = std::time::Instant::now;
    assert_eq!(monitor.health(now()), SchedulerHealth::Starting);

    assert!(refresher.run_once().await.is_err());
    assert_eq!(monitor.health(now()), SchedulerHealth::Failing);
    fail.store(false, Ordering::SeqCst);
    refresher.run_once().await.unwrap();
    assert_eq!(monitor.health(now()), SchedulerHealth::Ok, "the next round did its work");
}
