//! The flow sweeper: expired flows fail their connections, and so do connections left
//! `pending_oauth` by a callback that took its flow and never finished (the process died).

use domain::{AuthMethod, Connection, ConnectionStatus, NewConnection, RefId, Scopes, ServerName, Transport};
use ports::SecretsUpdate;

use crate::test_support::{Mocks, NOW};

/// The TTL the mocked directory runs with (`flow_ttl_seconds`).
const TTL: i64 = 600;

fn connection(id: u8, status: ConnectionStatus, waiting_for: i64) -> Connection {
    let new = NewConnection {
        ref_id: RefId::from_random([id; 16]),
        server_name: ServerName::parse("acme").unwrap(),
        label: None,
        display_name: None,
        url: Some("https://acme.example/mcp".into()),
        transport: Transport::StreamableHttp,
        auth_method: AuthMethod::OAuth,
    };
    let since = NOW.plus_seconds(-waiting_for);
    Connection::restore(new, status, None, Scopes::empty(), None, since, since)
}

#[tokio::test]
async fn a_connection_left_pending_by_an_unfinished_callback_fails_after_twice_the_flow_ttl() {
    let orphan = connection(1, ConnectionStatus::PendingOAuth, 2 * TTL + 1);
    let still_possible = connection(2, ConnectionStatus::PendingOAuth, 2 * TTL - 1);
    let connected_long_ago = connection(3, ConnectionStatus::Connected, 10 * TTL);
    let orphan_id = orphan.ref_id.clone();
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_expired_flows().returning(|_, _| Ok(Vec::new()));
    let listed = vec![orphan, still_possible, connected_long_ago];
    mocks.connections.expect_list().returning(move || Ok(listed.clone()));
    mocks
        .connections
        .expect_update()
        .withf(move |c, expected, secrets, event| {
            c.ref_id == orphan_id
                && c.status() == ConnectionStatus::Failed
                && *expected == ConnectionStatus::PendingOAuth
                && matches!(secrets, SecretsUpdate::ClearTokens)
                && (event.ref_id == orphan_id && event.kind == ports::AuditKind::Failed)
        })
        .times(1)
        .returning(|_, _, _, _| Ok(true));

    let failed = mocks.directory().sweep_expired_flows().await.unwrap();

    assert_eq!(failed, 1, "only the orphan fails; the mock refuses any other update");
}

#[tokio::test]
async fn a_sweep_with_nothing_pending_changes_nothing() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_expired_flows().returning(|_, _| Ok(Vec::new()));
    let listed =
        vec![connection(3, ConnectionStatus::Connected, 10 * TTL), connection(4, ConnectionStatus::Failed, 10 * TTL)];
    mocks.connections.expect_list().returning(move || Ok(listed.clone()));
    mocks.connections.expect_update().never();

    assert_eq!(mocks.directory().sweep_expired_flows().await.unwrap(), 0);
}
