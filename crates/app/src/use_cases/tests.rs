//! Unit tests of the use cases against mocked ports.

use domain::{Account, Connection, ConnectionStatus, RefId, Scopes, ServerName};
use ports::{AuditKind, OAuthError, PendingFlow, Sealed, SecretsUpdate, StoredSecrets, TokenSet};
use secrecy::{ExposeSecret, SecretString};

use crate::test_support::{Mocks, NOW, connection, owner, ref_id};
use crate::{CallbackInput, ConnectOutcome, ConnectRequest, Error};

fn request(name: &str) -> ConnectRequest {
    ConnectRequest {
        owner: owner(),
        server_name: ServerName::parse(name).unwrap(),
        label: None,
        api_key: None,
        custom: None,
        return_to: None,
        browser: None,
        identity_assertion: None,
        exportable: None,
    }
}

fn oauth_connection(status: ConnectionStatus) -> Connection {
    connection(&ref_id(1), status, 3600)
}

fn flow(expires_in: i64) -> PendingFlow {
    PendingFlow {
        state_hash: "h".into(),
        ref_id: RefId::from_random([1; 16]),
        issuer: Some("https://as.example".into()),
        iss_required: true,
        pkce_verifier: Sealed(b"flows/h/pkce_verifier|verifier".to_vec()),
        redirect_uri: "http://127.0.0.1:8000/assets/oauth/callback".into(),
        scopes: Scopes::parse_delimited("read").unwrap(),
        resource: Some("https://acme.example/mcp".into()),
        return_to: None,
        created_at: NOW,
        expires_at: NOW.plus_seconds(expires_in),
        browser_hash: None,
    }
}

/// A flow as the callback takes it: with its connection, still waiting.
fn pending_flow(expires_in: i64) -> Option<(PendingFlow, Option<Connection>)> {
    Some((flow(expires_in), Some(oauth_connection(ConnectionStatus::PendingOAuth))))
}

fn callback(state: &str, code: &str, iss: Option<&str>) -> CallbackInput {
    CallbackInput {
        state: Some(SecretString::from(state.to_owned())),
        code: Some(SecretString::from(code.to_owned())),
        iss: iss.map(str::to_owned),
        ..CallbackInput::default()
    }
}

#[tokio::test]
async fn connecting_an_unknown_server_is_server_not_found_and_stores_nothing() {
    let dir = Mocks::new().directory();
    let err = dir.connect(request("nope")).await.unwrap_err();
    assert!(matches!(err, Error::ServerNotFound), "{err:?}");
}

#[tokio::test]
async fn an_api_key_server_needs_its_key() {
    let dir = Mocks::new().directory();
    let err = dir.connect(request("exa")).await.unwrap_err();
    assert!(matches!(err, Error::Validation { field: "server_config.api_key", .. }), "{err:?}");
}

#[tokio::test]
async fn the_api_key_reaches_the_store_only_sealed_to_its_row() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_insert().times(1).returning(|connection, secrets, flow, events| {
        let sealed = String::from_utf8(secrets.api_key.clone().unwrap().0).unwrap();
        assert_eq!(sealed, format!("connections/{}/api_key|k-123", connection.ref_id));
        assert_eq!(connection.status(), ConnectionStatus::Connected);
        assert!(flow.is_none());
        let kinds: Vec<_> = events.iter().map(|e| (&e.ref_id, e.kind)).collect();
        assert_eq!(kinds, [(&connection.ref_id, AuditKind::Created), (&connection.ref_id, AuditKind::Connected)]);
        Ok(())
    });
    let dir = mocks.directory();
    let mut req = request("exa");
    req.api_key = Some(SecretString::from("k-123"));
    assert!(matches!(dir.connect(req).await.unwrap(), ConnectOutcome::Connected { .. }));
}

