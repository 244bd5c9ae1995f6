//! Unit tests of reconnecting in place against mocked ports.

use std::sync::{Arc, Mutex};

use domain::{ConnectionStatus, ServerName};
use ports::AuditKind;
use ports::mocks::MockAuditLog;

use super::tests::{connection, ref_id};
use crate::test_support::Mocks;
use crate::{ConnectOutcome, Error};

fn acme() -> ServerName {
    ServerName::parse("acme").unwrap()
}

fn stored(mocks: &mut Mocks, status: ConnectionStatus) {
    mocks.connections.expect_get().returning(move |r| Ok(Some(connection(r, status, -60))));
}

fn recording_audit(kinds: Arc<Mutex<Vec<AuditKind>>>) -> MockAuditLog {
    let mut audit = MockAuditLog::new();
    audit.expect_record().returning(move |event| {
        kinds.lock().unwrap().push(event.kind);
        Ok(())
    });
    audit
}

#[tokio::test]
async fn an_expired_connection_is_reauthorized_in_place_with_a_new_flow() {
    for was in [ConnectionStatus::Expired, ConnectionStatus::Failed] {
        let mut mocks = Mocks::new();
        stored(&mut mocks, was);
        mocks.flows.expect_put_flow().times(1).returning(|flow| {
            assert_eq!(flow.ref_id, ref_id(1), "the flow completes the same connection");
            Ok(())
        });
        mocks.connections.expect_update().times(1).returning(move |c, expected, _| {
            assert_eq!((c.status(), expected), (ConnectionStatus::PendingOAuth, was));
            assert_eq!(c.ref_id, ref_id(1));
            Ok(true)
        });
        let kinds = Arc::new(Mutex::new(Vec::new()));
        mocks.audit = recording_audit(kinds.clone());
        let outcome = mocks.directory().reconnect(&acme(), &ref_id(1), None).await.unwrap();
        let ConnectOutcome::PendingOAuth { ref_id: kept, auth_url } = outcome else { panic!("an OAuth flow") };
        assert_eq!(kept, ref_id(1));
        assert!(auth_url.starts_with("https://as.example/authorize?"), "{auth_url}");
        assert_eq!(*kinds.lock().unwrap(), [AuditKind::Reauthorized]);
    }
}

#[tokio::test]
async fn only_expired_or_failed_connections_of_the_named_server_are_reconnected() {
    for status in [ConnectionStatus::Connected, ConnectionStatus::PendingOAuth] {
        let mut mocks = Mocks::new();
        stored(&mut mocks, status);
        mocks.flows.expect_put_flow().never();
        mocks.connections.expect_update().never();
        let err = mocks.directory().reconnect(&acme(), &ref_id(1), None).await.unwrap_err();
        assert!(matches!(err, Error::Validation { field: "server_config.ref_id", .. }), "{status}: {err:?}");
    }
    let mut mocks = Mocks::new();
    stored(&mut mocks, ConnectionStatus::Expired);
    mocks.flows.expect_put_flow().never();
    let other = ServerName::parse("exa").unwrap();
    let err = mocks.directory().reconnect(&other, &ref_id(1), None).await.unwrap_err();
    assert!(matches!(err, Error::Validation { field: "server_config.ref_id", .. }), "{err:?}");
}

#[tokio::test]
async fn an_unknown_connection_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_get().returning(|_| Ok(None));
    let err = mocks.directory().reconnect(&acme(), &ref_id(1), None).await.unwrap_err();
    assert!(matches!(err, Error::ConnectionNotFound), "{err:?}");
}

#[tokio::test]
async fn a_reconnect_that_loses_a_race_withdraws_its_flow() {
    let mut mocks = Mocks::new();
    stored(&mut mocks, ConnectionStatus::Expired);
    let put = Arc::new(Mutex::new(None));
    let recorded = put.clone();
    mocks.flows.expect_put_flow().times(1).returning(move |flow| {
        *recorded.lock().unwrap() = Some(flow.state_hash.clone());
        Ok(())
    });
    mocks.connections.expect_update().times(1).returning(|_, _, _| Ok(false));
    let taken = put.clone();
    mocks.flows.expect_take_flow().times(1).returning(move |hash| {
        assert_eq!(taken.lock().unwrap().as_deref(), Some(hash), "the flow this call stored");
        Ok(None)
    });
    let err = mocks.directory().reconnect(&acme(), &ref_id(1), None).await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
}

#[tokio::test]
async fn a_return_to_outside_the_allowlist_is_refused_before_anything_is_read() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_get().never();
    let err = mocks.directory().reconnect(&acme(), &ref_id(1), Some("https://evil.example/".into())).await;
    assert!(matches!(err, Err(Error::Validation { field: "return_to", .. })), "{err:?}");
}
