//! Reconnects racing for one connection (issue 20): the engine retried, or two of its workers
//! noticed the same expired connection. One reconnect wins; every other one is told so with
//! `409 RECONNECT_IN_PROGRESS` (not a `422`, which would say the request itself was wrong), and
//! the connection is left with the winner's flow alone.

use std::sync::Arc;
use std::time::Duration;

use domain::Timestamp;
use ports::FlowStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::DatabaseConfig;
use server::database::Database;
use test_oauth_server::{TestAuthConfig, TestAuthServer};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::expired_connection;
use crate::postgres::fresh_database_url;

const RACERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_reconnects_racing_for_one_expired_connection_one_wins_and_the_others_get_409_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    reconnects_race(&format!("sqlite://{}", dir.path().join("race.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_reconnects_racing_for_one_expired_connection_one_wins_and_the_others_get_409_on_postgres() {
    reconnects_race(&fresh_database_url().await).await;
}

async fn reconnects_race(database_url: &str) {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let (app, ref_id) = expired_connection(database_url, &auth).await;
    let body = json!({"server_name": "acme", "server_config": {"ref_id": ref_id}});
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let (app, body, start) = (app.clone(), body.clone(), Arc::clone(&start));
        racers.spawn(async move {
            start.wait().await;
            let response = app.post_json("/assets/connect", &body).await;
            (response.status(), response.json::<Value>().await.unwrap())
        });
    }
    let answers = racers.join_all().await;

    let (won, lost): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(status, _)| *status == StatusCode::OK);
    assert_eq!(won.len(), 1, "exactly one reconnect wins: {won:?} {lost:?}");
    assert_eq!((won[0].1["ref_id"].as_str(), won[0].1["status"].as_str()), (Some(&*ref_id), Some("pending_oauth")));
    for (status, body) in &lost {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "RECONNECT_IN_PROGRESS", "{body}");
        assert_eq!(body["details"]["status"], "pending_oauth", "{body}");
    }
    let events: Vec<Value> = app.get(&format!("/assets/connections/{ref_id}/events")).await.json().await.unwrap();
    let reauthorized = events.iter().filter(|e| e["event"] == "reauthorized").count();
    assert_eq!(reauthorized, 1, "{events:?}");
    app.stop().await;
    assert_eq!(pending_flows(database_url, &ref_id).await, 1, "the winner's flow, and no loser's");
}

/// How many flows of `ref_id` the store holds (taking them all: the service is gone).
async fn pending_flows(database_url: &str, ref_id: &str) -> usize {
    let config = DatabaseConfig {
        url: database_url.to_owned(),
        pool_size: 2,
        timeout: Duration::from_secs(5),
        migrate_on_start: false,
    };
    let every = Timestamp::from_unix(i64::from(i32::MAX));
    let flows = match Database::open(&config).await.expect("the database opens") {
        Database::Sqlite(store) => store.take_expired_flows(every, 1000).await,
        Database::Postgres(store) => store.take_expired_flows(every, 1000).await,
    };
    flows.expect("the flows are read").iter().filter(|f| f.ref_id.as_str() == ref_id).count()
}
