//! Connections: insert, get, list and the shape of what comes back.

use domain::{AuthMethod, ConnectionStatus, Transport};
use ports::{AuditKind, SecretsUpdate, StoredSecrets};

use super::is_conflict;
use crate::ContractStore;
use crate::fixtures::{self, T0};

/// Every field of a connection, set or empty, reads back as it was stored.
pub async fn a_connection_reads_back_with_every_field<S: ContractStore>(store: S) {
    let full = fixtures::full_connection(1);
    let bare = fixtures::bare_connection(2);
    store.insert(&full, &StoredSecrets::default(), None, &[]).await.expect("insert full");
    store.insert(&bare, &StoredSecrets::default(), None, &[]).await.expect("insert bare");

    assert_eq!(store.get(&fixtures::seed_owner(), &full.ref_id).await.expect("get full"), Some(full));
    assert_eq!(store.get(&fixtures::seed_owner(), &bare.ref_id).await.expect("get bare"), Some(bare));
}

/// The store accepts, and gives back, every value the domain's enums can take.
pub async fn every_status_auth_method_and_transport_is_stored<S: ContractStore>(store: S) {
    let mut n = 0;
    for status in ConnectionStatus::ALL {
        for auth in AuthMethod::ALL {
            for transport in Transport::ALL {
                n += 1;
                let connection = fixtures::connection_with(n, status, auth, transport);
                store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
                assert_eq!(
                    store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"),
                    Some(connection)
                );
            }
        }
    }
    assert_eq!(store.list(&fixtures::seed_owner()).await.expect("list").len(), usize::from(n));
}

/// A reference nobody stored reads as absent everywhere, and an update does not create it.
pub async fn an_unknown_ref_id_reads_as_nothing<S: ContractStore>(store: S) {
    let ghost = fixtures::connected_oauth_connection(9);
    assert_eq!(store.get(&fixtures::seed_owner(), &ghost.ref_id).await.expect("get"), None);
    assert_eq!(store.secrets(&fixtures::seed_owner(), &ghost.ref_id).await.expect("secrets"), None);
    assert_eq!(
        store
            .delete(&fixtures::seed_owner(), &ghost.ref_id, &fixtures::disconnected(&ghost.ref_id))
            .await
            .expect("delete"),
        None
    );
    let updated =
        store.update(&ghost, ghost.status(), &SecretsUpdate::Keep, &fixtures::change(&ghost)).await.expect("update");
    assert!(!updated, "an update of a connection that does not exist reports false");
    assert_eq!(
        store.get(&fixtures::seed_owner(), &ghost.ref_id).await.expect("get after update"),
        None,
        "an update never inserts"
    );
    assert!(store.list(&fixtures::seed_owner()).await.expect("list").is_empty());
}

/// `list` orders by creation time, and connections created in the same second by `ref_id`.
pub async fn connections_are_listed_oldest_first<S: ContractStore>(store: S) {
    let newest = fixtures::pending_connection(1, T0.plus_seconds(20));
    let oldest = fixtures::pending_connection(5, T0);
    let tie_a = fixtures::pending_connection(3, T0.plus_seconds(10));
    let tie_b = fixtures::pending_connection(2, T0.plus_seconds(10));
    for connection in [&tie_a, &newest, &oldest, &tie_b] {
        store.insert(connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    }

    let mut ties = [tie_a.ref_id.clone(), tie_b.ref_id.clone()];
    ties.sort_by(|a, b| a.as_str().as_bytes().cmp(b.as_str().as_bytes()));
    let expected = [oldest.ref_id.clone(), ties[0].clone(), ties[1].clone(), newest.ref_id.clone()];

    let listed: Vec<_> =
        store.list(&fixtures::seed_owner()).await.expect("list").into_iter().map(|c| c.ref_id).collect();
    assert_eq!(listed, expected);
}

/// A second connection with a stored `ref_id` is refused and the first is left as it was.
pub async fn a_duplicate_ref_id_is_a_conflict_and_changes_nothing<S: ContractStore>(store: S) {
    let original = fixtures::connected_oauth_connection(1);
    let original_secrets = fixtures::all_secrets("original");
    let created = fixtures::event(&original.ref_id, AuditKind::Created, None, T0);
    store.insert(&original, &original_secrets, None, std::slice::from_ref(&created)).await.expect("insert");

    let mut impostor = fixtures::full_connection(1);
    impostor.display_name = Some("impostor".into());
    let impostor_created = fixtures::event(&impostor.ref_id, AuditKind::Created, Some("impostor"), T0);
    let result = store.insert(&impostor, &fixtures::all_secrets("impostor"), None, &[impostor_created]).await;

    assert!(is_conflict(&result), "expected Conflict, got {result:?}");
    assert_eq!(
        store.events(&fixtures::seed_owner(), &original.ref_id).await.expect("events"),
        vec![created],
        "only the stored one's record"
    );
    assert_eq!(store.get(&fixtures::seed_owner(), &original.ref_id).await.expect("get"), Some(original.clone()));
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &original.ref_id).await.expect("secrets"),
        Some(original_secrets)
    );
    assert_eq!(store.list(&fixtures::seed_owner()).await.expect("list").len(), 1);
}

/// A healthy store answers its health check.
pub async fn the_store_answers_a_ping<S: ContractStore>(store: S) {
    store.ping().await.expect("ping");
}

