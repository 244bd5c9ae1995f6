//! Pending OAuth flows: stored with their connection or later, each taken exactly once.

use std::collections::BTreeSet;

use ports::{AuditKind, StoredSecrets};

use super::is_conflict;
use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

/// A flow inserted with its connection comes back whole, once.
pub async fn a_flow_stored_with_its_connection_is_taken_once_with_every_field<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    store.insert(&connection, &StoredSecrets::default(), Some(flow.clone()), &[]).await.expect("insert");

    assert_eq!(store.take_flow(&flow.state_hash).await.expect("take"), Some(flow.clone()));
    assert_eq!(store.take_flow(&flow.state_hash).await.expect("second take"), None, "a state is used once");
    assert_eq!(
        store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"),
        Some(connection),
        "taking a flow keeps its connection"
    );
}

/// A flow stored later (a reconnection in place) comes back whole, once, optional fields empty.
pub async fn a_flow_put_later_is_taken_once_with_every_field<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    let flow = fixtures::bare_flow(&fixtures::state_hash(7), &connection.ref_id, T0.plus_seconds(600));
    store.put_flow(&flow).await.expect("put");

    assert_eq!(store.take_flow(&flow.state_hash).await.expect("take"), Some(flow.clone()));
    assert_eq!(store.take_flow(&flow.state_hash).await.expect("second take"), None);
}

/// The callback's take hands back the flow whole and its connection as stored, once; a flow
/// whose connection is gone comes back without one.
pub async fn a_flow_is_taken_with_its_connection_once<S: ContractStore>(store: S) {
    let connection = fixtures::full_connection(1);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    store.insert(&connection, &fixtures::all_secrets("one"), Some(flow.clone()), &[]).await.expect("insert");
    let other = fixtures::pending_connection(2, T0);
    let other_flow = fixtures::bare_flow(&fixtures::state_hash(2), &other.ref_id, T0.plus_seconds(600));
    store.insert(&other, &StoredSecrets::default(), Some(other_flow.clone()), &[]).await.expect("insert other");

    let browser = flow.browser_hash.as_deref();
    let taken = store.take_flow_with_connection(&flow.state_hash, None, browser).await.expect("take");
    assert_eq!(taken, Some((flow.clone(), Some(connection.clone()))));
    let again = store.take_flow_with_connection(&flow.state_hash, None, browser).await.expect("second take");
    assert_eq!(again, None);
    assert_eq!(store.take_flow(&other_flow.state_hash).await.expect("take other"), Some(other_flow.clone()));
    assert_eq!(
        store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"),
        Some(connection),
        "the connection stays"
    );
}

/// A flow bound to a browser is taken only with that browser's hash, at the browser's callback
/// and at a keyed one alike: without it, or with another, it stays for the right browser. A flow
/// bound to no browser is taken whatever the callback's browser.
pub async fn a_flow_bound_to_a_browser_is_taken_only_with_its_hash<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    let bound = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    store.insert(&connection, &StoredSecrets::default(), Some(bound.clone()), &[]).await.expect("insert");
    let owner = fixtures::seed_owner();
    let other_browser = fixtures::browser_hash(&fixtures::state_hash(2));
    for owner in [None, Some(&owner)] {
        for browser in [None, Some(other_browser.as_str())] {
            let taken = store.take_flow_with_connection(&bound.state_hash, owner, browser).await.expect("take");
            assert_eq!(taken, None, "{owner:?} {browser:?}");
        }
    }
    let taken = store.take_flow_with_connection(&bound.state_hash, Some(&owner), bound.browser_hash.as_deref());
    assert_eq!(taken.await.expect("take"), Some((bound, Some(connection.clone()))), "its own browser takes it");

    let unbound = fixtures::bare_flow(&fixtures::state_hash(3), &connection.ref_id, T0.plus_seconds(600));
    store.put_flow(&unbound).await.expect("put");
    let taken = store.take_flow_with_connection(&unbound.state_hash, None, Some(&other_browser)).await.expect("take");
    assert_eq!(taken, Some((unbound, Some(connection))), "any browser takes an unbound flow");
}

/// Twenty callbacks with the same state at once, through the callback's take: exactly one gets
/// the flow and its connection.
pub async fn of_twenty_concurrent_callback_takes_of_one_state_exactly_one_gets_the_flow<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    store.insert(&connection, &StoredSecrets::default(), Some(flow.clone()), &[]).await.expect("insert");

    let outcomes = race(&store, 20, |store, _| {
        let (state_hash, browser) = (flow.state_hash.clone(), flow.browser_hash.clone());
        async move { store.take_flow_with_connection(&state_hash, None, browser.as_deref()).await.expect("take") }
    })
    .await;

    let winners: Vec<_> = outcomes.into_iter().flatten().collect();
    assert_eq!(winners, vec![(flow, Some(connection))], "exactly one caller gets the flow");
}

/// A state nobody stored takes nothing.
pub async fn an_unknown_state_takes_nothing<S: ContractStore>(store: S) {
    assert_eq!(store.take_flow(&fixtures::state_hash(404)).await.expect("take"), None);
    assert_eq!(store.take_flow_with_connection(&fixtures::state_hash(404), None, None).await.expect("take"), None);
    assert_eq!(store.take_expired_flows(T0, 10).await.expect("sweep"), vec![]);
}

