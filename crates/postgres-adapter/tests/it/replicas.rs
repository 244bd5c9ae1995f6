//! Several replicas (several pools) on one database see one state.

use ports::{ConnectionStore, FlowStore};
use postgres_adapter::PgStore;
use store_contract::fixtures::{self, T0};

use crate::support::{config, empty_schema, url_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_see_each_others_writes() {
    let url = url_of(&empty_schema().await);
    let (one, two) = tokio::join!(PgStore::connect(&url, config()), PgStore::connect(&url, config()));
    let (one, two) = (one.expect("replica one"), two.expect("replica two"));

    let connection = fixtures::pending_connection(1, T0);
    let flow = fixtures::full_flow(&fixtures::state_hash(1), &connection.ref_id, T0.plus_seconds(600));
    one.insert(&connection, &fixtures::all_secrets("one"), Some(flow.clone()), &[]).await.expect("insert on one");

    assert_eq!(two.list(&fixtures::seed_owner()).await.expect("list on two"), vec![connection.clone()]);
    let (took_one, took_two) = tokio::join!(one.take_flow(&flow.state_hash), two.take_flow(&flow.state_hash));
    let taken: Vec<_> =
        [took_one.expect("take on one"), took_two.expect("take on two")].into_iter().flatten().collect();
    assert_eq!(taken, vec![flow], "the callback's state is used once across replicas");

    assert_eq!(
        two.delete(&fixtures::seed_owner(), &connection.ref_id, &fixtures::disconnected(&connection.ref_id))
            .await
            .expect("delete on two"),
        Some(fixtures::all_secrets("one"))
    );
    assert_eq!(one.get(&fixtures::seed_owner(), &connection.ref_id).await.expect("get on one"), None);
    assert_eq!(one.list(&fixtures::seed_owner()).await.expect("list on one"), vec![]);
}