#[tokio::test]
async fn an_oauth_connect_stores_a_pending_flow_with_pkce_and_hashed_state() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_insert().times(1).returning(|connection, _, flow, events| {
        let flow = flow.expect("a pending flow");
        assert_eq!(connection.status(), ConnectionStatus::PendingOAuth);
        assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), [AuditKind::Created]);
        assert_eq!(flow.state_hash.len(), 64, "the state is stored only as its hash");
        assert_eq!(flow.expires_at, NOW.plus_seconds(600));
        assert_eq!(flow.resource.as_deref(), Some("https://acme.example/mcp"));
        Ok(())
    });
    let dir = mocks.directory();
    let ConnectOutcome::PendingOAuth { auth_url, .. } = dir.connect(request("acme")).await.unwrap() else {
        panic!("expected a pending OAuth connection");
    };
    assert!(auth_url.starts_with("https://as.example/authorize?"));
    assert!(auth_url.contains("code_challenge_method=S256"));
    assert!(auth_url.contains("resource=https%3A%2F%2Facme.example%2Fmcp"));
}

#[tokio::test]
async fn a_return_to_outside_the_allowlist_is_refused_before_anything_is_stored() {
    let dir = Mocks::new().directory();
    let mut req = request("acme");
    req.return_to = Some("https://evil.example/".into());
    let err = dir.connect(req).await.unwrap_err();
    assert!(matches!(err, Error::Validation { field: "return_to", .. }), "{err:?}");
}

#[tokio::test]
async fn an_unknown_state_is_invalid_state() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(None));
    let err = mocks.directory().complete_callback(callback("s", "c", None)).await.unwrap_err();
    assert!(matches!(err.error, Error::InvalidState));
}

#[tokio::test]
async fn a_flow_whose_connection_is_gone_or_no_longer_pending_is_invalid_state_and_changes_nothing() {
    for connection in [None, Some(oauth_connection(ConnectionStatus::Connected))] {
        let mut mocks = Mocks::new();
        let taken = Some((flow(600), connection.clone()));
        mocks.flows.expect_take_flow_with_connection().times(1).return_once(move |_, _, _| Ok(taken));
        mocks.connections.expect_update().never();
        mocks.oauth.expect_exchange_code().never();
        // Connected, and no consent for more scopes started since: a flow left behind.
        let history =
            connection.iter().flat_map(|c| [audit_event(c, AuditKind::Created), audit_event(c, AuditKind::Connected)]);
        let history: Vec<_> = history.collect();
        mocks.audit.expect_events().returning(move |_, _| Ok(history.clone()));
        let err =
            mocks.directory().complete_callback(callback("s", "c", Some("https://as.example"))).await.unwrap_err();
        assert!(matches!(err.error, Error::InvalidState), "{connection:?}: {:?}", err.error);
        assert_eq!(err.ref_id, Some(RefId::from_random([1; 16])), "the failure names the flow's connection");
    }
}

#[tokio::test]
async fn an_expired_flow_fails_the_connection_and_answers_invalid_state() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(pending_flow(-1)));
    mocks.connections.expect_update().times(1).returning(|c, expected, _, event| {
        assert_eq!((c.status(), expected), (ConnectionStatus::Failed, ConnectionStatus::PendingOAuth));
        assert_eq!(event.kind, AuditKind::Failed);
        assert_eq!(event.detail.as_deref(), Some("the authorization was not completed in time"));
        Ok(true)
    });
    let err = mocks.directory().complete_callback(callback("s", "c", Some("https://as.example"))).await.unwrap_err();
    assert!(matches!(err.error, Error::InvalidState));
}

