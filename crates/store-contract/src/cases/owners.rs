//! Owners: every read and write a caller reaches is scoped by (tenant, end user). Another
//! owner's connection is exactly as absent as one that never existed, and nothing it does
//! changes it; only the background reads (`get_any`, `pending_before`) see every owner.

use domain::{Connection, ConnectionStatus, Owner, RefId};
use ports::{AuditKind, SecretsUpdate, StoredSecrets};

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// Alice of tenant acme, Bob of the same tenant, and a user of another tenant with Alice's id.
fn three_owners() -> [Owner; 3] {
    [fixtures::owner("acme", "alice"), fixtures::owner("acme", "bob"), fixtures::owner("globex", "alice")]
}

/// What one owner's connection `ref_id` looks like from `owner`: everything a caller can read.
async fn seen_by<S: ContractStore>(store: &S, owner: &Owner, ref_id: &RefId) -> Seen {
    Seen {
        connection: store.get(owner, ref_id).await.expect("get"),
        secrets: store.secrets(owner, ref_id).await.expect("secrets"),
        together: store.get_with_secrets(owner, ref_id).await.expect("get with secrets"),
        listed: store.list(owner).await.expect("list").into_iter().filter(|c| &c.ref_id == ref_id).collect(),
        events: store.events(owner, ref_id).await.expect("events").len(),
    }
}

#[derive(Debug, PartialEq)]
struct Seen {
    connection: Option<Connection>,
    secrets: Option<StoredSecrets>,
    together: Option<(Connection, StoredSecrets)>,
    listed: Vec<Connection>,
    events: usize,
}

impl Seen {
    const NOTHING: Seen = Seen { connection: None, secrets: None, together: None, listed: Vec::new(), events: 0 };
}

/// Another user of the same tenant, and the same user id in another tenant, find nothing of
/// Alice's connection (get, secrets, list, events, her flow at a keyed callback) and change
/// nothing (update, delete): afterwards Alice sees it exactly as before, with no event added.
pub async fn another_owners_connection_reads_as_missing_and_changes_nothing<S: ContractStore>(store: S) {
    let [alice, bob, alice_elsewhere] = three_owners();
    let connection = fixtures::owned_by(&alice, fixtures::connected_oauth_connection(1));
    let secrets = fixtures::all_secrets("alice");
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    let created = fixtures::event_of(&alice, fixtures::event(&connection.ref_id, AuditKind::Created, None, T0));
    store.insert(&connection, &secrets, None, std::slice::from_ref(&created)).await.expect("insert");
    store.put_flow(&flow).await.expect("put flow");
    let before = seen_by(&store, &alice, &connection.ref_id).await;
    assert_eq!(before.connection.as_ref(), Some(&connection));

    for other in [&bob, &alice_elsewhere] {
        assert_eq!(seen_by(&store, other, &connection.ref_id).await, Seen::NOTHING, "{other:?} reads nothing");
        let gone = fixtures::event_of(other, fixtures::disconnected(&connection.ref_id));
        assert_eq!(store.delete(other, &connection.ref_id, &gone).await.expect("delete"), None, "{other:?}");
        let mut theirs = fixtures::owned_by(other, connection.clone());
        theirs.expire("stolen", T0).expect("a connected connection expires");
        let event = fixtures::event_of(other, fixtures::change(&theirs));
        let tokens = SecretsUpdate::Tokens { access_token: fixtures::sealed("theirs"), refresh_token: None };
        let written = store.update(&theirs, ConnectionStatus::Connected, &tokens, &event).await.expect("update");
        assert!(!written, "{other:?} updates nothing");
        let browser = flow.browser_hash.as_deref();
        let taken = store.take_flow_with_connection(&flow.state_hash, Some(other), browser).await.expect("take");
        assert_eq!(taken, None, "{other:?} cannot complete Alice's flow");
    }

    assert_eq!(seen_by(&store, &alice, &connection.ref_id).await, before, "Alice's connection is untouched");
    assert_eq!(store.events(&alice, &connection.ref_id).await.expect("events"), vec![created]);
    assert_eq!(store.get_any(&connection.ref_id).await.expect("get any"), Some(connection.clone()));
    let browser = flow.browser_hash.as_deref();
    let taken = store.take_flow_with_connection(&flow.state_hash, Some(&alice), browser).await.expect("take");
    assert_eq!(taken, Some((flow, Some(connection))), "Alice's own keyed callback takes her flow");
}

