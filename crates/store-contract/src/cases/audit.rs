//! The audit log: append-only, per connection, in recording order, outliving connections.

use domain::{ConnectionStatus, Scopes};
use ports::{AuditKind, SecretsUpdate, StoredSecrets};

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// Every kind of event, with and without detail, reads back in recording order, also when
/// several share a second.
pub async fn audit_events_read_back_in_the_order_they_were_recorded<S: ContractStore>(store: S) {
    let ref_id = fixtures::ref_id(1);
    let recorded: Vec<_> = AuditKind::ALL
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let detail = (i % 2 == 0).then(|| format!("detail {i}: invalid_grant"));
            fixtures::event(&ref_id, kind, detail.as_deref(), T0.plus_seconds(i64::try_from(i / 3).expect("small")))
        })
        .collect();
    for event in &recorded {
        store.record(event).await.expect("record");
    }

    assert_eq!(store.events(&fixtures::seed_owner(), &ref_id).await.expect("events"), recorded);
}

/// The history of a deleted connection is kept: it is what explains the deletion.
pub async fn audit_events_outlive_their_connection<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    let created = fixtures::event(&connection.ref_id, AuditKind::Created, None, T0);
    let disconnected = fixtures::event(&connection.ref_id, AuditKind::Disconnected, Some("by the user"), T0);
    let revoked = fixtures::event(&connection.ref_id, AuditKind::Revoked, Some("refresh_token"), T0);
    store.insert(&connection, &StoredSecrets::default(), None, std::slice::from_ref(&created)).await.expect("insert");
    store.delete(&fixtures::seed_owner(), &connection.ref_id, &disconnected).await.expect("delete");
    store.record(&revoked).await.expect("record after delete");

    assert_eq!(
        store.events(&fixtures::seed_owner(), &connection.ref_id).await.expect("events"),
        vec![created, disconnected, revoked]
    );
}

/// Each write records the events it is given with it, in their order: an insert several, an
/// update and a delete one each; interleaved with events recorded on their own.
pub async fn every_write_records_its_events_with_it_in_order<S: ContractStore>(store: S) {
    let mut connection = fixtures::pending_connection(1, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    let at = |s| T0.plus_seconds(s);
    let created = fixtures::event(&connection.ref_id, AuditKind::Created, None, at(0));
    let noted = fixtures::event(&connection.ref_id, AuditKind::Reauthorized, Some("noted"), at(0));
    store
        .insert(&connection, &StoredSecrets::default(), Some(flow), &[created.clone(), noted.clone()])
        .await
        .expect("insert");

    connection.complete_authorization(Scopes::parse_delimited("read").expect("scopes"), None, at(1)).expect("complete");
    let tokens = SecretsUpdate::Tokens { access_token: fixtures::sealed("a"), refresh_token: None };
    let connected = fixtures::event(&connection.ref_id, AuditKind::Connected, Some("with detail"), at(1));
    assert!(store.update(&connection, ConnectionStatus::PendingOAuth, &tokens, &connected).await.expect("update"));
    let failed_refresh = fixtures::event(&connection.ref_id, AuditKind::RefreshFailed, Some("HTTP 503"), at(2));
    store.record(&failed_refresh).await.expect("record");
    let disconnected = fixtures::event(&connection.ref_id, AuditKind::Disconnected, None, at(3));
    assert!(store.delete(&fixtures::seed_owner(), &connection.ref_id, &disconnected).await.expect("delete").is_some());

    let events = store.events(&fixtures::seed_owner(), &connection.ref_id).await.expect("events");
    assert_eq!(events, vec![created, noted, connected, failed_refresh, disconnected]);
}

/// A connection's history holds only its own events.
pub async fn audit_events_of_other_connections_are_not_returned<S: ContractStore>(store: S) {
    let (mine, theirs, silent) = (fixtures::ref_id(1), fixtures::ref_id(2), fixtures::ref_id(3));
    let my_events = [
        fixtures::event(&mine, AuditKind::Created, None, T0),
        fixtures::event(&mine, AuditKind::Connected, None, T0.plus_seconds(1)),
    ];
    store.record(&my_events[0]).await.expect("record");
    store.record(&fixtures::event(&theirs, AuditKind::Created, None, T0)).await.expect("record");
    store.record(&my_events[1]).await.expect("record");

    assert_eq!(store.events(&fixtures::seed_owner(), &mine).await.expect("events"), my_events.to_vec());
    assert_eq!(store.events(&fixtures::seed_owner(), &theirs).await.expect("events").len(), 1);
    assert_eq!(store.events(&fixtures::seed_owner(), &silent).await.expect("events"), vec![]);
}