#[tokio::test]
async fn a_callback_at_another_redirect_uri_than_its_flows_fails_the_connection_and_exchanges_nothing() {
    let elsewhere = format!("http://127.0.0.1:8000/assets/oauth/callback/{}", crate::issuer_key("https://as.example"));
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(pending_flow(600)));
    mocks.connections.expect_update().times(1).returning(|c, _, _, event| {
        assert_eq!((c.status(), event.kind), (ConnectionStatus::Failed, AuditKind::Failed));
        Ok(true)
    });
    mocks.oauth.expect_exchange_code().never();
    let input = CallbackInput { redirect_uri: Some(elsewhere), ..callback("s", "c", Some("https://as.example")) };
    let err = mocks.directory().complete_callback(input).await.unwrap_err();
    assert!(matches!(err.error, Error::InvalidState), "{:?}", err.error);
}

#[tokio::test]
async fn a_missing_iss_when_promised_is_an_issuer_mismatch_and_no_code_is_exchanged() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(pending_flow(600)));
    mocks.connections.expect_update().times(1).returning(|_, _, _, _| Ok(true));
    mocks.oauth.expect_exchange_code().never();
    let err = mocks.directory().complete_callback(callback("s", "c", None)).await.unwrap_err();
    assert!(matches!(err.error, Error::IssuerMismatch));
}

#[tokio::test]
async fn a_good_callback_exchanges_the_code_with_the_verifier_and_stores_sealed_tokens() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(pending_flow(600)));
    mocks.oauth.expect_exchange_code().times(1).returning(|endpoint, code, verifier, _, resource| {
        assert_eq!(endpoint.url, "https://as.example/token");
        assert_eq!(code.expose_secret(), "the-code");
        assert_eq!(verifier.expose_secret(), "verifier");
        assert_eq!(resource.as_deref(), Some("https://acme.example/mcp"));
        Ok(TokenSet {
            access_token: SecretString::from("at-1"),
            refresh_token: Some(SecretString::from("rt-1")),
            expires_in: Some(3600),
            scopes: None,
            account: Account::from_provider("ada@example.com"),
        })
    });
    mocks.connections.expect_update().times(1).returning(|c, expected, secrets, event| {
        assert_eq!(expected, ConnectionStatus::PendingOAuth);
        assert_eq!(c.status(), ConnectionStatus::Connected);
        assert_eq!(c.account.as_ref().map(Account::as_str), Some("ada@example.com"), "stored with the account");
        assert_eq!((&event.ref_id, event.kind, event.at), (&c.ref_id, AuditKind::Connected, NOW));
        let SecretsUpdate::Tokens { access_token, .. } = secrets else { panic!("tokens expected") };
        assert!(String::from_utf8_lossy(&access_token.0).ends_with("/access_token|at-1"));
        Ok(true)
    });
    let outcome =
        mocks.directory().complete_callback(callback("s", "the-code", Some("https://as.example"))).await.unwrap();
    assert_eq!(outcome.connection.scopes.to_delimited(), "read", "requested scopes apply when none are listed");
    assert_eq!(outcome.connection.expires_at, Some(NOW.plus_seconds(3600)));
}

#[tokio::test]
async fn a_failing_token_endpoint_fails_the_connection_with_a_provider_error() {
    let mut mocks = Mocks::new();
    mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(pending_flow(600)));
    mocks.oauth.expect_exchange_code().returning(|_, _, _, _, _| Err(OAuthError::Unavailable("HTTP 500".into())));
    mocks.connections.expect_update().times(1).returning(|c, _, _, _| {
        assert_eq!(c.status(), ConnectionStatus::Failed);
        Ok(true)
    });
    let err = mocks.directory().complete_callback(callback("s", "c", Some("https://as.example"))).await.unwrap_err();
    assert!(matches!(err.error, Error::Provider { step: "token exchange", .. }), "{:?}", err.error);
}

#[tokio::test]
async fn credentials_of_a_pending_connection_are_not_ready() {
    let mut mocks = Mocks::new();
    mocks
        .connections
        .expect_get_with_secrets()
        .returning(|_, _| Ok(Some((oauth_connection(ConnectionStatus::PendingOAuth), StoredSecrets::default()))));
    let err = mocks.directory().credentials(&owner(), &RefId::from_random([1; 16])).await.unwrap_err();
    assert!(matches!(err, Error::NotReady(ConnectionStatus::PendingOAuth)));
}

