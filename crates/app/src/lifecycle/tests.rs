//! Unit tests of refreshing under a lease against mocked ports: backoff, the circuit breaker,
//! `invalid_grant`, and a lease held by another replica.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{Account, ConnectionStatus, EventType, RefId};
use ports::mocks::MockRefreshQueue;
use ports::{BreakerState, Lease, OAuthError, RefreshEvent, RetryState, SecretsUpdate, TokenSet};

use super::lease::{Attempt, Mode};
use crate::test_support::{Mocks, NOW, RecordedMetrics, connection, owner, ref_id, secrets, tokens};
use crate::{Directory, Error, RefreshOutcome, RefreshSettings};

/// Every connection is a connected `acme` one expiring in `expires_in` seconds, with a refresh token.
pub(super) fn all_due(mocks: &mut Mocks, expires_in: i64) {
    mocks
        .connections
        .expect_get_any()
        .returning(move |r| Ok(Some(connection(r, ConnectionStatus::Connected, expires_in))));
    mocks.connections.expect_secrets().returning(|_, r| Ok(Some(secrets(r, "rt"))));
    mocks
        .connections
        .expect_get_with_secrets()
        .returning(move |_, r| Ok(Some((connection(r, ConnectionStatus::Connected, expires_in), secrets(r, "rt")))));
}

/// Leases granted with `failures` behind them; every release is recorded.
pub(super) fn recording_leases(failures: u32, released: Arc<Mutex<Vec<RetryState>>>) -> MockRefreshQueue {
    let mut leases = MockRefreshQueue::new();
    leases.expect_try_lease().returning(move |r, _, _, _| Ok(Some(Lease { ref_id: r.clone(), failures })));
    leases.expect_release().returning(move |_, _, retry| {
        released.lock().unwrap().push(retry);
        Ok(true)
    });
    leases
}

pub(super) fn settings() -> RefreshSettings {
    RefreshSettings {
        backoff_base_seconds: 30,
        backoff_max_seconds: 900,
        breaker_threshold: 2,
        breaker_cooldown_seconds: 60,
        lease_wait: Duration::from_millis(300),
        ..RefreshSettings::default()
    }
}

pub(super) fn build(
    mocks: Mocks,
    metrics: Arc<RecordedMetrics>,
) -> (Directory<crate::test_support::MockDeps>, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(NOW.unix()));
    (mocks.directory_at(metrics, now.clone(), settings()), now)
}

#[tokio::test]
async fn a_transient_failure_backs_off_with_jitter_and_never_expires_the_connection() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    mocks.oauth.expect_refresh().times(1).returning(|_, _, _| Err(OAuthError::Unavailable("HTTP 429".into())));
    // The third failure in a row announces `refresh_failing`, written with the row left as it was.
    mocks.connections.expect_update().times(1).returning(|c, expected, secrets, event| {
        assert_eq!(
            (c.status(), expected, secrets),
            (ConnectionStatus::Connected, ConnectionStatus::Connected, &SecretsUpdate::Keep)
        );
        assert_eq!(event.notice.as_ref().map(|n| n.kind), Some(EventType::RefreshFailing));
        Ok(true)
    });
    let released = Arc::new(Mutex::new(Vec::new()));
    mocks.leases = recording_leases(2, released.clone());
    let (dir, _) = build(mocks, Arc::default());

    let err = dir.refresh(&ref_id(1), 60).await.unwrap_err();
    assert!(matches!(err, Error::Provider { .. }), "{err:?}");
    let retry = released.lock().unwrap()[0];
    assert_eq!(retry.failures, 3, "one more failure in a row");
    let wait = NOW.seconds_until(retry.next_attempt_at.expect("a backoff"));
    assert!((60..=120).contains(&wait), "30 s doubled twice, jittered over its upper half: {wait}");
}

#[tokio::test]
async fn credentials_hand_out_the_old_token_while_the_provider_is_down_and_it_still_works() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 30);
    mocks.oauth.expect_refresh().times(1).returning(|_, _, _| Err(OAuthError::Unavailable("timeout".into())));
    let (dir, _) = build(mocks, Arc::default());
    let credential = dir.credentials(&owner(), &ref_id(1)).await.expect("the old token still works for 30 s");
    assert_eq!(credential.connection.status(), ConnectionStatus::Connected);
}

