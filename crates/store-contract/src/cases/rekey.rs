//! `RekeyStore`: a batched walk over every sealed value, and a replacement that only happens
//! while the value still holds the bytes that were read (re-encryption under a new key).

use std::collections::BTreeSet;

use domain::{ConnectionStatus, RefId, SigningAlgorithm, TokenEndpointAuth};
use ports::{
    BoundIdentityProvider, ClientRegistration, DiscoveredAuthorization, OwnClient, Sealed, SealedEntry, SealedField,
    SecretsUpdate, StoredSecrets, Webhook,
};

use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

/// Walks `field` in batches of `limit`, as the re-encryption does, and returns what it saw.
async fn walk<S: ContractStore>(store: &S, field: SealedField, limit: u32) -> Vec<SealedEntry> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    // More rounds than any case stores values: a walk that never ends fails instead of hanging.
    for _ in 0..50 {
        let batch = store.sealed_after(field, after.as_deref(), limit).await.expect("sealed_after");
        assert!(batch.len() <= limit as usize, "{}: a batch holds at most the limit", field.as_str());
        let Some(last) = batch.last() else { return seen };
        after = Some(last.key.clone());
        seen.extend(batch);
    }
    panic!("{}: the walk did not end", field.as_str());
}

fn entry(key: &str, sealed: Sealed) -> SealedEntry {
    SealedEntry { key: key.to_owned(), sealed }
}

/// The client registered at `issuer`, with a secret when `confidential`.
fn registration(issuer: &str, confidential: bool) -> ClientRegistration {
    ClientRegistration {
        issuer: issuer.to_owned(),
        client_id: format!("client-of-{issuer}"),
        client_secret: confidential.then(|| fixtures::sealed(&format!("registrations/{issuer}/client_secret"))),
        auth: if confidential { TokenEndpointAuth::ClientSecretBasic } else { TokenEndpointAuth::None },
        redirect_uri: "https://directory.example/assets/oauth/callback".into(),
        secret_expires_at: None,
        created_at: T0,
    }
}

/// The key a registration's client secret is walked and replaced by.
fn registration_key(registered: &ClientRegistration) -> String {
    format!("{} {}", registered.issuer, registered.client_id)
}

/// Every sealed value is visited exactly once, batch after batch; empty fields are skipped.
pub async fn a_walk_in_batches_visits_every_sealed_value_once_and_skips_empty_ones<S: ContractStore>(store: S) {
    let mut expected: Vec<(SealedField, SealedEntry)> = Vec::new();
    for n in 1..=7u8 {
        let connection = fixtures::connected_oauth_connection(n);
        let key = connection.ref_id.as_str().to_owned();
        let secrets = match n % 3 {
            0 => StoredSecrets::default(),
            1 => fixtures::all_secrets(&format!("c{n}")),
            _ => StoredSecrets { api_key: Some(fixtures::sealed(&format!("c{n}/api_key"))), ..Default::default() },
        };
        for (field, value) in [
            (SealedField::ConnectionApiKey, &secrets.api_key),
            (SealedField::ConnectionAccessToken, &secrets.access_token),
            (SealedField::ConnectionRefreshToken, &secrets.refresh_token),
        ] {
            if let Some(sealed) = value {
                expected.push((field, entry(&key, sealed.clone())));
            }
        }
        store.insert(&connection, &secrets, None, &[]).await.expect("insert");
        // Every other connection has a client its user gave; the others' bindings hold no secret.
        let binding = binding_of(&connection.ref_id, n % 2 == 0);
        if let Some(own) = &binding.own_client {
            expected.push((SealedField::BindingClientSecret, entry(&key, own.sealed.clone())));
        }
        if let Some(secret) = binding.identity_provider.as_ref().and_then(|p| p.client_secret.clone()) {
            expected.push((SealedField::BindingIdpClientSecret, entry(&key, secret)));
        }
        store.bind_authorization(&binding).await.expect("bind");
    }
    let pending = fixtures::pending_connection(20, T0);
    store.insert(&pending, &StoredSecrets::default(), None, &[]).await.expect("insert pending");
    for n in 1..=5 {
        let flow = fixtures::full_flow(&fixtures::state_hash(n), &pending.ref_id, T0.plus_seconds(600));
        expected.push((SealedField::FlowPkceVerifier, entry(&flow.state_hash, flow.pkce_verifier.clone())));
        store.put_flow(&flow).await.expect("put flow");
    }
    for n in 1..=4 {
        let issuer = format!("https://auth{n}.example");
        // Two clients at one issuer (one per redirect URI) are two values.
        let per_redirect_uri = ClientRegistration {
            client_id: format!("own-client-{n}"),
            redirect_uri: format!("https://directory.example/assets/oauth/callback/auth{n}"),
            ..registration(&issuer, true)
        };
        for registered in [registration(&issuer, n != 2), per_redirect_uri] {
            if let Some(secret) = &registered.client_secret {
                expected.push((
                    SealedField::RegistrationClientSecret,
                    entry(&registration_key(&registered), secret.clone()),
                ));
            }
            store.add_registration(&registered).await.expect("add registration");
        }
    }
    for n in 1..=3u8 {
        let hook = webhook_with_previous(n, n != 2);
        expected.push((SealedField::WebhookSecret, entry(hook.id.as_str(), hook.secret.clone())));
        if let Some((sealed, _)) = &hook.previous_secret {
            expected.push((SealedField::WebhookPreviousSecret, entry(hook.id.as_str(), sealed.clone())));
        }
        store.insert_webhook(&hook).await.expect("insert webhook");
    }

    for field in SealedField::ALL {
        let seen = walk(&store, field, 2).await;
        let keys: BTreeSet<&str> = seen.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys.len(), seen.len(), "{}: no value is visited twice", field.as_str());
        let mut wanted: Vec<SealedEntry> =
            expected.iter().filter(|(f, _)| *f == field).map(|(_, e)| e.clone()).collect();
        let mut seen = seen;
        wanted.sort_by(|a, b| a.key.cmp(&b.key));
        seen.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(seen, wanted, "{}: every stored value, exactly as stored", field.as_str());
    }
}

