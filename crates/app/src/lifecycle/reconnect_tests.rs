//! Unit tests of reconnecting in place against mocked ports.

use std::sync::{Arc, Mutex};

use domain::{ConnectionStatus, ServerName};
use ports::AuditKind;
use ports::mocks::MockAuditLog;

use crate::test_support::{Mocks, NOW, connection, owner, ref_id};
use crate::{ConnectOutcome, Error};

fn acme() -> ServerName {
    ServerName::parse("acme").unwrap()
}

fn stored(mocks: &mut Mocks, status: ConnectionStatus) {
    mocks.connections.expect_get().returning(move |_, r| Ok(Some(connection(r, status, -60))));
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
        mocks.connections.expect_update().times(1).returning(move |c, expected, _, event| {
            assert_eq!((c.status(), expected), (ConnectionStatus::PendingOAuth, was));
            assert_eq!(c.ref_id, ref_id(1));
            assert_eq!(event.kind, AuditKind::Reauthorized, "recorded with the change");
            assert_eq!(event.detail, Some(format!("was {was}")));
            Ok(true)
        });
        mocks.audit = MockAuditLog::new(); // no standalone record: any would panic
        let outcome = mocks.directory().reconnect(&owner(), &acme(), &ref_id(1), None).await.unwrap();
        let ConnectOutcome::PendingOAuth { ref_id: kept, auth_url } = outcome else { panic!("an OAuth flow") };
        assert_eq!(kept, ref_id(1));
        assert!(auth_url.starts_with("https://as.example/authorize?"), "{auth_url}");
    }
}

#[tokio::test]
async fn only_expired_or_failed_connections_of_the_named_server_are_reconnected() {
    for status in [ConnectionStatus::Connected, ConnectionStatus::PendingOAuth] {
        let mut mocks = Mocks::new();
        stored(&mut mocks, status);
        mocks.flows.expect_put_flow().never();
        mocks.connections.expect_update().never();
        let err = mocks.directory().reconnect(&owner(), &acme(), &ref_id(1), None).await.unwrap_err();
        match status {
            // An authorization is under way: a conflict, not a wrong request.
            ConnectionStatus::PendingOAuth => {
                assert!(matches!(err, Error::ReconnectInProgress(ConnectionStatus::PendingOAuth)), "{err:?}");
            }
            _ => assert!(matches!(err, Error::Validation { field: "server_config.ref_id", .. }), "{status}: {err:?}"),
        }
    }
    let mut mocks = Mocks::new();
    stored(&mut mocks, ConnectionStatus::Expired);
    mocks.flows.expect_put_flow().never();
    let other = ServerName::parse("exa").unwrap();
    let err = mocks.directory().reconnect(&owner(), &other, &ref_id(1), None).await.unwrap_err();
    assert!(matches!(err, Error::Validation { field: "server_config.ref_id", .. }), "{err:?}");
}

#[tokio::test]
async fn an_unknown_connection_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_get().returning(|_, _| Ok(None));
    let err = mocks.directory().reconnect(&owner(), &acme(), &ref_id(1), None).await.unwrap_err();
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
    mocks.connections.expect_update().times(1).returning(|_, _, _, _| Ok(false));
    let taken = put.clone();
    mocks.flows.expect_take_flow().times(1).returning(move |hash| {
        assert_eq!(taken.lock().unwrap().as_deref(), Some(hash), "the flow this call stored");
        Ok(None)
    });
    let err = mocks.directory().reconnect(&owner(), &acme(), &ref_id(1), None).await.unwrap_err();
    assert!(matches!(err, Error::ReconnectInProgress(_)), "{err:?}");
}

#[tokio::test]
async fn a_return_to_outside_the_allowlist_is_refused_before_anything_is_read() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_get().never();
    let err = mocks.directory().reconnect(&owner(), &acme(), &ref_id(1), Some("https://evil.example/".into())).await;
    assert!(matches!(err, Err(Error::Validation { field: "return_to", .. })), "{err:?}");
}

const ISSUER: &str = "https://as2.example";