/// Sealed bytes come back byte for byte, and absent secrets stay absent.
pub async fn secrets_are_returned_exactly_as_given<S: ContractStore>(store: S) {
    let api_key = fixtures::connection_with(1, ConnectionStatus::Connected, AuthMethod::ApiKey, Transport::Sse);
    let api_key_secrets = StoredSecrets { api_key: Some(fixtures::every_byte()), ..StoredSecrets::default() };
    let oauth = fixtures::connected_oauth_connection(2);
    let oauth_secrets = StoredSecrets { api_key: None, ..fixtures::all_secrets("oauth") };
    let none = fixtures::bare_connection(3);

    store.insert(&api_key, &api_key_secrets, None, &[]).await.expect("insert api key");
    store.insert(&oauth, &oauth_secrets, None, &[]).await.expect("insert oauth");
    store.insert(&none, &StoredSecrets::default(), None, &[]).await.expect("insert none");

    assert_eq!(store.secrets(&fixtures::seed_owner(), &api_key.ref_id).await.expect("secrets"), Some(api_key_secrets));
    assert_eq!(store.secrets(&fixtures::seed_owner(), &oauth.ref_id).await.expect("secrets"), Some(oauth_secrets));
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &none.ref_id).await.expect("secrets"),
        Some(StoredSecrets::default())
    );
}

/// The credentials route's read: a connection and its secrets in one call, of one version.
pub async fn a_connection_and_its_secrets_read_back_together<S: ContractStore>(store: S) {
    let api_key = fixtures::connection_with(1, ConnectionStatus::Connected, AuthMethod::ApiKey, Transport::Sse);
    let api_key_secrets = StoredSecrets { api_key: Some(fixtures::every_byte()), ..StoredSecrets::default() };
    let oauth = fixtures::connected_oauth_connection(2);
    let oauth_secrets = StoredSecrets { api_key: None, ..fixtures::all_secrets("oauth") };
    store.insert(&api_key, &api_key_secrets, None, &[]).await.expect("insert api key");
    store.insert(&oauth, &oauth_secrets, None, &[]).await.expect("insert oauth");

    assert_eq!(
        store.get_with_secrets(&fixtures::seed_owner(), &api_key.ref_id).await.expect("read"),
        Some((api_key, api_key_secrets))
    );
    assert_eq!(
        store.get_with_secrets(&fixtures::seed_owner(), &oauth.ref_id).await.expect("read"),
        Some((oauth.clone(), oauth_secrets))
    );
    assert_eq!(
        store.get_with_secrets(&fixtures::seed_owner(), &fixtures::ref_id(3)).await.expect("read unknown"),
        None
    );

    // After a refresh, both halves are the new version.
    let mut refreshed = oauth.clone();
    refreshed.record_refresh(None, Some(T0.plus_seconds(7_200)), T0.plus_seconds(60)).expect("refresh");
    let tokens = fixtures::all_secrets("rotated");
    let update = SecretsUpdate::Tokens {
        access_token: tokens.access_token.clone().expect("access"),
        refresh_token: tokens.refresh_token.clone(),
    };
    assert!(
        store
            .update(&refreshed, ConnectionStatus::Connected, &update, &fixtures::change(&refreshed))
            .await
            .expect("update")
    );
    let expected = StoredSecrets { api_key: None, ..tokens };
    assert_eq!(
        store.get_with_secrets(&fixtures::seed_owner(), &oauth.ref_id).await.expect("read"),
        Some((refreshed, expected))
    );
}

/// The proxy's batched note of use sets `last_used_at` of the connections it names, of any
/// owner, skips ids no longer stored, and changes nothing else (no event, same `updated_at`).
pub async fn marking_connections_used_sets_only_their_last_used_at<S: ContractStore>(store: S) {
    let mine = fixtures::connected_oauth_connection(1);
    let theirs = fixtures::owned_by(&fixtures::owner("acme", "bob"), fixtures::connected_oauth_connection(2));
    let untouched = fixtures::connected_oauth_connection(3);
    for connection in [&mine, &theirs, &untouched] {
        store.insert(connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    }
    let at = T0.plus_seconds(42);
    let named = [mine.ref_id.clone(), theirs.ref_id.clone(), fixtures::ref_id(99)];
    store.mark_used_any(&named, at).await.expect("mark used");

    let seed = fixtures::seed_owner();
    let mine_now = store.get(&seed, &mine.ref_id).await.expect("get").expect("stored");
    let theirs_now = store.get(&theirs.owner, &theirs.ref_id).await.expect("get").expect("stored");
    let untouched_now = store.get(&seed, &untouched.ref_id).await.expect("get").expect("stored");
    assert_eq!(mine_now.last_used_at, Some(at));
    assert_eq!(theirs_now.last_used_at, Some(at), "any owner's: the background's write");
    assert_eq!(untouched_now, untouched, "a connection not named is not touched");
    let mut expected = mine.clone();
    expected.last_used_at = Some(at);
    assert_eq!(mine_now, expected, "nothing else changes, updated_at included");
    assert!(store.events(&seed, &mine.ref_id).await.expect("events").is_empty(), "no event");
    assert!(store.get(&seed, &fixtures::ref_id(99)).await.expect("get").is_none(), "never inserts");
}
