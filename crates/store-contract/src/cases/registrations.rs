//! Client registrations per issuer and redirect URI (found again by client id), and the
//! authorization server of discovered connections.

use domain::{SigningAlgorithm, Timestamp, TokenEndpointAuth};
use ports::{BoundIdentityProvider, ClientRegistration, DiscoveredAuthorization, OwnClient, StoredSecrets};

use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

const ISSUER: &str = "https://auth.example/tenant-1";
const SHARED_URI: &str = "https://directory.example/assets/oauth/callback";
const OWN_URI: &str = "https://directory.example/assets/oauth/callback/auth-example-1";

fn registration(issuer: &str, client_id: &str) -> ClientRegistration {
    ClientRegistration {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: Some(fixtures::sealed(&format!("registrations/{issuer}/client_secret"))),
        auth: TokenEndpointAuth::ClientSecretPost,
        redirect_uri: SHARED_URI.into(),
        secret_expires_at: Some(T0.plus_seconds(86_400)),
        created_at: T0,
    }
}

fn binding(n: u8, issuer: &str) -> DiscoveredAuthorization {
    DiscoveredAuthorization {
        ref_id: fixtures::ref_id(n),
        issuer: issuer.to_owned(),
        client_id: format!("client-{n}"),
        resource: format!("https://mcp{n}.example/mcp"),
        at_origin: false,
        own_client: None,
        identity_provider: None,
    }
}

/// A registration reads back with every field, by its redirect URI and by its client id; a
/// public one without its optional fields; an issuer is matched exactly (another path is another
/// issuer), and so is a redirect URI.
pub async fn a_registration_reads_back_with_every_field<S: ContractStore>(store: S) {
    let full = registration(ISSUER, "client-a");
    let public = ClientRegistration {
        client_secret: None,
        auth: TokenEndpointAuth::None,
        secret_expires_at: None,
        ..registration("https://other.example", "client-b")
    };
    assert_eq!(store.add_registration(&full).await.expect("add"), full);
    assert_eq!(store.add_registration(&public).await.expect("add public"), public);

    assert_eq!(store.registration(ISSUER, SHARED_URI).await.expect("get"), Some(full.clone()));
    assert_eq!(store.client_registration(ISSUER, "client-a").await.expect("by client"), Some(full));
    assert_eq!(store.registration("https://other.example", SHARED_URI).await.expect("public"), Some(public));
    assert_eq!(store.registration("https://auth.example/tenant-2", SHARED_URI).await.expect("unknown"), None);
    assert_eq!(store.registration("https://auth.example/tenant-1/", SHARED_URI).await.expect("other form"), None);
    assert_eq!(store.registration(ISSUER, OWN_URI).await.expect("other redirect URI"), None);
    assert_eq!(store.client_registration(ISSUER, "client-b").await.expect("client elsewhere"), None);
}

/// The first registration at an issuer for a redirect URI is kept: a later one gets the stored
/// one back, and of twenty concurrent ones every caller gets the same winner.
pub async fn the_first_registration_at_an_issuer_is_kept<S: ContractStore>(store: S) {
    let first = registration(ISSUER, "client-first");
    assert_eq!(store.add_registration(&first).await.expect("add"), first);
    assert_eq!(store.add_registration(&registration(ISSUER, "client-late")).await.expect("add again"), first);
    assert_eq!(store.client_registration(ISSUER, "client-late").await.expect("the loser"), None);

    let racing_issuer = "https://race.example";
    let results = race(&store, 20, |store, i| async move {
        store.add_registration(&registration(racing_issuer, &format!("client-{i}"))).await.expect("add")
    })
    .await;
    let stored = store.registration(racing_issuer, SHARED_URI).await.expect("get").expect("one was kept");
    assert!(results.iter().all(|r| *r == stored), "every caller sees the one that was kept");
}

