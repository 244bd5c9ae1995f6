//! Connect sessions: kept by the hash of their token, read back whole, swept once expired.

use ports::StoreError;

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// A session reads back with every field, the one allowing any server too.
pub async fn a_session_reads_back_with_every_field<S: ContractStore>(store: S) {
    let owner = fixtures::owner("acme", "user@example.com");
    let full = fixtures::full_session(1, &owner, T0.plus_seconds(600));
    let any_server = domain::ConnectSession {
        allowed_servers: None,
        return_to: None,
        ..fixtures::full_session(2, &fixtures::seed_owner(), T0.plus_seconds(60))
    };
    store.add_session(&full).await.expect("add");
    store.add_session(&any_server).await.expect("add");

    assert_eq!(store.session(&full.token_hash).await.expect("read"), Some(full));
    assert_eq!(store.session(&any_server.token_hash).await.expect("read"), Some(any_server));
}

/// A hash no session was stored under finds nothing.
pub async fn an_unknown_session_token_hash_reads_as_nothing<S: ContractStore>(store: S) {
    store.add_session(&fixtures::full_session(1, &fixtures::seed_owner(), T0)).await.expect("add");

    assert_eq!(store.session(&fixtures::session_token_hash(2)).await.expect("read"), None);
}

/// A second session under the same hash is a conflict and keeps the first.
pub async fn a_duplicate_session_token_hash_is_a_conflict_and_keeps_the_first<S: ContractStore>(store: S) {
    let first = fixtures::full_session(1, &fixtures::seed_owner(), T0);
    let second = domain::ConnectSession { owner: fixtures::owner("other", "mallory"), ..first.clone() };
    store.add_session(&first).await.expect("add");

    assert!(matches!(store.add_session(&second).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.session(&first.token_hash).await.expect("read"), Some(first));
}

/// A user's sessions go with the user, and only theirs: the same user id in another tenant, and
/// another user of the tenant, keep theirs.
pub async fn deleting_a_users_sessions_leaves_every_other_owners<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let theirs = fixtures::full_session(1, &alice, T0.plus_seconds(600));
    let other_tenant = fixtures::full_session(2, &fixtures::owner("beta", "alice"), T0.plus_seconds(600));
    let other_user = fixtures::full_session(3, &fixtures::owner("acme", "bob"), T0.plus_seconds(600));
    for session in [&theirs, &other_tenant, &other_user] {
        store.add_session(session).await.expect("add");
    }
    assert_eq!(store.delete_sessions_of(&alice).await.expect("delete"), 1);
    assert_eq!(store.session(&theirs.token_hash).await.expect("read"), None);
    assert_eq!(store.session(&other_tenant.token_hash).await.expect("read"), Some(other_tenant));
    assert_eq!(store.session(&other_user.token_hash).await.expect("read"), Some(other_user));
    assert_eq!(store.delete_sessions_of(&alice).await.expect("again"), 0);
}

/// The sweep deletes exactly the sessions that expired before its instant: one expiring at that
/// instant stays (it is refused from then on, but the sweep never takes more than it must).
pub async fn sweeping_sessions_deletes_only_expired_ones<S: ContractStore>(store: S) {
    let expired = fixtures::full_session(1, &fixtures::seed_owner(), T0.plus_seconds(-1));
    let at_the_instant = fixtures::full_session(2, &fixtures::seed_owner(), T0);
    let open = fixtures::full_session(3, &fixtures::owner("acme", "u1"), T0.plus_seconds(1));
    for session in [&expired, &at_the_instant, &open] {
        store.add_session(session).await.expect("add");
    }

    assert_eq!(store.delete_expired_sessions(T0).await.expect("sweep"), 1);
    assert_eq!(store.session(&expired.token_hash).await.expect("read"), None);
    assert_eq!(store.session(&at_the_instant.token_hash).await.expect("read"), Some(at_the_instant));
    assert_eq!(store.session(&open.token_hash).await.expect("read"), Some(open));
    assert_eq!(store.delete_expired_sessions(T0).await.expect("sweep again"), 0);
}