#[tokio::test]
async fn a_real_invalid_grant_expires_the_connection() {
    let mut mocks = Mocks::new();
    let mut soon = oauth_connection(ConnectionStatus::Connected);
    soon.expires_at = Some(NOW.plus_seconds(10));
    let secrets = StoredSecrets {
        api_key: None,
        access_token: Some(Sealed(format!("connections/{}/access_token|at", RefId::from_random([1; 16])).into_bytes())),
        refresh_token: Some(Sealed(
            format!("connections/{}/refresh_token|rt", RefId::from_random([1; 16])).into_bytes(),
        )),
    };
    let both = (soon.clone(), secrets.clone());
    mocks.connections.expect_get_with_secrets().returning(move |_, _| Ok(Some(both.clone())));
    mocks.connections.expect_get_any().returning(move |_| Ok(Some(soon.clone())));
    mocks.connections.expect_secrets().returning(move |_, _| Ok(Some(secrets.clone())));
    mocks
        .oauth
        .expect_refresh()
        .times(1)
        .returning(|_, _, _| Err(OAuthError::Rejected { code: "invalid_grant".into(), description: None }));
    mocks.connections.expect_update().times(1).returning(|c, expected, update, _| {
        assert_eq!((c.status(), expected), (ConnectionStatus::Expired, ConnectionStatus::Connected));
        assert_eq!(update, &SecretsUpdate::ClearTokens);
        Ok(true)
    });
    let err = mocks.directory().credentials(&owner(), &RefId::from_random([1; 16])).await.unwrap_err();
    assert!(matches!(err, Error::TokenExpired), "{err:?}");
}

#[tokio::test]
async fn disconnect_revokes_the_refresh_token_before_the_access_token() {
    let mut mocks = Mocks::new();
    let ref_id = RefId::from_random([1; 16]);
    mocks.connections.expect_get().returning(|_, _| Ok(Some(oauth_connection(ConnectionStatus::Connected))));
    let r = ref_id.clone();
    mocks.connections.expect_delete().times(1).returning(move |_, _, event| {
        assert_eq!(event.kind, AuditKind::Disconnected, "the deletion records the disconnect");
        Ok(Some(StoredSecrets {
            api_key: None,
            access_token: Some(Sealed(format!("connections/{r}/access_token|at").into_bytes())),
            refresh_token: Some(Sealed(format!("connections/{r}/refresh_token|rt").into_bytes())),
        }))
    });
    let mut seq = mockall::Sequence::new();
    for expected in ["rt", "at"] {
        mocks.oauth.expect_revoke().times(1).in_sequence(&mut seq).returning(move |endpoint, token, _| {
            assert_eq!(endpoint.url, "https://as.example/revoke");
            assert_eq!(token.expose_secret(), expected);
            Ok(())
        });
    }
    mocks.directory().disconnect(&owner(), &ref_id).await.unwrap();
}

#[tokio::test]
async fn a_failed_revocation_still_disconnects() {
    let mut mocks = Mocks::new();
    let ref_id = RefId::from_random([1; 16]);
    mocks.connections.expect_get().returning(|_, _| Ok(Some(oauth_connection(ConnectionStatus::Connected))));
    let r = ref_id.clone();
    mocks.connections.expect_delete().returning(move |_, _, _| {
        Ok(Some(StoredSecrets {
            access_token: Some(Sealed(format!("connections/{r}/access_token|at").into_bytes())),
            ..StoredSecrets::default()
        }))
    });
    mocks.oauth.expect_revoke().returning(|_, _, _| Err(OAuthError::Unavailable("timeout".into())));
    mocks.directory().disconnect(&owner(), &ref_id).await.unwrap();
}

mod metrics {
    use std::sync::Arc;