/// A client registered for another redirect URI at the same issuer is another registration:
/// both are kept, each found by its redirect URI and by its client id, so connections bound to
/// the first keep their client while new flows use the second.
pub async fn registrations_for_two_redirect_uris_at_one_issuer_are_both_kept<S: ContractStore>(store: S) {
    let shared = registration(ISSUER, "client-shared");
    let own = ClientRegistration { redirect_uri: OWN_URI.into(), ..registration(ISSUER, "client-own") };
    assert_eq!(store.add_registration(&shared).await.expect("add shared"), shared);
    assert_eq!(store.add_registration(&own).await.expect("add own"), own);

    assert_eq!(store.registration(ISSUER, SHARED_URI).await.expect("shared"), Some(shared.clone()));
    assert_eq!(store.registration(ISSUER, OWN_URI).await.expect("own"), Some(own.clone()));
    assert_eq!(store.client_registration(ISSUER, "client-shared").await.expect("by id"), Some(shared));
    assert!(store.delete_registration(ISSUER, "client-shared").await.expect("delete shared"));
    assert_eq!(store.client_registration(ISSUER, "client-own").await.expect("the other stays"), Some(own));
}

/// A retired client is no longer offered for new flows, so another can be registered for its
/// redirect URI, but its connections still find it by its client id until its secret stops
/// working; then the next retirement at that issuer deletes it.
pub async fn a_retired_registration_serves_its_connections_until_its_secret_expires<S: ContractStore>(store: S) {
    let old = registration(ISSUER, "client-old");
    store.add_registration(&old).await.expect("add");
    assert!(store.retire_registration(ISSUER, "client-old", T0).await.expect("retire"));
    assert!(!store.retire_registration(ISSUER, "client-old", T0).await.expect("retire again"));
    assert_eq!(store.registration(ISSUER, SHARED_URI).await.expect("for new flows"), None);
    assert_eq!(store.client_registration(ISSUER, "client-old").await.expect("by id"), Some(old));

    let new = registration(ISSUER, "client-new");
    assert_eq!(store.add_registration(&new).await.expect("add for the same URI"), new);
    assert_eq!(store.registration(ISSUER, SHARED_URI).await.expect("for new flows"), Some(new.clone()));

    let after_expiry = T0.plus_seconds(86_401);
    assert!(store.retire_registration(ISSUER, "client-new", after_expiry).await.expect("retire the new one"));
    assert_eq!(store.client_registration(ISSUER, "client-old").await.expect("expired"), None, "purged");
    assert_eq!(store.client_registration(ISSUER, "client-new").await.expect("expired too"), None, "purged");
}

/// A client id the server hands out again, for another redirect URI, is that client again:
/// found for the new redirect URI (and no longer for the old one), never an error.
pub async fn a_client_id_handed_out_again_for_another_redirect_uri_serves_it<S: ContractStore>(store: S) {
    store.add_registration(&registration(ISSUER, "client-1")).await.expect("add");
    let again = ClientRegistration { redirect_uri: OWN_URI.into(), ..registration(ISSUER, "client-1") };
    assert_eq!(store.add_registration(&again).await.expect("the same client id"), again);
    assert_eq!(store.registration(ISSUER, OWN_URI).await.expect("new URI"), Some(again.clone()));
    assert_eq!(store.client_registration(ISSUER, "client-1").await.expect("by id"), Some(again));
}

/// A registration is deleted only by its client id: another client at the issuer stays.
pub async fn a_registration_is_deleted_only_while_it_is_the_client_named<S: ContractStore>(store: S) {
    store.add_registration(&registration(ISSUER, "client-old")).await.expect("add");

    assert!(!store.delete_registration(ISSUER, "client-other").await.expect("delete other"));
    assert!(!store.delete_registration("https://other.example", "client-old").await.expect("other issuer"));
    assert!(store.registration(ISSUER, SHARED_URI).await.expect("get").is_some());
    assert!(store.delete_registration(ISSUER, "client-old").await.expect("delete"));
    assert!(!store.delete_registration(ISSUER, "client-old").await.expect("delete again"));
    assert_eq!(store.registration(ISSUER, SHARED_URI).await.expect("get"), None);
    assert_eq!(store.client_registration(ISSUER, "client-old").await.expect("by id"), None);

    let newer = registration(ISSUER, "client-new");
    assert_eq!(store.add_registration(&newer).await.expect("re-register"), newer);
}