#[tokio::test]
async fn a_real_invalid_grant_expires_the_connection_and_clears_the_backoff() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    mocks
        .oauth
        .expect_refresh()
        .returning(|_, _, _| Err(OAuthError::Rejected { code: "invalid_grant".into(), description: None }));
    mocks.connections.expect_update().times(1).returning(|c, expected, _, _| {
        assert_eq!((c.status(), expected), (ConnectionStatus::Expired, ConnectionStatus::Connected));
        Ok(true)
    });
    let released = Arc::new(Mutex::new(Vec::new()));
    mocks.leases = recording_leases(4, released.clone());
    let (dir, _) = build(mocks, Arc::default());
    let attempt = dir.refresh_with(&ref_id(1), 300, Mode::Scheduled).await.unwrap();
    assert_eq!(attempt, Attempt::Done(RefreshOutcome::Expired));
    assert_eq!(*released.lock().unwrap(), [RetryState::CLEAR]);
}

#[tokio::test]
async fn invalid_grant_after_a_sibling_rotated_the_token_is_no_failure() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_get_any().returning(|r| Ok(Some(connection(r, ConnectionStatus::Connected, 10))));
    // The refresh reads the token it presents; by the time it is refused, a sibling rotated it.
    mocks
        .connections
        .expect_get_with_secrets()
        .returning(|_, r| Ok(Some((connection(r, ConnectionStatus::Connected, 10), secrets(r, "rt")))));
    mocks.connections.expect_secrets().returning(|_, r| Ok(Some(secrets(r, "rt-rotated"))));
    mocks
        .oauth
        .expect_refresh()
        .returning(|_, _, _| Err(OAuthError::Rejected { code: "invalid_grant".into(), description: None }));
    mocks.connections.expect_update().never();
    let (dir, _) = build(mocks, Arc::default());
    assert_eq!(dir.refresh(&ref_id(1), 60).await.unwrap(), RefreshOutcome::AlreadyFresh);
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_refuses_without_calling_the_provider() {
    let metrics = Arc::new(RecordedMetrics::default());
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    mocks.oauth.expect_refresh().times(2).returning(|_, _, _| Err(OAuthError::Unavailable("HTTP 502".into())));
    let released = Arc::new(Mutex::new(Vec::new()));
    mocks.leases = recording_leases(1, released.clone());
    let (dir, _) = build(mocks, metrics.clone());
    for n in 1..=3 {
        assert!(dir.refresh_with(&ref_id(n), 300, Mode::Scheduled).await.is_err());
    }
    assert_eq!(*metrics.refreshes.lock().unwrap(), [RefreshEvent::Failed, RefreshEvent::Failed, RefreshEvent::Skipped]);
    assert_eq!(*metrics.breakers.lock().unwrap(), [("https://as.example/token".to_owned(), BreakerState::Open)]);
    let skipped = released.lock().unwrap()[2];
    assert_eq!(skipped.failures, 1, "a refused call is not a failure of the connection");
    let wait = NOW.seconds_until(skipped.next_attempt_at.expect("retried after the cool-down"));
    assert!((30..=60).contains(&wait), "{wait}");
}

/// A refresh the open breaker refuses is no failure of the connection's: it announces no
/// `refresh_failing`, even for a connection one failure short of it (review of issue 17: each
/// refusal announced it again, under a new id).
#[tokio::test]
async fn a_refresh_the_breaker_refuses_announces_no_refresh_failing() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    mocks.oauth.expect_refresh().times(2).returning(|_, _, _| Err(OAuthError::Unavailable("HTTP 502".into())));
    let mut leases = MockRefreshQueue::new();
    // Connections 1 and 2 have no failure behind them; connection 3 is one short of the threshold.
    leases
        .expect_try_lease()
        .returning(|r, _, _, _| Ok(Some(Lease { ref_id: r.clone(), failures: if *r == ref_id(3) { 2 } else { 0 } })));
    leases.expect_release().returning(|_, _, _| Ok(true));
    mocks.leases = leases;
    let announced = Arc::new(AtomicUsize::new(0));
    let counted = announced.clone();
    mocks.audit = ports::mocks::MockAuditLog::new();
    mocks.audit.expect_record().returning(move |event| {
        counted.fetch_add(usize::from(event.notice.is_some()), Ordering::SeqCst);
        Ok(())
    });
    mocks.connections.expect_update().never();
    let (dir, _) = build(mocks, Arc::default());
    for n in 1..=3 {
        assert!(dir.refresh_with(&ref_id(n), 300, Mode::Scheduled).await.is_err());
    }
    assert_eq!(announced.load(Ordering::SeqCst), 0, "a refused call announced refresh_failing");
}