    use ports::{FlowEvent, RefreshEvent};

    use super::*;
    use crate::test_support::RecordedMetrics;

    #[tokio::test]
    async fn an_oauth_connect_counts_a_started_flow_and_a_key_connect_counts_none() {
        let metrics = Arc::new(RecordedMetrics::default());
        let mut mocks = Mocks::new();
        mocks.connections.expect_insert().times(2).returning(|_, _, _, _| Ok(()));
        let dir = mocks.directory_with_metrics(metrics.clone());
        dir.connect(request("acme")).await.unwrap();
        let mut keyed = request("exa");
        keyed.api_key = Some(SecretString::from("k-1"));
        dir.connect(keyed).await.unwrap();
        assert_eq!(*metrics.flows.lock().unwrap(), [FlowEvent::Started]);
    }

    #[tokio::test]
    async fn a_callback_counts_a_failed_flow_and_an_unknown_state_counts_nothing() {
        let metrics = Arc::new(RecordedMetrics::default());
        let mut mocks = Mocks::new();
        let mut flows = vec![pending_flow(-1), None];
        mocks.flows.expect_take_flow_with_connection().times(2).returning(move |_, _, _| Ok(flows.remove(0)));
        mocks.connections.expect_update().returning(|_, _, _, _| Ok(true));
        let dir = mocks.directory_with_metrics(metrics.clone());
        let iss = Some("https://as.example");
        assert!(matches!(dir.complete_callback(callback("s", "c", iss)).await.unwrap_err().error, Error::InvalidState));
        assert!(matches!(dir.complete_callback(callback("s", "c", iss)).await.unwrap_err().error, Error::InvalidState));
        assert_eq!(*metrics.flows.lock().unwrap(), [FlowEvent::Failed], "only the flow that existed failed");
    }

    #[tokio::test]
    async fn a_good_callback_counts_a_completed_flow() {
        let metrics = Arc::new(RecordedMetrics::default());
        let mut mocks = Mocks::new();
        mocks.flows.expect_take_flow_with_connection().returning(|_, _, _| Ok(pending_flow(600)));
        mocks.oauth.expect_exchange_code().returning(|_, _, _, _, _| {
            Ok(TokenSet {
                access_token: SecretString::from("at"),
                refresh_token: None,
                expires_in: None,
                scopes: None,
                account: None,
            })
        });
        mocks.connections.expect_update().returning(|_, _, _, _| Ok(true));
        let dir = mocks.directory_with_metrics(metrics.clone());
        dir.complete_callback(callback("s", "c", Some("https://as.example"))).await.unwrap();
        assert_eq!(*metrics.flows.lock().unwrap(), [FlowEvent::Completed]);
    }

    #[tokio::test]
    async fn a_refresh_counts_its_outcome() {
        let metrics = Arc::new(RecordedMetrics::default());
        let mut mocks = Mocks::new();
        let mut soon = oauth_connection(ConnectionStatus::Connected);
        soon.expires_at = Some(NOW.plus_seconds(10));
        let also_soon = soon.clone();
        mocks.connections.expect_get_any().returning(move |_| Ok(Some(soon.clone())));
        let ref_id = RefId::from_random([1; 16]);
        let refresh = Sealed(format!("connections/{ref_id}/refresh_token|rt").into_bytes());
        let secrets = StoredSecrets { refresh_token: Some(refresh), ..StoredSecrets::default() };
        mocks
            .connections
            .expect_get_with_secrets()
            .returning(move |_, _| Ok(Some((also_soon.clone(), secrets.clone()))));
        mocks.oauth.expect_refresh().times(1).returning(|_, _, _| Err(OAuthError::Unavailable("HTTP 503".into())));
        let dir = mocks.directory_with_metrics(metrics.clone());
        assert!(matches!(dir.refresh(&ref_id, 60).await, Err(Error::Provider { .. })));
        assert!(matches!(dir.refresh(&ref_id, 5).await, Ok(crate::RefreshOutcome::AlreadyFresh)));
        assert_eq!(*metrics.refreshes.lock().unwrap(), [RefreshEvent::Failed, RefreshEvent::AlreadyFresh]);
    }
}

