//! The event feed: a tenant's events in order, a page at a time, one user's with
//! `X-End-User-Id`, never another tenant's; a read with `wait` answers when an event arrives.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{connect_keyed, disconnect, kinds, service};
use crate::backends::{Backend, on_both_backends};
use crate::helpers::{Spawn, TestApp, assert_error};
use crate::tenants::{ACME_KEY, BETA_KEY, keys_file, keys_toml};

async fn read(app: &TestApp, query: &str, user: Option<&str>) -> Value {
    let mut request = app.client.get(app.url(&format!("/assets/events{query}"))).header("X-Engine-Key", &app.key);
    if let Some(user) = user {
        request = request.header("X-End-User-Id", user);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Every event of the tenant once, in order, read three at a time; a user's read lists only
/// theirs; a read at the end answers no event and the same cursor.
async fn the_feed_lists_the_tenants_events_in_order_a_page_at_a_time(backend: Backend) {
    let app = service(backend, &[]).await;
    let mut made = Vec::new();
    for user in ["alice", "bob", "alice"] {
        let ref_id = connect_keyed(&app, Some(user)).await;
        disconnect(&app, &ref_id, Some(user)).await;
        made.push(("connection.connected".to_owned(), ref_id.clone()));
        made.push(("connection.disconnected".to_owned(), ref_id));
    }

    // PostgreSQL lists an event once no transaction that could precede it still runs.
    super::wait_until(Duration::from_secs(30), "the feed to list every event", || async {
        read(&app, "", None).await["events"].as_array().unwrap().len() == made.len()
    })
    .await;
    let (mut listed, mut cursor) = (Vec::new(), String::new());
    loop {
        let after = if cursor.is_empty() { String::new() } else { format!("&after={cursor}") };
        let page = read(&app, &format!("?limit=3{after}"), None).await;
        let events = page["events"].as_array().unwrap().clone();
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if events.is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            break;
        }
        listed.extend(events);
        cursor = next;
    }
    assert_eq!(kinds(&listed), made);

    let bobs = read(&app, "", Some("bob")).await;
    let bobs = bobs["events"].as_array().unwrap();
    assert_eq!(bobs.len(), 2);
    assert!(bobs.iter().all(|e| e["data"]["user_id"] == "bob"), "{bobs:?}");
}

/// A read that waits answers with the event that arrives meanwhile.
async fn a_read_that_waits_answers_with_the_event_that_arrives(backend: Backend) {
    let app = service(backend, &[]).await;
    let start = read(&app, "", None).await;
    let cursor = start["next_cursor"].as_str().unwrap().to_owned();
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move { read(&app, &format!("?wait=30&after={cursor}"), None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the read did not wait");
    let ref_id = connect_keyed(&app, None).await;
    let page = waiting.await.unwrap();
    assert_eq!(kinds(page["events"].as_array().unwrap()), [("connection.connected".to_owned(), ref_id)]);
}

on_both_backends! {
    the_feed_lists_the_tenants_events_in_order_a_page_at_a_time =>
        the_feed_lists_the_tenants_events_in_order_on_sqlite,
        the_feed_lists_the_tenants_events_in_order_on_postgres;
    a_read_that_waits_answers_with_the_event_that_arrives =>
        a_read_that_waits_answers_with_the_arriving_event_on_sqlite,
        a_read_that_waits_answers_with_the_arriving_event_on_postgres;
}

/// Another tenant's feed never lists an event of this one.
#[tokio::test]
async fn a_tenants_feed_never_lists_another_tenants_events() {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let app = Spawn::default().var("ENGINE_KEYS_FILE", &path.display().to_string()).start().await;
    let (mut acme, mut beta) = (app.clone(), app.clone());
    acme.key = ACME_KEY.to_owned();
    beta.key = BETA_KEY.to_owned();
    let mine = connect_keyed(&acme, Some("alice")).await;
    connect_keyed(&beta, Some("alice")).await;

    super::wait_until(Duration::from_secs(30), "acme's feed", || async {
        !read(&acme, "", None).await["events"].as_array().unwrap().is_empty()
    })
    .await;
    let page = read(&acme, "", None).await;
    assert_eq!(kinds(page["events"].as_array().unwrap()), [("connection.connected".to_owned(), mine.clone())]);
    let alices = read(&acme, "", Some("alice")).await;
    assert_eq!(kinds(alices["events"].as_array().unwrap()), [("connection.connected".to_owned(), mine)]);
    assert_eq!(read(&app, "", None).await["events"], serde_json::json!([]), "tenant default saw another's");
}

/// A bad query is `422` naming its parameter.
#[tokio::test]
async fn a_bad_feed_query_is_refused_naming_its_parameter() {
    let app = Spawn::default().start().await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?wait=31", "wait"),
        ("?wait=-1", "wait"),
        ("?after=not-a-cursor", "after"),
        ("?after=LTE", "after"),
        ("?cursor=x", "cursor"),
    ] {
        let response = app.get(&format!("/assets/events{query}")).await;
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        assert_eq!(body["details"]["field"], field, "{query}: {body}");
    }
}
