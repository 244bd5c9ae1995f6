//! `RefreshQueue`: which tokens are due, and leases that go to one owner at a time, lapse by
//! themselves and carry the backoff of failed attempts.

use std::collections::BTreeSet;

use domain::{AuthMethod, Connection, ConnectionStatus, RefId, Timestamp, Transport};
use ports::{DueStats, DueWindow, RetryState, StoredSecrets};

use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

const AHEAD: i64 = 300;
const DAY: i64 = 86_400;

/// The window of the cases at `now`: due within five minutes, stale after a day.
fn window(now: Timestamp) -> DueWindow {
    DueWindow { now, due_before: now.plus_seconds(AHEAD), stale_before: now.plus_seconds(-DAY) }
}

fn tokens(refresh: bool) -> StoredSecrets {
    StoredSecrets {
        api_key: None,
        access_token: Some(fixtures::sealed("access")),
        refresh_token: refresh.then(|| fixtures::sealed("refresh")),
    }
}

/// A connected OAuth connection expiring at `expires_at`, last written at `written_at`.
async fn oauth<S: ContractStore>(
    store: &S,
    n: u8,
    expires_at: Option<Timestamp>,
    written_at: Timestamp,
    refresh: bool,
) -> RefId {
    let mut connection = fixtures::connected_oauth_connection(n);
    connection.expires_at = expires_at;
    connection.updated_at = written_at;
    store.insert(&connection, &tokens(refresh), None, &[]).await.expect("insert");
    connection.ref_id
}

async fn insert<S: ContractStore>(store: &S, connection: &Connection, refresh: bool) {
    store.insert(connection, &tokens(refresh), None, &[]).await.expect("insert");
}

fn ids(leases: &[ports::Lease]) -> BTreeSet<RefId> {
    leases.iter().map(|l| l.ref_id.clone()).collect()
}

/// Exactly the due connections are claimed: expiring soon, or without expiry and a day old,
/// with a refresh token; or already expired without one. Nothing else, whatever its status.
pub async fn only_due_oauth_connections_are_claimed<S: ContractStore>(store: S) {
    let soon = oauth(&store, 1, Some(T0.plus_seconds(60)), T0, true).await;
    let overdue = oauth(&store, 2, Some(T0.plus_seconds(-60)), T0, true).await;
    let stale = oauth(&store, 3, None, T0.plus_seconds(-DAY - 1), true).await;
    let gone_without_refresh = oauth(&store, 4, Some(T0.plus_seconds(-1)), T0, false).await;
    oauth(&store, 5, Some(T0.plus_seconds(3_600)), T0, true).await;
    oauth(&store, 6, None, T0.plus_seconds(-60), true).await;
    oauth(&store, 7, Some(T0.plus_seconds(60)), T0, false).await;
    oauth(&store, 8, None, T0.plus_seconds(-DAY - 1), false).await;
    for (n, status) in
        [(9, ConnectionStatus::Expired), (10, ConnectionStatus::PendingOAuth), (11, ConnectionStatus::Failed)]
    {
        let mut connection = fixtures::connection_with(n, status, AuthMethod::OAuth, Transport::StreamableHttp);
        connection.expires_at = Some(T0.plus_seconds(-60));
        insert(&store, &connection, true).await;
    }
    let mut keyed = fixtures::connection_with(12, ConnectionStatus::Connected, AuthMethod::ApiKey, Transport::Sse);
    keyed.expires_at = Some(T0.plus_seconds(-60));
    insert(&store, &keyed, true).await;

    let claimed = store.claim_due("a", window(T0), T0.plus_seconds(60), 100).await.expect("claim");
    let expected: BTreeSet<RefId> = [soon, overdue, stale, gone_without_refresh].into();
    assert_eq!(ids(&claimed), expected);
    assert_eq!(claimed.len(), expected.len(), "each connection once");
    assert!(claimed.iter().all(|l| l.failures == 0));
    let again = store.claim_due("b", window(T0), T0.plus_seconds(60), 100).await.expect("claim");
    assert!(again.is_empty(), "leased connections are not claimed again: {again:?}");
}