/// A replacement writes the new bytes into that one field, and changes nothing else: not the
/// other secrets, not the connection (its `updated_at` included).
pub async fn a_replacement_writes_that_field_only_and_only_over_the_bytes_it_read<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    let key = connection.ref_id.as_str();
    let secrets = fixtures::all_secrets("before");
    store.insert(&connection, &secrets, None, &[]).await.expect("insert");
    let old = secrets.access_token.clone().expect("an access token");

    let rekeyed = fixtures::sealed("after/access_token");
    let replaced =
        store.replace_sealed(SealedField::ConnectionAccessToken, key, &old, &rekeyed).await.expect("replace");
    assert!(replaced, "the field held the bytes that were read");
    let expected = StoredSecrets { access_token: Some(rekeyed.clone()), ..secrets };
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"),
        Some(expected.clone())
    );
    assert_eq!(
        store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"),
        Some(connection.clone()),
        "the row is untouched"
    );

    let again = store
        .replace_sealed(SealedField::ConnectionAccessToken, key, &old, &fixtures::sealed("stale"))
        .await
        .expect("replace again");
    assert!(!again, "the old bytes are gone, so a second replacement finds nothing to swap");
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), Some(expected));
}

/// A token refreshed between the read and the replacement wins: the newer token stays.
pub async fn a_replacement_loses_to_a_token_update_made_after_the_read<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("first"), None, &[]).await.expect("insert");
    let read = walk(&store, SealedField::ConnectionRefreshToken, 10).await;
    assert_eq!(read.len(), 1);

    let mut refreshed = connection.clone();
    refreshed.record_refresh(None, Some(T0.plus_seconds(7_200)), T0.plus_seconds(30)).expect("refresh");
    let tokens = SecretsUpdate::Tokens {
        access_token: fixtures::sealed("rotated/access_token"),
        refresh_token: Some(fixtures::sealed("rotated/refresh_token")),
    };
    assert!(
        store
            .update(&refreshed, ConnectionStatus::Connected, &tokens, &fixtures::change(&refreshed))
            .await
            .expect("update")
    );

    let replaced = store
        .replace_sealed(
            SealedField::ConnectionRefreshToken,
            &read[0].key,
            &read[0].sealed,
            &fixtures::sealed("rekeyed/old-refresh"),
        )
        .await
        .expect("replace");
    assert!(!replaced, "the value changed since it was read");
    let stored = store
        .secrets(&fixtures::seed_owner(), &connection.ref_id)
        .await
        .expect("secrets")
        .expect("the connection exists");
    assert_eq!(stored.refresh_token, Some(fixtures::sealed("rotated/refresh_token")), "the refreshed token stays");
}