/// Issue 20: a discovered connection rebound to another authorization server (a reconnect that
/// found another) must not have a flow of the former redeemed at the latter.
#[tokio::test]
async fn a_flow_whose_connection_is_bound_to_another_authorization_server_exchanges_nothing() {
    use ports::DiscoveredAuthorization;

    use crate::test_support::{public_registration, server_metadata};
    const OTHER: &str = "https://other.example";
    let mut mocks = Mocks::new();
    let mut custom = oauth_connection(ConnectionStatus::PendingOAuth);
    custom.server_name = ServerName::parse("my-docs").unwrap();
    let taken = Some((flow(600), Some(custom)));
    mocks.flows.expect_take_flow_with_connection().return_once(move |_, _, _| Ok(taken));
    mocks.registrations.expect_authorization_of().returning(|r| {
        let resource = "https://acme.example/mcp".into();
        Ok(Some(DiscoveredAuthorization {
            ref_id: r.clone(),
            issuer: OTHER.into(),
            client_id: "c".into(),
            resource,
            at_origin: false,
            own_client: None,
            identity_provider: None,
        }))
    });
    mocks.discovery.expect_authorization_server().returning(|_| Ok(server_metadata(OTHER, false)));
    mocks.registrations.expect_client_registration().returning(|issuer, client_id| {
        Ok(Some(public_registration(issuer, client_id, "http://127.0.0.1:8000/assets/oauth/callback".into())))
    });
    mocks.oauth.expect_exchange_code().never();
    mocks.connections.expect_update().times(1).returning(|c, _, _, _| {
        assert_eq!(c.status(), ConnectionStatus::Failed);
        Ok(true)
    });
    let err = mocks.directory().complete_callback(callback("s", "c", Some("https://as.example"))).await.unwrap_err();
    assert!(matches!(err.error, Error::Provider { step: "token exchange", .. }), "{:?}", err.error);
}

fn audit_event(connection: &Connection, kind: AuditKind) -> ports::AuditEvent {
    ports::AuditEvent {
        ref_id: connection.ref_id.clone(),
        owner: connection.owner.clone(),
        server_name: connection.server_name.clone(),
        kind,
        detail: None,
        at: domain::Timestamp::from_unix(1_000),
        notice: None,
    }
}

#[tokio::test]
async fn a_consent_for_more_scopes_as_another_account_changes_nothing_and_its_tokens_are_revoked() {
    let mut mocks = Mocks::new();
    let mut connected = oauth_connection(ConnectionStatus::Connected);
    connected.account = Account::from_provider("ada@example.com");
    let history = vec![audit_event(&connected, AuditKind::Connected), audit_event(&connected, AuditKind::StepUp)];
    mocks.audit.expect_events().returning(move |_, _| Ok(history.clone()));
    let taken = Some((flow(600), Some(connected)));
    mocks.flows.expect_take_flow_with_connection().return_once(move |_, _, _| Ok(taken));
    mocks.oauth.expect_exchange_code().times(1).returning(|_, _, _, _, _| {
        Ok(TokenSet {
            access_token: SecretString::from("at-mallory"),
            refresh_token: Some(SecretString::from("rt-mallory")),
            expires_in: Some(3600),
            scopes: None,
            account: Account::from_provider("mallory@example.com"),
        })
    });
    mocks.connections.expect_update().never();
    mocks.oauth.expect_revoke().times(2).returning(|_, _, _| Ok(()));
    let err = mocks.directory().complete_callback(callback("s", "c", Some("https://as.example"))).await.unwrap_err();
    assert!(matches!(err.error, Error::Provider { step: "token exchange", .. }), "{:?}", err.error);
}