/// A connection renewed by the client credentials grant has no refresh token, yet is due before
/// its token expires as one with a refresh token is; its grant reads back as stored.
pub async fn a_client_credentials_connection_is_due_before_its_token_expires<S: ContractStore>(store: S) {
    let machine = |n: u8, expires_in: i64| {
        let mut connection = fixtures::connected_oauth_connection(n);
        connection.grant = domain::OAuthGrant::ClientCredentials;
        connection.expires_at = Some(T0.plus_seconds(expires_in));
        connection
    };
    let (soon, later) = (machine(1, 60), machine(2, 3_600));
    insert(&store, &soon, false).await;
    insert(&store, &later, false).await;
    let user_without_refresh = oauth(&store, 3, Some(T0.plus_seconds(60)), T0, false).await;
    let read = store.get(&soon.owner, &soon.ref_id).await.expect("get").expect("stored");
    assert_eq!(read.grant, domain::OAuthGrant::ClientCredentials);
    let claimed = store.claim_due("a", window(T0), T0.plus_seconds(60), 100).await.expect("claim");
    assert_eq!(ids(&claimed), [soon.ref_id].into(), "not {} (no way to renew it yet)", user_without_refresh);
}

/// The limit bounds a claim, soonest expiry first.
pub async fn a_claim_takes_at_most_its_limit_soonest_expiry_first<S: ContractStore>(store: S) {
    for n in 1..=5u8 {
        oauth(&store, n, Some(T0.plus_seconds(200 - i64::from(n) * 10)), T0, true).await;
    }
    let first = store.claim_due("a", window(T0), T0.plus_seconds(60), 2).await.expect("claim");
    assert_eq!(ids(&first), [fixtures::ref_id(5), fixtures::ref_id(4)].into());
    let rest = store.claim_due("a", window(T0), T0.plus_seconds(60), 10).await.expect("claim");
    assert_eq!(ids(&rest), [1, 2, 3].map(fixtures::ref_id).into());
}

/// Twelve owners claiming at once split the due connections between them: every one is claimed,
/// none twice.
pub async fn concurrent_claims_are_disjoint_and_miss_nothing<S: ContractStore>(store: S) {
    const CONNECTIONS: u8 = 90;
    for n in 1..=CONNECTIONS {
        oauth(&store, n, Some(T0.plus_seconds(i64::from(n))), T0, true).await;
    }
    let claims = race(&store, 12, |store, i| async move {
        let owner = format!("owner-{i}");
        let mut mine = Vec::new();
        // A store that hands out leased connections again would never run dry: stop once this
        // owner alone has more than there are.
        while mine.len() <= usize::from(CONNECTIONS) {
            let batch = store.claim_due(&owner, window(T0), T0.plus_seconds(60), 4).await.expect("claim");
            if batch.is_empty() {
                break;
            }
            mine.extend(batch.into_iter().map(|l| l.ref_id));
        }
        mine
    })
    .await;
    let all: Vec<RefId> = claims.into_iter().flatten().collect();
    let distinct: BTreeSet<RefId> = all.iter().cloned().collect();
    assert_eq!(all.len(), distinct.len(), "no connection was claimed twice");
    assert_eq!(distinct.len(), usize::from(CONNECTIONS), "every due connection was claimed");
}

/// A lease lapses at its end: a crashed owner's connections are claimable again from then on.
pub async fn an_expired_lease_is_claimable_again<S: ContractStore>(store: S) {
    let due = oauth(&store, 1, Some(T0.plus_seconds(60)), T0, true).await;
    store.claim_due("crashed", window(T0), T0.plus_seconds(30), 10).await.expect("claim");

    let early = store.claim_due("b", window(T0.plus_seconds(29)), T0.plus_seconds(90), 10).await.expect("claim");
    assert!(early.is_empty(), "the lease still holds one second before its end");
    let later = store.claim_due("b", window(T0.plus_seconds(30)), T0.plus_seconds(90), 10).await.expect("claim");
    assert_eq!(ids(&later), [due.clone()].into());
    assert!(!store.release(&due, "crashed", RetryState::CLEAR).await.expect("release"), "not the holder anymore");
    assert!(store.release(&due, "b", RetryState::CLEAR).await.expect("release"));
}

/// A release with a backoff keeps the connection out of claims until its next attempt, and the
/// failure count comes back with the next claim; a clear release forgets both.
pub async fn a_released_lease_with_a_backoff_is_not_claimed_before_its_time<S: ContractStore>(store: S) {
    let due = oauth(&store, 1, Some(T0.plus_seconds(60)), T0, true).await;
    store.claim_due("a", window(T0), T0.plus_seconds(60), 10).await.expect("claim");
    let backoff = RetryState { failures: 3, next_attempt_at: Some(T0.plus_seconds(100)) };
    assert!(store.release(&due, "a", backoff).await.expect("release"));

    let early = store.claim_due("b", window(T0.plus_seconds(99)), T0.plus_seconds(200), 10).await.expect("claim");
    assert!(early.is_empty(), "not before the next attempt");
    let on_time = store.claim_due("b", window(T0.plus_seconds(100)), T0.plus_seconds(200), 10).await.expect("claim");
    assert_eq!(on_time.len(), 1);
    assert_eq!((&on_time[0].ref_id, on_time[0].failures), (&due, 3));

    assert!(store.release(&due, "b", RetryState::CLEAR).await.expect("release"));
    let cleared = store.claim_due("c", window(T0.plus_seconds(100)), T0.plus_seconds(200), 10).await.expect("claim");
    assert_eq!(cleared.first().map(|l| l.failures), Some(0));
}

