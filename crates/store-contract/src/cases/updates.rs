//! `update`: compare-and-set on the status, with the three ways of changing secrets.

use domain::{Account, ConnectionStatus, Scopes};
use ports::{SecretsUpdate, StoredSecrets};

use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

/// The callback's update: `pending_oauth` → `connected` with scopes, expiry, the account and a
/// token pair, then the refresher's `connected` → `expired` that clears the tokens.
pub async fn an_update_with_the_expected_status_writes_connection_and_tokens<S: ContractStore>(store: S) {
    let mut connection = fixtures::pending_connection(1, T0);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");

    connection
        .complete_authorization(
            Scopes::parse_delimited("read write").expect("scopes"),
            Some(T0.plus_seconds(3_600)),
            T0.plus_seconds(5),
        )
        .expect("complete");
    connection.name_account(Account::from_provider("ada@example.com"));
    let tokens = SecretsUpdate::Tokens {
        access_token: fixtures::sealed("access-1"),
        refresh_token: Some(fixtures::sealed("refresh-1")),
    };
    let updated = store
        .update(&connection, ConnectionStatus::PendingOAuth, &tokens, &fixtures::change(&connection))
        .await
        .expect("update");
    assert!(updated, "the stored status was the expected one");
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), Some(connection.clone()));
    let expected_secrets = StoredSecrets {
        api_key: None,
        access_token: Some(fixtures::sealed("access-1")),
        refresh_token: Some(fixtures::sealed("refresh-1")),
    };
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"),
        Some(expected_secrets)
    );

    connection.expire("invalid_grant", T0.plus_seconds(10)).expect("expire");
    let updated = store
        .update(&connection, ConnectionStatus::Connected, &SecretsUpdate::ClearTokens, &fixtures::change(&connection))
        .await
        .expect("update");
    assert!(updated);
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), Some(connection.clone()));
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"),
        Some(StoredSecrets::default())
    );
}

/// An update that expects a status the row no longer has reports false and writes nothing.
pub async fn an_update_with_a_stale_status_writes_nothing<S: ContractStore>(store: S) {
    let stored = fixtures::pending_connection(1, T0);
    let stored_secrets = StoredSecrets { api_key: Some(fixtures::sealed("key")), ..StoredSecrets::default() };
    store.insert(&stored, &stored_secrets, None, &[]).await.expect("insert");

    let mut changed = stored.clone();
    changed
        .complete_authorization(Scopes::parse_delimited("x").expect("scopes"), None, T0.plus_seconds(1))
        .expect("complete");
    let tokens =
        SecretsUpdate::Tokens { access_token: fixtures::sealed("a"), refresh_token: Some(fixtures::sealed("r")) };

    for stale in [ConnectionStatus::Connected, ConnectionStatus::Expired, ConnectionStatus::Failed] {
        let updated = store.update(&changed, stale, &tokens, &fixtures::change(&changed)).await.expect("update");
        assert!(!updated, "expected {stale} but the row is pending_oauth");
    }
    assert_eq!(
        store.events(&fixtures::seed_owner(), &stored.ref_id).await.expect("events"),
        vec![],
        "no record of a change not made"
    );
    assert_eq!(store.get(&fixtures::seed_owner(), &stored.ref_id).await.expect("get"), Some(stored.clone()));
    assert_eq!(store.secrets(&fixtures::seed_owner(), &stored.ref_id).await.expect("secrets"), Some(stored_secrets));
}

/// A connection deleted before the update is not brought back.
pub async fn an_update_of_a_deleted_connection_writes_nothing<S: ContractStore>(store: S) {
    let mut connection = fixtures::pending_connection(1, T0);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    store
        .delete(&fixtures::seed_owner(), &connection.ref_id, &fixtures::disconnected(&connection.ref_id))
        .await
        .expect("delete");

    connection.fail("timeout", T0.plus_seconds(600)).expect("fail");
    let updated = store
        .update(
            &connection,
            ConnectionStatus::PendingOAuth,
            &SecretsUpdate::ClearTokens,
            &fixtures::change(&connection),
        )
        .await
        .expect("update");
    assert!(!updated);
    let events = store.events(&fixtures::seed_owner(), &connection.ref_id).await.expect("events");
    assert_eq!(events, vec![fixtures::disconnected(&connection.ref_id)], "the delete's record, not the update's");
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), None);
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), None);
    assert!(store.list(&fixtures::seed_owner()).await.expect("list").is_empty());
}