/// An expired connection to the custom server `my-docs`, whose resource names `ISSUER`, where
/// this service is registered as `client-9`.
fn rediscoverable(mocks: &mut Mocks) {
    use domain::{AuthMethod, Connection, NewConnection, Scopes, Transport};
    use ports::{ProtectedResource, ResourceAccess};

    use crate::test_support::{public_registration, server_metadata};

    let new = NewConnection {
        ref_id: ref_id(1),
        owner: owner(),
        server_name: ServerName::parse("my-docs").unwrap(),
        label: None,
        display_name: Some("Docs".into()),
        url: Some("https://docs.example/mcp".into()),
        transport: Transport::StreamableHttp,
        auth_method: AuthMethod::OAuth,
        exportable: true,
    };
    let expired = Connection::restore(new, ConnectionStatus::Expired, None, Scopes::empty(), None, NOW, NOW);
    mocks.connections.expect_get().returning(move |_, _| Ok(Some(expired.clone())));
    mocks.discovery.expect_probe().withf(|url, _| url == "https://docs.example/mcp").returning(|_, _| {
        Ok(ResourceAccess::Protected(ProtectedResource {
            resource: "https://docs.example/mcp".into(),
            authorization_servers: vec![ISSUER.into()],
            scopes_supported: None,
            challenge_scope: Some(Scopes::parse_delimited("read").unwrap()),
        }))
    });
    mocks.discovery.expect_authorization_server().returning(|_| Ok(server_metadata(ISSUER, true)));
    mocks
        .registrations
        .expect_registration()
        .returning(|issuer, redirect_uri| Ok(Some(public_registration(issuer, "client-9", redirect_uri.to_owned()))));
    mocks.registrations.expect_client_registration().returning(|issuer, client_id| {
        let redirect_uri = format!("http://127.0.0.1:8000/assets/oauth/callback/{}", crate::issuer_key(issuer));
        Ok(Some(public_registration(issuer, client_id, redirect_uri)))
    });
    // The binding it had: a client of its own would be kept (none here).
    mocks.registrations.expect_authorization_of().returning(|_| Ok(None));
}

#[tokio::test]
async fn a_discovered_connection_is_discovered_again_and_bound_to_the_server_found() {
    let mut mocks = Mocks::new();
    rediscoverable(&mut mocks);
    mocks.flows.expect_put_flow().times(1).returning(|flow| {
        assert_eq!((flow.issuer.as_deref(), flow.iss_required), (Some(ISSUER), true));
        Ok(())
    });
    mocks.registrations.expect_bind_authorization().times(1).returning(|binding| {
        assert_eq!((binding.ref_id.clone(), binding.issuer.as_str()), (ref_id(1), ISSUER));
        assert_eq!((binding.client_id.as_str(), binding.resource.as_str()), ("client-9", "https://docs.example/mcp"));
        Ok(())
    });
    mocks.connections.expect_update().times(1).returning(|c, expected, _, _| {
        assert_eq!((c.status(), expected), (ConnectionStatus::PendingOAuth, ConnectionStatus::Expired));
        Ok(true)
    });
    let name = ServerName::parse("my-docs").unwrap();
    let outcome = mocks.directory().reconnect(&owner(), &name, &ref_id(1), None).await.unwrap();
    let ConnectOutcome::PendingOAuth { ref_id: kept, auth_url } = outcome else { panic!("an OAuth flow") };
    assert_eq!(kept, ref_id(1));
    assert!(auth_url.starts_with(&format!("{ISSUER}/authorize?")) && auth_url.contains("client_id=client-9"));
}

/// Issue 20: racing reconnects of a discovered connection may each find another authorization
/// server; only the winner's may be bound, or the winner's code would go to the loser's server.
#[tokio::test]
async fn a_discovered_reconnect_that_loses_the_race_binds_nothing() {
    let mut mocks = Mocks::new();
    rediscoverable(&mut mocks);
    mocks.flows.expect_put_flow().times(1).returning(|_| Ok(()));
    mocks.connections.expect_update().times(1).returning(|_, _, _, _| Ok(false));
    mocks.flows.expect_take_flow().times(1).returning(|_| Ok(None));
    mocks.registrations.expect_bind_authorization().never();
    let name = ServerName::parse("my-docs").unwrap();
    let err = mocks.directory().reconnect(&owner(), &name, &ref_id(1), None).await.unwrap_err();
    assert!(matches!(err, Error::ReconnectInProgress(_)), "{err:?}");
}