#[tokio::test]
async fn after_the_cooldown_one_trial_goes_through_and_its_success_closes_the_breaker() {
    let metrics = Arc::new(RecordedMetrics::default());
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    let calls = AtomicUsize::new(0);
    mocks.oauth.expect_refresh().times(3).returning(move |_, _, _| match calls.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Err(OAuthError::Unavailable("connection refused".into())),
        _ => Ok(tokens(3_600)),
    });
    mocks.connections.expect_update().times(1).returning(|_, _, _, _| Ok(true));
    let (dir, now) = build(mocks, metrics.clone());
    for n in 1..=3 {
        assert!(dir.refresh(&ref_id(n), 60).await.is_err());
    }
    now.fetch_add(60, Ordering::SeqCst);
    assert_eq!(dir.refresh(&ref_id(4), 60).await.unwrap(), RefreshOutcome::Refreshed);
    let states: Vec<BreakerState> = metrics.breakers.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert_eq!(states, [BreakerState::Open, BreakerState::HalfOpen, BreakerState::Closed]);
}

#[tokio::test]
async fn refusals_from_a_working_server_do_not_open_the_breaker() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    let rejected = || Err(OAuthError::Rejected { code: "invalid_client".into(), description: None });
    mocks.oauth.expect_refresh().times(4).returning(move |_, _, _| rejected());
    let (dir, _) = build(mocks, Arc::default());
    for n in 1..=4 {
        assert!(matches!(dir.refresh(&ref_id(n), 60).await, Err(Error::Provider { step: "token refresh", .. })));
    }
}

#[tokio::test]
async fn a_short_lived_token_is_not_claimed_again_before_half_its_life() {
    let mut mocks = Mocks::new();
    let refreshed = Arc::new(AtomicUsize::new(0));
    let seen = refreshed.clone();
    // Before the refresh the token expires in 10 s; after it, in 100 s (less than twice the window).
    let expiry = move || if seen.load(Ordering::SeqCst) > 0 { 100 } else { 10 };
    let expiry_too = expiry.clone();
    mocks
        .connections
        .expect_get_any()
        .returning(move |r| Ok(Some(connection(r, ConnectionStatus::Connected, expiry()))));
    mocks
        .connections
        .expect_get_with_secrets()
        .returning(move |_, r| Ok(Some((connection(r, ConnectionStatus::Connected, expiry_too()), secrets(r, "rt")))));
    mocks.oauth.expect_refresh().returning(|_, _, _| Ok(tokens(100)));
    mocks.connections.expect_update().returning(move |_, _, _, _| {
        refreshed.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    });
    let released = Arc::new(Mutex::new(Vec::new()));
    mocks.leases = recording_leases(0, released.clone());
    let (dir, _) = build(mocks, Arc::default());
    assert_eq!(
        dir.refresh_with(&ref_id(1), 300, Mode::Scheduled).await.unwrap(),
        Attempt::Done(RefreshOutcome::Refreshed)
    );
    assert_eq!(*released.lock().unwrap(), [RetryState { failures: 0, next_attempt_at: Some(NOW.plus_seconds(50)) }]);
}

/// A lease another replica holds: try_lease never succeeds; the connection turns fresh after
/// `fresh_after` reads of it (never, when `None`).
fn held_elsewhere(mocks: &mut Mocks, fresh_after: Option<usize>) {
    let mut leases = MockRefreshQueue::new();
    leases.expect_try_lease().returning(|_, _, _, _| Ok(None));
    leases.expect_release().never();
    mocks.leases = leases;
    // Every read of the connection, with or without its secrets, counts.
    let reads = Arc::new(AtomicUsize::new(0));
    let read = move |r: &RefId| {
        let read = reads.fetch_add(1, Ordering::SeqCst);
        let fresh = fresh_after.is_some_and(|n| read >= n);
        connection(r, ConnectionStatus::Connected, if fresh { 3_600 } else { 30 })
    };
    let read_too = read.clone();
    mocks.connections.expect_get_any().returning(move |r| Ok(Some(read(r))));
    mocks.connections.expect_get_with_secrets().returning(move |_, r| Ok(Some((read_too(r), secrets(r, "rt")))));
    mocks.connections.expect_secrets().returning(|_, r| Ok(Some(secrets(r, "rt"))));
    mocks.oauth.expect_refresh().never();
}