/// Spec §7: a refresh answer without a new refresh token keeps the old one.
pub async fn a_token_update_without_a_refresh_token_keeps_the_stored_one<S: ContractStore>(store: S) {
    let mut connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("old"), None, &[]).await.expect("insert");

    connection.record_refresh(None, Some(T0.plus_seconds(7_200)), T0.plus_seconds(3_000)).expect("refresh");
    let tokens = SecretsUpdate::Tokens { access_token: fixtures::sealed("new access"), refresh_token: None };
    assert!(
        store
            .update(&connection, ConnectionStatus::Connected, &tokens, &fixtures::change(&connection))
            .await
            .expect("update")
    );

    let expected = StoredSecrets { access_token: Some(fixtures::sealed("new access")), ..fixtures::all_secrets("old") };
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), Some(expected));
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), Some(connection));
}

/// A rotated refresh token replaces the stored one together with the access token.
pub async fn a_token_update_with_a_refresh_token_replaces_both<S: ContractStore>(store: S) {
    let mut connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("old"), None, &[]).await.expect("insert");

    connection.record_refresh(None, None, T0.plus_seconds(3_000)).expect("refresh");
    let tokens = SecretsUpdate::Tokens {
        access_token: fixtures::sealed("new access"),
        refresh_token: Some(fixtures::sealed("new refresh")),
    };
    assert!(
        store
            .update(&connection, ConnectionStatus::Connected, &tokens, &fixtures::change(&connection))
            .await
            .expect("update")
    );

    let expected = StoredSecrets {
        api_key: fixtures::all_secrets("old").api_key,
        access_token: Some(fixtures::sealed("new access")),
        refresh_token: Some(fixtures::sealed("new refresh")),
    };
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), Some(expected));
    let stored = store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get").expect("stored");
    assert_eq!(stored.expires_at, None, "a refresh without expires_in leaves expires_at null");
}

/// `ClearTokens` forgets the access and refresh tokens and nothing else.
pub async fn clearing_tokens_forgets_both_tokens_and_keeps_the_api_key<S: ContractStore>(store: S) {
    let mut connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("old"), None, &[]).await.expect("insert");

    connection.expire("invalid_grant", T0.plus_seconds(60)).expect("expire");
    assert!(
        store
            .update(
                &connection,
                ConnectionStatus::Connected,
                &SecretsUpdate::ClearTokens,
                &fixtures::change(&connection)
            )
            .await
            .expect("update")
    );

    let expected = StoredSecrets { api_key: fixtures::all_secrets("old").api_key, ..StoredSecrets::default() };
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), Some(expected));
}

/// `Keep` writes the connection and leaves every secret untouched.
pub async fn keeping_secrets_leaves_them_as_they_were<S: ContractStore>(store: S) {
    let mut connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("old"), None, &[]).await.expect("insert");

    connection.expire("revoked at the provider", T0.plus_seconds(60)).expect("expire");
    assert!(
        store
            .update(&connection, ConnectionStatus::Connected, &SecretsUpdate::Keep, &fixtures::change(&connection))
            .await
            .expect("update")
    );

    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), Some(connection.clone()));
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"),
        Some(fixtures::all_secrets("old"))
    );
}

/// Twenty callers move one connection out of `connected` at once: exactly one succeeds, and the
/// stored row is the winner's.
pub async fn of_twenty_concurrent_updates_from_one_status_exactly_one_wins<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("old"), None, &[]).await.expect("insert");

    let outcomes = race(&store, 20, |store, index| {
        let mut mine = connection.clone();
        async move {
            mine.expire(format!("reason {index}"), T0.plus_seconds(60)).expect("expire");
            let tokens = SecretsUpdate::Tokens {
                access_token: fixtures::sealed(&format!("access {index}")),
                refresh_token: None,
            };
            let won = store
                .update(&mine, ConnectionStatus::Connected, &tokens, &fixtures::change(&mine))
                .await
                .expect("update");
            (won, mine, index)
        }
    })
    .await;

    let winners: Vec<_> = outcomes.into_iter().filter(|(won, _, _)| *won).collect();
    assert_eq!(winners.len(), 1, "exactly one compare-and-set succeeds");
    assert_eq!(
        store.events(&fixtures::seed_owner(), &connection.ref_id).await.expect("events").len(),
        1,
        "and only it is recorded"
    );
    let (_, winner, index) = &winners[0];
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get").as_ref(), Some(winner));
    let secrets = store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets").expect("stored");
    assert_eq!(secrets.access_token, Some(fixtures::sealed(&format!("access {index}"))));
}