/// `try_lease` goes to a free lease or its holder, ignores the backoff, and is refused to
/// anyone else while the lease holds; only the holder releases.
pub async fn a_lease_belongs_to_one_owner_until_released_or_over<S: ContractStore>(store: S) {
    let due = oauth(&store, 1, Some(T0.plus_seconds(60)), T0, true).await;
    let backoff = RetryState { failures: 2, next_attempt_at: Some(T0.plus_seconds(1_000)) };
    store.try_lease(&due, "a", T0, T0.plus_seconds(30)).await.expect("lease").expect("free");
    assert!(store.release(&due, "a", backoff).await.expect("release"));

    let lease = store.try_lease(&due, "a", T0, T0.plus_seconds(30)).await.expect("lease");
    assert_eq!(lease.map(|l| l.failures), Some(2), "a backoff does not stop an explicit lease");
    assert_eq!(store.try_lease(&due, "b", T0.plus_seconds(10), T0.plus_seconds(40)).await.expect("lease"), None);
    assert!(store.try_lease(&due, "a", T0.plus_seconds(10), T0.plus_seconds(40)).await.expect("lease").is_some());
    assert_eq!(store.try_lease(&due, "b", T0.plus_seconds(39), T0.plus_seconds(60)).await.expect("lease"), None);
    assert!(!store.release(&due, "b", RetryState::CLEAR).await.expect("release"));
    assert!(store.try_lease(&due, "b", T0.plus_seconds(40), T0.plus_seconds(60)).await.expect("lease").is_some());
    assert!(store.release(&due, "b", RetryState::CLEAR).await.expect("release"));
    assert!(store.try_lease(&due, "c", T0, T0.plus_seconds(60)).await.expect("lease").is_some());

    let unknown = fixtures::ref_id(99);
    assert_eq!(store.try_lease(&unknown, "a", T0, T0.plus_seconds(30)).await.expect("lease"), None);
    assert!(!store.release(&unknown, "a", RetryState::CLEAR).await.expect("release"));
}

/// Of twenty owners asking for one free lease at once, exactly one gets it.
pub async fn of_twenty_concurrent_leases_of_one_connection_exactly_one_wins<S: ContractStore>(store: S) {
    let due = oauth(&store, 1, Some(T0.plus_seconds(60)), T0, true).await;
    let results = race(&store, 20, |store, i| {
        let due = due.clone();
        async move { store.try_lease(&due, &format!("owner-{i}"), T0, T0.plus_seconds(30)).await.expect("lease") }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_some()).count(), 1);
}

/// Statistics count every due connection, leased and backed-off ones too, with the earliest
/// expiry among them.
pub async fn due_stats_count_leased_and_backed_off_connections_too<S: ContractStore>(store: S) {
    assert_eq!(store.due_stats(window(T0)).await.expect("stats"), DueStats::default());
    let leased = oauth(&store, 1, Some(T0.plus_seconds(120)), T0, true).await;
    let backed_off = oauth(&store, 2, Some(T0.plus_seconds(-30)), T0, true).await;
    oauth(&store, 3, None, T0.plus_seconds(-DAY - 1), true).await;
    oauth(&store, 4, Some(T0.plus_seconds(3_600)), T0, true).await;
    store.try_lease(&leased, "a", T0, T0.plus_seconds(60)).await.expect("lease").expect("free");
    store.try_lease(&backed_off, "a", T0, T0.plus_seconds(60)).await.expect("lease").expect("free");
    let backoff = RetryState { failures: 1, next_attempt_at: Some(T0.plus_seconds(600)) };
    store.release(&backed_off, "a", backoff).await.expect("release");

    let stats = store.due_stats(window(T0)).await.expect("stats");
    assert_eq!(stats, DueStats { due: 3, earliest_expiry: Some(T0.plus_seconds(-30)) });
}