/// Nothing is written for a connection deleted, a flow taken or a field emptied meanwhile.
pub async fn a_replacement_of_a_value_that_is_gone_writes_nothing<S: ContractStore>(store: S) {
    let deleted = fixtures::connected_oauth_connection(1);
    let secrets = fixtures::all_secrets("gone");
    store.insert(&deleted, &secrets, None, &[]).await.expect("insert");
    store
        .delete(&fixtures::seed_owner(), &deleted.ref_id, &fixtures::disconnected(&deleted.ref_id))
        .await
        .expect("delete");
    let old_key = secrets.api_key.clone().expect("an api key");
    let new = fixtures::sealed("new");
    assert!(
        !store
            .replace_sealed(SealedField::ConnectionApiKey, deleted.ref_id.as_str(), &old_key, &new)
            .await
            .expect("replace")
    );
    assert_eq!(store.get(&fixtures::seed_owner(), &deleted.ref_id).await.expect("get"), None, "no row comes back");

    let pending = fixtures::pending_connection(2, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &pending.ref_id, T0.plus_seconds(600));
    store.insert(&pending, &StoredSecrets::default(), Some(flow.clone()), &[]).await.expect("insert pending");
    store.take_flow(&flow.state_hash).await.expect("take");
    let taken = store.replace_sealed(SealedField::FlowPkceVerifier, &flow.state_hash, &flow.pkce_verifier, &new).await;
    assert!(!taken.expect("replace"));
    assert_eq!(store.take_flow(&flow.state_hash).await.expect("take again"), None, "no flow comes back");

    let cleared = fixtures::connected_oauth_connection(3);
    store.insert(&cleared, &StoredSecrets::default(), None, &[]).await.expect("insert cleared");
    let empty = store.replace_sealed(SealedField::ConnectionApiKey, cleared.ref_id.as_str(), &old_key, &new).await;
    assert!(!empty.expect("replace"), "an empty field is not replaced");
    assert_eq!(
        store.secrets(&fixtures::seed_owner(), &cleared.ref_id).await.expect("secrets"),
        Some(StoredSecrets::default())
    );
}

/// A flow's PKCE verifier is replaced in place; the flow keeps every other field.
pub async fn a_pkce_verifier_is_replaced_in_its_flow<S: ContractStore>(store: S) {
    let pending = fixtures::pending_connection(1, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &pending.ref_id, T0.plus_seconds(600));
    store.insert(&pending, &StoredSecrets::default(), Some(flow.clone()), &[]).await.expect("insert");

    let rekeyed = fixtures::every_byte();
    let replaced = store
        .replace_sealed(SealedField::FlowPkceVerifier, &flow.state_hash, &flow.pkce_verifier, &rekeyed)
        .await
        .expect("replace");
    assert!(replaced);
    let taken = store.take_flow(&flow.state_hash).await.expect("take");
    assert_eq!(taken, Some(ports::PendingFlow { pkce_verifier: rekeyed, ..flow }));
}

/// A registration's client secret is replaced in place; the registration keeps every other field.
pub async fn a_client_secret_is_replaced_in_its_registration<S: ContractStore>(store: S) {
    let registered = registration("https://auth.example/tenant", true);
    store.add_registration(&registered).await.expect("add");
    let old = registered.client_secret.clone().expect("a secret");

    let rekeyed = fixtures::sealed("rekeyed/client_secret");
    let field = SealedField::RegistrationClientSecret;
    let key = registration_key(&registered);
    assert!(!store.replace_sealed(field, &registered.issuer, &old, &rekeyed).await.expect("by issuer alone"));
    assert!(store.replace_sealed(field, &key, &old, &rekeyed).await.expect("replace"));
    assert!(!store.replace_sealed(field, &key, &old, &rekeyed).await.expect("replace again"));
    let stored = store.client_registration(&registered.issuer, &registered.client_id).await.expect("read");
    assert_eq!(stored, Some(ClientRegistration { client_secret: Some(rekeyed), ..registered }));
}