/// Twenty callbacks with the same state at once: exactly one gets the flow (a replayed state is
/// refused even when the replay races the original).
pub async fn of_twenty_concurrent_takes_of_one_state_exactly_one_gets_the_flow<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    store.insert(&connection, &StoredSecrets::default(), Some(flow.clone()), &[]).await.expect("insert");

    let outcomes = race(&store, 20, |store, _| {
        let state_hash = flow.state_hash.clone();
        async move { store.take_flow(&state_hash).await.expect("take") }
    })
    .await;

    let winners: Vec<_> = outcomes.into_iter().flatten().collect();
    assert_eq!(winners, vec![flow], "exactly one caller gets the flow");
}

/// The sweep takes flows with `expires_at < now` only, at most `limit` per call, each once.
pub async fn taking_expired_flows_takes_only_expired_ones_up_to_the_limit<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    let at = |n: u32, expires_at| fixtures::bare_flow(&fixtures::state_hash(n), &connection.ref_id, expires_at);
    let expired = [at(1, T0.plus_seconds(-30)), at(2, T0.plus_seconds(-20)), at(3, T0.plus_seconds(-1))];
    let expiring_now = at(4, T0);
    let live = at(5, T0.plus_seconds(60));
    for flow in expired.iter().chain([&expiring_now, &live]) {
        store.put_flow(flow).await.expect("put");
    }

    let first = store.take_expired_flows(T0, 2).await.expect("first sweep");
    assert_eq!(first.len(), 2, "the limit bounds a sweep");
    let second = store.take_expired_flows(T0, 10).await.expect("second sweep");
    assert_eq!(second.len(), 1, "the rest of the expired flows");
    assert_eq!(store.take_expired_flows(T0, 10).await.expect("third sweep"), vec![]);

    let mut taken: Vec<_> = first.into_iter().chain(second).collect();
    taken.sort_by(|a, b| a.state_hash.cmp(&b.state_hash));
    let mut want = expired.to_vec();
    want.sort_by(|a, b| a.state_hash.cmp(&b.state_hash));
    assert_eq!(taken, want, "exactly the expired flows, each once, whole");

    assert_eq!(store.take_flow(&expiring_now.state_hash).await.expect("take"), Some(expiring_now));
    assert_eq!(store.take_flow(&live.state_hash).await.expect("take"), Some(live));
}

/// Four sweepers at once over ten expired flows: every flow is taken by exactly one of them.
pub async fn concurrent_sweeps_of_expired_flows_take_each_flow_once<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    let states: BTreeSet<String> = (1..=10).map(fixtures::state_hash).collect();
    for state in &states {
        store.put_flow(&fixtures::bare_flow(state, &connection.ref_id, T0.plus_seconds(-1))).await.expect("put");
    }

    let sweeps =
        race(&store, 4, |store, _| async move { store.take_expired_flows(T0, 10).await.expect("sweep") }).await;

    let taken: Vec<String> = sweeps.into_iter().flatten().map(|flow| flow.state_hash).collect();
    assert_eq!(taken.len(), states.len(), "no flow is taken twice");
    assert_eq!(taken.into_iter().collect::<BTreeSet<_>>(), states);
}

/// A second flow with a stored state is refused; the first stays takeable as it was.
pub async fn a_duplicate_flow_state_is_a_conflict_and_keeps_the_first<S: ContractStore>(store: S) {
    let connection = fixtures::pending_connection(1, T0);
    let first = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    store.insert(&connection, &StoredSecrets::default(), Some(first.clone()), &[]).await.expect("insert");

    let second = fixtures::bare_flow(&first.state_hash, &connection.ref_id, T0.plus_seconds(900));
    let result = store.put_flow(&second).await;
    assert!(is_conflict(&result), "expected Conflict, got {result:?}");
    assert_eq!(store.take_flow(&first.state_hash).await.expect("take"), Some(first));
}

/// Insert is all or nothing: when its flow is refused, the connection and its secrets are not
/// stored either.
pub async fn an_insert_whose_flow_is_refused_stores_no_connection<S: ContractStore>(store: S) {
    let first = fixtures::pending_connection(1, T0);
    let first_flow = fixtures::full_flow(&fixtures::state_hash(1), &first.ref_id, T0.plus_seconds(600));
    store.insert(&first, &StoredSecrets::default(), Some(first_flow.clone()), &[]).await.expect("insert first");

    let second = fixtures::pending_connection(2, T0.plus_seconds(1));
    let clashing = fixtures::bare_flow(&first_flow.state_hash, &second.ref_id, T0.plus_seconds(600));
    let created = fixtures::event(&second.ref_id, AuditKind::Created, None, T0);
    let result = store.insert(&second, &fixtures::all_secrets("second"), Some(clashing), &[created]).await;

    assert!(is_conflict(&result), "expected Conflict, got {result:?}");
    assert_eq!(
        store.events(&fixtures::seed_owner(), &second.ref_id).await.expect("events"),
        vec![],
        "no record of what was not stored"
    );
    assert_eq!(store.get(&fixtures::seed_owner(), &second.ref_id).await.expect("get"), None);
    assert_eq!(store.secrets(&fixtures::seed_owner(), &second.ref_id).await.expect("secrets"), None);
    assert_eq!(store.list(&fixtures::seed_owner()).await.expect("list"), vec![first]);
    assert_eq!(store.take_flow(&first_flow.state_hash).await.expect("take"), Some(first_flow));
}