#[tokio::test]
async fn the_scheduler_leaves_a_token_whose_lease_another_replica_holds() {
    let mut mocks = Mocks::new();
    held_elsewhere(&mut mocks, None);
    let (dir, _) = build(mocks, Arc::default());
    assert_eq!(dir.refresh_with(&ref_id(1), 300, Mode::Scheduled).await.unwrap(), Attempt::Busy);
}

#[tokio::test]
async fn a_credentials_call_waits_for_the_other_replicas_refresh_and_hands_out_its_token() {
    let mut mocks = Mocks::new();
    held_elsewhere(&mut mocks, Some(2));
    let (dir, _) = build(mocks, Arc::default());
    let credential = dir.credentials(&owner(), &ref_id(1)).await.expect("the token the other replica stored");
    assert_eq!(credential.connection.expires_at, Some(NOW.plus_seconds(3_600)));
}

#[tokio::test]
async fn a_credentials_call_stops_waiting_and_uses_the_token_it_has_while_that_still_works() {
    let metrics = Arc::new(RecordedMetrics::default());
    let mut mocks = Mocks::new();
    held_elsewhere(&mut mocks, None);
    let (dir, _) = build(mocks, metrics.clone());
    assert!(matches!(dir.refresh(&ref_id(1), 60).await, Err(Error::Provider { .. })), "gives up after the wait");
    let credential = dir.credentials(&owner(), &ref_id(1)).await.expect("the current token expires in 30 s");
    assert_eq!(credential.connection.expires_at, Some(NOW.plus_seconds(30)));
    assert!(metrics.refreshes.lock().unwrap().is_empty(), "waiting is no refresh outcome");
}

/// Issue 20 item 4: finding the token endpoint can outlast the lease. A replica whose lease
/// lapsed meanwhile (another took it) must not present the refresh token a second time.
#[tokio::test]
async fn a_lease_lost_while_the_token_endpoint_is_found_never_presents_the_refresh_token() {
    let mut mocks = Mocks::new();
    all_due(&mut mocks, 10);
    mocks.oauth.expect_refresh().never();
    mocks.connections.expect_update().never();
    let leases_taken = Arc::new(AtomicUsize::new(0));
    let taken = leases_taken.clone();
    mocks.leases = MockRefreshQueue::new();
    mocks.leases.expect_try_lease().returning(move |r, _, _, _| {
        // The first call takes the lease; by the confirmation another replica holds it.
        let first = taken.fetch_add(1, Ordering::SeqCst) == 0;
        Ok(first.then(|| Lease { ref_id: r.clone(), failures: 0 }))
    });
    mocks.leases.expect_release().returning(|_, _, _| Ok(false));
    let (dir, _) = build(mocks, Arc::default());

    let attempt = dir.refresh_with(&ref_id(1), 300, Mode::Scheduled).await;
    assert!(matches!(attempt, Err(Error::Provider { .. })), "{attempt:?}");
    assert_eq!(leases_taken.load(Ordering::SeqCst), 2, "taken, then confirmed before the token call");
}

#[tokio::test]
async fn a_refresh_keeps_the_known_account_unless_its_response_names_another() {
    for (named, expected) in [(None, "ada@example.com"), (Some("grace@example.com"), "grace@example.com")] {
        let known = |r: &RefId| {
            let mut c = connection(r, ConnectionStatus::Connected, 10);
            c.account = Account::from_provider("ada@example.com");
            c
        };
        let mut mocks = Mocks::new();
        mocks.connections.expect_get_any().returning(move |r| Ok(Some(known(r))));
        mocks.connections.expect_secrets().returning(|_, r| Ok(Some(secrets(r, "rt"))));
        mocks.connections.expect_get_with_secrets().returning(move |_, r| Ok(Some((known(r), secrets(r, "rt")))));
        mocks
            .oauth
            .expect_refresh()
            .times(1)
            .returning(move |_, _, _| Ok(TokenSet { account: named.and_then(Account::from_provider), ..tokens(3600) }));
        let stored = Arc::new(Mutex::new(None));
        let into = stored.clone();
        mocks.connections.expect_update().times(1).returning(move |c, _, _, _| {
            *into.lock().unwrap() = c.account.clone();
            Ok(true)
        });
        mocks.leases = recording_leases(0, Arc::default());
        let (dir, _) = build(mocks, Arc::default());

        dir.refresh(&ref_id(1), 60).await.expect("refreshed");
        assert_eq!(stored.lock().unwrap().as_ref().map(Account::as_str), Some(expected), "named: {named:?}");
    }
}