/// Each owner lists exactly its own connections, oldest first, however they interleave.
pub async fn each_owner_lists_only_its_own_connections<S: ContractStore>(store: S) {
    let owners = three_owners();
    let mut expected: [Vec<Connection>; 3] = Default::default();
    for n in 0..12u8 {
        let i = usize::from(n % 3);
        let mut connection = fixtures::owned_by(&owners[i], fixtures::bare_connection(n));
        connection.created_at = T0.plus_seconds(i64::from(n));
        store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
        expected[i].push(connection);
    }
    for (owner, expected) in owners.iter().zip(expected) {
        assert_eq!(store.list(owner).await.expect("list"), expected, "{owner:?}");
    }
    assert_eq!(store.list(&fixtures::seed_owner()).await.expect("list"), vec![], "the default owner has none");
}

/// The sweeper's read sees every owner's `pending_oauth` connections last written before the
/// cutoff, oldest first, and nothing else.
pub async fn pending_connections_of_every_owner_are_found_before_a_cutoff<S: ContractStore>(store: S) {
    let [alice, bob, carol] = three_owners();
    let old_alice = fixtures::owned_by(&alice, fixtures::pending_connection(1, T0.plus_seconds(-100)));
    let old_bob = fixtures::owned_by(&bob, fixtures::pending_connection(2, T0.plus_seconds(-50)));
    let recent = fixtures::owned_by(&carol, fixtures::pending_connection(3, T0.plus_seconds(10)));
    let connected = fixtures::owned_by(&carol, fixtures::connected_oauth_connection(4));
    for c in [&recent, &old_bob, &connected, &old_alice] {
        store.insert(c, &StoredSecrets::default(), None, &[]).await.expect("insert");
    }
    assert_eq!(store.pending_before(T0).await.expect("pending"), vec![old_alice, old_bob]);
}

/// Random owners (users that share ids across tenants) own random connections; random probes
/// of (owner, ref id) by get, secrets, get-with-secrets and delete find a connection exactly
/// when the prober owns it, and every owner's list is exactly its own at the end.
pub async fn random_owners_and_ref_ids_never_reach_across_owners<S: ContractStore>(store: S) {
    let owners: Vec<Owner> = ["acme", "globex", "default"]
        .iter()
        .flat_map(|t| ["alice", "bob", "default"].map(|u| fixtures::owner(t, u)))
        .collect();
    let mut rng = fixtures::Rng(0x5EED_0F0A_110C_E5E5);
    let mut model: Vec<(Connection, bool)> = Vec::new();
    for n in 0..24u8 {
        let owner = &owners[rng.below(owners.len())];
        let connection = fixtures::owned_by(owner, fixtures::bare_connection(n));
        store.insert(&connection, &fixtures::all_secrets(&n.to_string()), None, &[]).await.expect("insert");
        model.push((connection, true));
    }
    let ghost = fixtures::ref_id(200);
    for _ in 0..300 {
        let prober = &owners[rng.below(owners.len())];
        let pick = rng.below(model.len() + 1);
        let (ref_id, stored) = match model.get(pick) {
            Some((c, alive)) => (c.ref_id.clone(), alive.then_some(c).filter(|c| &c.owner == prober).cloned()),
            None => (ghost.clone(), None),
        };
        assert_eq!(store.get(prober, &ref_id).await.expect("get"), stored, "{prober:?} {ref_id}");
        let secrets = store.secrets(prober, &ref_id).await.expect("secrets");
        assert_eq!(secrets.is_some(), stored.is_some(), "{prober:?} {ref_id}");
        let together = store.get_with_secrets(prober, &ref_id).await.expect("get with secrets");
        assert_eq!(together.map(|(c, _)| c), stored, "{prober:?} {ref_id}");
        if rng.below(6) == 0 {
            let event = fixtures::event_of(prober, fixtures::disconnected(&ref_id));
            let deleted = store.delete(prober, &ref_id, &event).await.expect("delete");
            assert_eq!(deleted.is_some(), stored.is_some(), "{prober:?} deletes only its own");
            if let (Some(_), Some((_, alive))) = (stored, model.get_mut(pick)) {
                *alive = false;
            }
        }
    }
    for owner in &owners {
        let mut expected: Vec<Connection> =
            model.iter().filter(|(c, alive)| *alive && &c.owner == owner).map(|(c, _)| c.clone()).collect();
        expected.sort_by(|a, b| a.ref_id.as_str().cmp(b.ref_id.as_str()));
        assert_eq!(store.list(owner).await.expect("list"), expected, "{owner:?}");
    }
}