/// A connection's authorization server reads back (whether it is a server's origin, too, and the
/// sealed client its user gave), is replaced by a second binding, and goes away with the
/// connection, that client's secret with it; other connections keep theirs.
pub async fn a_discovered_authorization_lives_and_dies_with_its_connection<S: ContractStore>(store: S) {
    let (doomed, kept) = (fixtures::pending_connection(1, T0), fixtures::pending_connection(2, T0));
    store.insert(&doomed, &StoredSecrets::default(), None, &[]).await.expect("insert");
    store.insert(&kept, &StoredSecrets::default(), None, &[]).await.expect("insert");
    let first = binding(1, ISSUER);
    store.bind_authorization(&first).await.expect("bind");
    store.bind_authorization(&binding(2, "https://other.example")).await.expect("bind other");
    assert_eq!(store.authorization_of(&doomed.ref_id).await.expect("get"), Some(first.clone()));

    let moved = DiscoveredAuthorization { issuer: "https://mcp1.example".into(), at_origin: true, ..first };
    store.bind_authorization(&moved).await.expect("rebind");
    assert_eq!(store.authorization_of(&doomed.ref_id).await.expect("get"), Some(moved.clone()));
    for (auth, algorithm) in
        [(TokenEndpointAuth::PrivateKeyJwt, Some(SigningAlgorithm::Rs256)), (TokenEndpointAuth::ClientSecretPost, None)]
    {
        let sealed = fixtures::sealed(&format!("authorizations/{}/client_secret", doomed.ref_id));
        let own = DiscoveredAuthorization { own_client: Some(OwnClient { auth, sealed, algorithm }), ..moved.clone() };
        store.bind_authorization(&own).await.expect("rebind with its own client");
        assert_eq!(store.authorization_of(&doomed.ref_id).await.expect("get"), Some(own));
    }
    let idp = BoundIdentityProvider {
        issuer: "https://idp.example".into(),
        token_endpoint: "https://idp.example/token".into(),
        client_id: "directory".into(),
        client_secret: Some(fixtures::sealed(&format!("authorizations/{}/idp_client_secret", doomed.ref_id))),
    };
    for client_secret in [idp.client_secret.clone(), None] {
        let provider = BoundIdentityProvider { client_secret, ..idp.clone() };
        let with_idp = DiscoveredAuthorization { identity_provider: Some(provider), ..moved.clone() };
        store.bind_authorization(&with_idp).await.expect("rebind with an identity provider");
        assert_eq!(store.authorization_of(&doomed.ref_id).await.expect("get"), Some(with_idp));
    }
    store.bind_authorization(&moved).await.expect("rebind without a client of its own");
    assert_eq!(store.authorization_of(&doomed.ref_id).await.expect("get"), Some(moved), "its client is gone");

    store
        .delete(&fixtures::seed_owner(), &doomed.ref_id, &fixtures::disconnected(&doomed.ref_id))
        .await
        .expect("delete");
    assert_eq!(store.authorization_of(&doomed.ref_id).await.expect("get after delete"), None);
    assert_eq!(
        store.authorization_of(&kept.ref_id).await.expect("get kept"),
        Some(binding(2, "https://other.example"))
    );
}

/// Only a stored connection can be bound; the refusal leaves nothing behind.
pub async fn binding_an_unknown_connection_fails_and_stores_nothing<S: ContractStore>(store: S) {
    let orphan = binding(7, ISSUER);
    assert!(store.bind_authorization(&orphan).await.is_err());
    assert_eq!(store.authorization_of(&orphan.ref_id).await.expect("get"), None);
}

/// Registrations belong to issuers, not connections: deleting connections leaves them.
pub async fn registrations_outlive_connections<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(3);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    store.add_registration(&registration(ISSUER, "client-3")).await.expect("add");
    store.bind_authorization(&binding(3, ISSUER)).await.expect("bind");
    store
        .delete(&fixtures::seed_owner(), &connection.ref_id, &fixtures::disconnected(&connection.ref_id))
        .await
        .expect("delete");

    let kept = store.registration(ISSUER, SHARED_URI).await.expect("get").expect("still there");
    assert_eq!(kept.client_id, "client-3");
    assert_eq!(kept.secret_expires_at, Some(Timestamp::from_unix(T0.unix() + 86_400)));
}
