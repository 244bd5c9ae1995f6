//! The flow sweeper: expired flows fail their connections, and so do connections left
//! `pending_oauth` by a callback that took its flow and never finished (the process died).

use domain::{Connection, ConnectionStatus, RefId, Scopes};
use ports::SecretsUpdate;

use crate::test_support::{Mocks, NOW, acme_oauth};

/// The TTL the mocked directory runs with (`flow_ttl_seconds`).
const TTL: i64 = 600;

fn connection(id: u8, status: ConnectionStatus, waiting_for: i64) -> Connection {
    let new = acme_oauth(&RefId::from_random([id; 16]));
    let since = NOW.plus_seconds(-waiting_for);
    Connection::restore(new, status, None, Scopes::empty(), None, since, since)
}

#[tokio::test]
async fn connections_of_every_owner_left_pending_by_an_unfinished_callback_fail_after_twice_the_flow_ttl() {
    let orphan = connection(1, ConnectionStatus::PendingOAuth, 2 * TTL + 1);
    let mut elsewhere = connection(2, ConnectionStatus::PendingOAuth, 3 * TTL);
    elsewhere.owner =
        domain::Owner::new(domain::TenantId::parse("acme").unwrap(), domain::UserId::parse("bob").unwrap());
    let expected_owners =
        [(orphan.ref_id.clone(), orphan.owner.clone()), (elsewhere.ref_id.clone(), elsewhere.owner.clone())];
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_expired_flows().returning(|_, _| Ok(Vec::new()));
    let listed = vec![orphan, elsewhere];
    mocks
        .connections
        .expect_pending_before()
        .withf(|cutoff| *cutoff == NOW.plus_seconds(-2 * TTL))
        .returning(move |_| Ok(listed.clone()));
    mocks
        .connections
        .expect_update()
        .withf(move |c, expected, secrets, event| {
            expected_owners.contains(&(c.ref_id.clone(), c.owner.clone()))
                && c.status() == ConnectionStatus::Failed
                && *expected == ConnectionStatus::PendingOAuth
                && matches!(secrets, SecretsUpdate::ClearTokens)
                && (event.ref_id == c.ref_id && event.owner == c.owner && event.kind == ports::AuditKind::Failed)
        })
        .times(2)
        .returning(|_, _, _, _| Ok(true));

    let failed = mocks.directory().sweep_expired_flows().await.unwrap();

    assert_eq!(failed, 2, "both orphans fail, each recorded for its own owner");
}

#[tokio::test]
async fn a_sweep_with_nothing_pending_changes_nothing() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_expired_flows().returning(|_, _| Ok(Vec::new()));
    mocks.connections.expect_pending_before().returning(|_| Ok(Vec::new()));
    mocks.connections.expect_update().never();

    assert_eq!(mocks.directory().sweep_expired_flows().await.unwrap(), 0);
}

#[tokio::test]
async fn the_sweep_deletes_the_connect_sessions_expired_by_now() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_expired_flows().returning(|_, _| Ok(Vec::new()));
    mocks.connections.expect_pending_before().returning(|_| Ok(Vec::new()));
    let mut sessions = ports::mocks::MockConnectSessionStore::new();
    sessions.expect_delete_expired_sessions().withf(|now| *now == NOW).times(1).returning(|_| Ok(3));
    mocks.sessions = sessions;

    assert_eq!(mocks.directory().sweep_expired_flows().await.unwrap(), 0);
}