/// The secret of a client given for one connection is replaced in its binding, which keeps every
/// other field.
pub async fn a_given_clients_secret_is_replaced_in_its_binding<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(4);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    let bound = binding_of(&connection.ref_id, true);
    store.bind_authorization(&bound).await.expect("bind");
    let own = bound.own_client.clone().expect("its own client");
    let rekeyed = fixtures::sealed("rekeyed/binding");
    let (field, key) = (SealedField::BindingClientSecret, connection.ref_id.as_str());
    assert!(store.replace_sealed(field, key, &own.sealed, &rekeyed).await.expect("replace"));
    assert!(!store.replace_sealed(field, key, &own.sealed, &rekeyed).await.expect("replace again"));
    let stored = store.authorization_of(&connection.ref_id).await.expect("read");
    let own_client = Some(OwnClient { sealed: rekeyed, ..own });
    assert_eq!(stored, Some(DiscoveredAuthorization { own_client, ..bound }));
}

/// The `n`-th endpoint, with a previous secret still signing when `rotated`.
fn webhook_with_previous(n: u8, rotated: bool) -> Webhook {
    let previous = rotated.then(|| (fixtures::sealed(&format!("webhooks/{n}/previous_secret")), T0.plus_seconds(60)));
    Webhook { previous_secret: previous, ..fixtures::webhook(n, "acme", None) }
}

/// An endpoint's signing secret and its previous one are each replaced in place; the endpoint
/// keeps every other field.
pub async fn a_webhook_secret_and_its_previous_one_are_replaced_in_their_endpoint<S: ContractStore>(store: S) {
    let hook = webhook_with_previous(1, true);
    store.insert_webhook(&hook).await.expect("insert webhook");
    let (previous, until) = hook.previous_secret.clone().expect("a previous secret");
    let (secret, rekeyed_previous) = (fixtures::sealed("rekeyed/secret"), fixtures::every_byte());
    let key = hook.id.as_str();
    assert!(store.replace_sealed(SealedField::WebhookSecret, key, &hook.secret, &secret).await.expect("replace"));
    assert!(!store.replace_sealed(SealedField::WebhookSecret, key, &hook.secret, &secret).await.expect("again"));
    let field = SealedField::WebhookPreviousSecret;
    assert!(store.replace_sealed(field, key, &previous, &rekeyed_previous).await.expect("replace previous"));
    let stored = store.webhook(&hook.tenant, &hook.id).await.expect("webhook");
    assert_eq!(stored, Some(Webhook { secret, previous_secret: Some((rekeyed_previous, until)), ..hook }));
}

/// A discovered connection's binding, with a client its user gave (a sealed private key) or not.
fn binding_of(ref_id: &RefId, given: bool) -> DiscoveredAuthorization {
    DiscoveredAuthorization {
        ref_id: ref_id.clone(),
        issuer: "https://as.example".into(),
        client_id: "given-client".into(),
        resource: "https://mcp.example/mcp".into(),
        at_origin: false,
        own_client: given.then(|| OwnClient {
            auth: TokenEndpointAuth::PrivateKeyJwt,
            sealed: fixtures::sealed(&format!("authorizations/{ref_id}/client_secret")),
            algorithm: Some(SigningAlgorithm::Es256),
        }),
        identity_provider: given.then(|| BoundIdentityProvider {
            issuer: "https://idp.example".into(),
            token_endpoint: "https://idp.example/token".into(),
            client_id: "directory".into(),
            client_secret: Some(fixtures::sealed(&format!("authorizations/{ref_id}/idp_client_secret"))),
        }),
    }
}

/// Twenty re-encryptions of one value at once: exactly one swap happens.
pub async fn of_twenty_concurrent_replacements_of_one_value_exactly_one_wins<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    let secrets = fixtures::all_secrets("contested");
    store.insert(&connection, &secrets, None, &[]).await.expect("insert");
    let old = secrets.api_key.clone().expect("an api key");
    let ref_id: RefId = connection.ref_id.clone();

    let outcomes = race(&store, 20, |store, index| {
        let (ref_id, old) = (ref_id.clone(), old.clone());
        async move {
            let new = fixtures::sealed(&format!("rekeyed-{index}"));
            let won = store.replace_sealed(SealedField::ConnectionApiKey, ref_id.as_str(), &old, &new).await;
            won.expect("replace").then_some(new)
        }
    })
    .await;

    let winners: Vec<Sealed> = outcomes.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "exactly one replacement swaps the value");
    let stored =
        store.secrets(&fixtures::seed_owner(), &ref_id).await.expect("secrets").expect("the connection exists");
    assert_eq!(stored.api_key, Some(winners[0].clone()), "the winner's bytes are stored");
}
