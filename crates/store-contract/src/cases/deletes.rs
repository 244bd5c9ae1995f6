//! `delete`: returns the secrets to revoke, exactly once, and takes the flows along.

use ports::StoredSecrets;

use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

/// The first delete hands back the secrets; a second finds nothing.
pub async fn a_delete_returns_the_secrets_once<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    store.insert(&connection, &fixtures::all_secrets("doomed"), None, &[]).await.expect("insert");

    assert_eq!(
        store
            .delete(&fixtures::seed_owner(), &connection.ref_id, &fixtures::disconnected(&connection.ref_id))
            .await
            .expect("delete"),
        Some(fixtures::all_secrets("doomed"))
    );
    assert_eq!(
        store
            .delete(&fixtures::seed_owner(), &connection.ref_id, &fixtures::disconnected(&connection.ref_id))
            .await
            .expect("second delete"),
        None
    );
    assert_eq!(store.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get"), None);
    assert_eq!(store.secrets(&fixtures::seed_owner(), &connection.ref_id).await.expect("secrets"), None);
}

/// A deleted connection's flows go with it (its callback can no longer complete); other
/// connections and their flows stay.
pub async fn deleting_a_connection_deletes_its_flows_and_nothing_else<S: ContractStore>(store: S) {
    let doomed = fixtures::pending_connection(1, T0);
    let kept = fixtures::pending_connection(2, T0.plus_seconds(1));
    let first_flow = fixtures::full_flow(&fixtures::state_hash(1), &doomed.ref_id, T0.plus_seconds(600));
    let second_flow = fixtures::bare_flow(&fixtures::state_hash(2), &doomed.ref_id, T0.plus_seconds(-5));
    let kept_flow = fixtures::full_flow(&fixtures::state_hash(3), &kept.ref_id, T0.plus_seconds(600));
    store.insert(&doomed, &StoredSecrets::default(), Some(first_flow.clone()), &[]).await.expect("insert doomed");
    store.put_flow(&second_flow).await.expect("put second flow");
    store.insert(&kept, &StoredSecrets::default(), Some(kept_flow.clone()), &[]).await.expect("insert kept");

    assert_eq!(
        store
            .delete(&fixtures::seed_owner(), &doomed.ref_id, &fixtures::disconnected(&doomed.ref_id))
            .await
            .expect("delete"),
        Some(StoredSecrets::default())
    );

    assert_eq!(store.take_flow(&first_flow.state_hash).await.expect("take first"), None);
    assert_eq!(store.take_flow(&second_flow.state_hash).await.expect("take second"), None);
    let sweep = store.take_expired_flows(T0.plus_seconds(10_000), 100).await.expect("sweep");
    assert_eq!(sweep, vec![kept_flow], "only the other connection's flow is left");
    assert_eq!(store.list(&fixtures::seed_owner()).await.expect("list"), vec![kept]);
}

/// Twenty callers delete one connection at once: exactly one gets its secrets to revoke.
pub async fn of_twenty_concurrent_deletes_exactly_one_gets_the_secrets<S: ContractStore>(store: S) {
    let connection = fixtures::connected_oauth_connection(1);
    let ref_id = connection.ref_id.clone();
    store.insert(&connection, &fixtures::all_secrets("contested"), None, &[]).await.expect("insert");

    let outcomes = race(&store, 20, |store, _| {
        let ref_id = ref_id.clone();
        async move {
            store.delete(&fixtures::seed_owner(), &ref_id, &fixtures::disconnected(&ref_id)).await.expect("delete")
        }
    })
    .await;

    let winners: Vec<_> = outcomes.into_iter().flatten().collect();
    assert_eq!(winners, vec![fixtures::all_secrets("contested")], "exactly one delete gets the secrets");
    let events = store.events(&fixtures::seed_owner(), &ref_id).await.expect("events");
    assert_eq!(events, vec![fixtures::disconnected(&ref_id)], "and only its event is recorded");
    assert_eq!(store.get(&fixtures::seed_owner(), &ref_id).await.expect("get"), None);
}
