//! Webhook endpoints and their deliveries: signed so the Standard Webhooks library verifies
//! them (and refuses a wrong secret, a replay later, an old timestamp), retried, kept in order
//! per connection, filtered, rotated with an overlap, disabled by `410 Gone`, retried by hand,
//! and scoped to their tenant.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Receiver, connect_keyed, disconnect, kinds, register, service};
use crate::backends::{Backend, on_both_backends};
use crate::helpers::{Spawn, assert_error};
use crate::tenants::{ACME_KEY, BETA_KEY, keys_file, keys_toml};

/// A connection made and removed reaches a receiver that verifies both events with the library,
/// in order, with the documented payload; the feed lists the same events with the same ids.
async fn a_connection_made_and_removed_reaches_a_receiver_that_verifies_it(backend: Backend) {
    let app = service(backend, &[]).await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;

    let ref_id = connect_keyed(&app, Some("alice")).await;
    disconnect(&app, &ref_id, Some("alice")).await;

    let taken = receiver.wait_for(2).await;
    let expected = [("connection.connected", &ref_id), ("connection.disconnected", &ref_id)];
    assert_eq!(kinds(&taken), expected.map(|(t, r)| (t.to_owned(), r.clone())));
    let connected = &taken[0];
    assert_eq!(connected["data"]["server_name"], "keyed");
    assert_eq!(connected["data"]["user_id"], "alice");
    assert_eq!(
        (connected["data"]["status"].as_str(), connected["data"]["previous_status"].as_str()),
        (Some("connected"), None)
    );
    assert_eq!(connected["data"]["reason_code"], "provisioned");
    assert_eq!(taken[1]["data"]["previous_status"], "connected");
    assert_eq!(taken[1]["data"]["status"], "disconnected");
    assert_eq!(taken[1]["data"]["reason_code"], "user_disconnected");
    let received = receiver.received().await;
    assert_eq!(received[0]["id"], taken[0]["id"], "webhook-id is the event's id");
    assert!(!received.iter().any(|r| r.to_string().contains("sk-live-Distinctive-4242")), "the API key travelled");

    // PostgreSQL lists an event once no transaction that could precede it still runs.
    let feed = || async { app.get("/assets/events").await.json::<Value>().await.unwrap()["events"].clone() };
    super::wait_until(std::time::Duration::from_secs(30), "the feed", || async {
        feed().await.as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(feed().await.as_array().unwrap(), &taken, "the feed and the webhook carry the same events");
}

/// The library refuses the very requests it took when the secret is wrong, when the request is
/// replayed ten minutes later, or when its timestamp lies ten minutes ahead of the receiver.
async fn a_wrong_secret_a_later_replay_or_a_skewed_timestamp_fail_the_librarys_check(backend: Backend) {
    let app = service(backend, &[]).await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;
    connect_keyed(&app, None).await;
    receiver.wait_for(1).await;

    assert_eq!(receiver.check(0, &secret, 0).await, Ok(()), "the genuine request verifies");
    let wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(receiver.check(0, wrong, 0).await.is_err_and(|e| e.contains("signature")), "a wrong secret passed");
    let replay = receiver.check(0, &secret, 600).await;
    assert!(replay.as_ref().is_err_and(|e| e.contains("too old")), "a replay ten minutes later passed: {replay:?}");
    let early = receiver.check(0, &secret, -600).await;
    assert!(early.as_ref().is_err_and(|e| e.contains("too new")), "a timestamp from the future passed: {early:?}");
}

/// A receiver that answers `500` then `200` gets the event on the retry; the deliveries list
/// shows the two attempts and the last status.
async fn a_receiver_that_answers_500_then_200_gets_the_event_on_a_retry(backend: Backend) {
    let app = service(backend, &[]).await;
    let receiver = Receiver::start().await;
    let (id, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;
    receiver.script(&[500]).await;
    connect_keyed(&app, None).await;

    receiver.wait_for(1).await;
    let received = receiver.received().await;
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0]["id"], received[1]["id"], "a retry carries the same webhook-id");
    let deliveries: Value = app.get(&format!("/assets/webhooks/{id}/deliveries")).await.json().await.unwrap();
    let delivery = &deliveries[0];
    assert_eq!((delivery["state"].as_str(), delivery["attempts"].as_u64()), (Some("delivered"), Some(2)), "{delivery}");
    assert_eq!(delivery["last_status_code"], 204);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert_eq!(delivery["id"], received[0]["id"]);
}

/// While the receiver refuses a connection's first event, its later events wait; another
/// connection's events are not held up by it, and every connection's arrive in order.
async fn the_later_events_of_a_connection_wait_for_its_earlier_ones(backend: Backend) {
    let app = service(backend, &[]).await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;
    receiver.script(&[503, 503]).await;
    let first = connect_keyed(&app, Some("alice")).await;
    disconnect(&app, &first, Some("alice")).await;
    let second = connect_keyed(&app, Some("bob")).await;
    disconnect(&app, &second, Some("bob")).await;

    let taken = kinds(&receiver.wait_for(4).await);
    for ref_id in [&first, &second] {
        let own: Vec<_> = taken.iter().filter(|(_, r)| r == ref_id).map(|(t, _)| t.as_str()).collect();
        assert_eq!(own, ["connection.connected", "connection.disconnected"], "{taken:?}");
    }
    // No later event of a connection was even tried before its earlier one was taken.
    let received = receiver.received().await;
    for ref_id in [&first, &second] {
        let at = |kind: &str, taken: bool| {
            received.iter().position(|r| {
                r["event"]["data"]["ref_id"] == ref_id.as_str()
                    && r["event"]["type"] == kind
                    && (!taken || r["answered"] == 204)
            })
        };
        let (connected, disconnected) = (at("connection.connected", true), at("connection.disconnected", false));
        assert!(connected.expect("taken") < disconnected.expect("tried"), "{received:?}");
    }
    assert!(received.iter().filter(|r| r["answered"] == 503).count() == 2, "{received:?}");
}

/// A receiver that takes long to answer holds only its own deliveries: another endpoint's next
/// event arrives while the slow one is still thinking about the first (review of issue 17: a
/// round waited for its slowest send before it claimed again, for every tenant).
async fn a_slow_receiver_does_not_hold_up_another_endpoints_deliveries(backend: Backend) {
    let app = service(backend, &[("WEBHOOK_TIMEOUT_SECONDS", "60")]).await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    let (_, slow_secret) = register(&app, &slow.url, None).await;
    let (_, fast_secret) = register(&app, &fast.url, None).await;
    slow.trust(&[&slow_secret]).await;
    fast.trust(&[&fast_secret]).await;
    slow.delay(40).await;

    connect_keyed(&app, Some("alice")).await;
    fast.wait_for(1).await;
    super::wait_until(std::time::Duration::from_secs(30), "the slow receiver to get its request", || async {
        !slow.received().await.is_empty()
    })
    .await;
    connect_keyed(&app, Some("bob")).await;
    fast.wait_for(2).await;
    assert_eq!(slow.answered().await, 0, "the fast endpoint's second event waited for the slow answer");
}

/// An endpoint with a filter gets only the types it names; one without gets all.
async fn a_filter_takes_only_its_event_types(backend: Backend) {
    let app = service(backend, &[]).await;
    let (every, only) = (Receiver::start().await, Receiver::start().await);
    let (_, every_secret) = register(&app, &every.url, None).await;
    let (_, only_secret) = register(&app, &only.url, Some(&["connection.disconnected"])).await;
    every.trust(&[&every_secret]).await;
    only.trust(&[&only_secret]).await;
    let ref_id = connect_keyed(&app, None).await;
    disconnect(&app, &ref_id, None).await;

    assert_eq!(every.wait_for(2).await.len(), 2);
    let taken = kinds(&only.wait_for(1).await);
    assert_eq!(taken, [("connection.disconnected".to_owned(), ref_id)]);
    assert_eq!(only.received().await.len(), 1, "the filtered endpoint got another type");
}

/// After a rotation both secrets sign (two `v1,` signatures), so a receiver still on the old
/// secret and one on the new verify alike; without an overlap only the new one signs.
async fn after_a_rotation_both_secrets_sign_until_the_overlap_ends(backend: Backend) {
    for (overlap, signatures) in [("3600", 2), ("0", 1)] {
        let app = service(backend, &[("WEBHOOK_SECRET_OVERLAP_SECONDS", overlap)]).await;
        let receiver = Receiver::start().await;
        let (id, old) = register(&app, &receiver.url, None).await;
        let response = app.post_json(&format!("/assets/webhooks/{id}/rotate-secret"), &json!({})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let rotated: Value = response.json().await.unwrap();
        let new = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert!(rotated["previous_secret_expires_at"].is_string());

        receiver.trust(&[&old, &new]).await;
        connect_keyed(&app, None).await;
        receiver.wait_for(1).await;
        let signature = receiver.received().await[0]["signature"].as_str().unwrap().to_owned();
        assert_eq!(signature.split(' ').count(), signatures, "overlap {overlap}: {signature}");
        assert_eq!(receiver.check(0, &new, 0).await, Ok(()), "the new secret verifies");
        assert_eq!(receiver.check(0, &old, 0).await.is_ok(), signatures == 2, "overlap {overlap}: the old secret");
    }
}

/// `410 Gone` disables the endpoint (it says why), later events are not queued for it, and
/// enabling it again takes new events.
async fn a_410_disables_the_endpoint_until_it_is_enabled_again(backend: Backend) {
    let app = service(backend, &[]).await;
    let receiver = Receiver::start().await;
    let (id, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;
    receiver.script(&[410]).await;
    connect_keyed(&app, None).await;
    super::wait_until(std::time::Duration::from_secs(30), "the endpoint to be disabled", || async {
        let webhook: Value = app.get(&format!("/assets/webhooks/{id}")).await.json().await.unwrap();
        webhook["enabled"] == false
    })
    .await;
    let webhook: Value = app.get(&format!("/assets/webhooks/{id}")).await.json().await.unwrap();
    assert!(webhook["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{webhook}");
    let deliveries: Value = app.get(&format!("/assets/webhooks/{id}/deliveries")).await.json().await.unwrap();
    assert_eq!(deliveries[0]["state"], "failed");

    connect_keyed(&app, None).await;
    let deliveries: Value = app.get(&format!("/assets/webhooks/{id}/deliveries")).await.json().await.unwrap();
    assert_eq!(deliveries.as_array().unwrap().len(), 1, "an event was queued for a disabled endpoint");

    let patch = app.client.patch(app.url(&format!("/assets/webhooks/{id}"))).header("X-Engine-Key", &app.key);
    let enabled: Value = patch.json(&json!({"enabled": true})).send().await.unwrap().json().await.unwrap();
    assert_eq!((enabled["enabled"].as_bool(), &enabled["disabled_reason"]), (Some(true), &Value::Null));
    let third = connect_keyed(&app, None).await;
    let taken = kinds(&receiver.wait_for(1).await);
    assert_eq!(taken, [("connection.connected".to_owned(), third)]);
}

/// A delivery given up on (no retry time) is sent again by hand, with the same `webhook-id`.
async fn a_failed_delivery_is_sent_again_by_hand(backend: Backend) {
    let app = service(backend, &[("WEBHOOK_RETRY_HOURS", "0")]).await;
    let receiver = Receiver::start().await;
    let (id, secret) = register(&app, &receiver.url, None).await;
    receiver.trust(&[&secret]).await;
    receiver.script(&[500]).await;
    connect_keyed(&app, None).await;
    let deliveries_url = format!("/assets/webhooks/{id}/deliveries");
    super::wait_until(std::time::Duration::from_secs(30), "the delivery to fail", || async {
        let deliveries: Value = app.get(&deliveries_url).await.json().await.unwrap();
        deliveries[0]["state"] == "failed"
    })
    .await;
    let deliveries: Value = app.get(&deliveries_url).await.json().await.unwrap();
    let event = deliveries[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(deliveries[0]["last_status_code"], 500);

    let retry = format!("/assets/webhooks/{id}/deliveries/{event}/retry");
    assert_eq!(app.post_json(&retry, &json!({})).await.status(), StatusCode::ACCEPTED);
    receiver.wait_for(1).await;
    let received = receiver.received().await;
    assert_eq!((received[0]["id"].as_str(), received[1]["id"].as_str()), (Some(&*event), Some(&*event)));
    let unknown = format!("/assets/webhooks/{id}/deliveries/evt_aaaaaaaaaaaaaaaaaaaaaaaaaa/retry");
    assert_error(app.post_json(&unknown, &json!({})).await, StatusCode::NOT_FOUND, "DELIVERY_NOT_FOUND").await;
}

on_both_backends! {
    a_connection_made_and_removed_reaches_a_receiver_that_verifies_it =>
        a_connection_made_and_removed_reaches_a_verifying_receiver_on_sqlite,
        a_connection_made_and_removed_reaches_a_verifying_receiver_on_postgres;
    a_wrong_secret_a_later_replay_or_a_skewed_timestamp_fail_the_librarys_check =>
        a_wrong_secret_a_replay_or_a_skewed_timestamp_fail_the_check_on_sqlite,
        a_wrong_secret_a_replay_or_a_skewed_timestamp_fail_the_check_on_postgres;
    a_receiver_that_answers_500_then_200_gets_the_event_on_a_retry =>
        a_500_then_200_delivers_on_the_retry_on_sqlite,
        a_500_then_200_delivers_on_the_retry_on_postgres;
    the_later_events_of_a_connection_wait_for_its_earlier_ones =>
        later_events_of_a_connection_wait_for_earlier_ones_on_sqlite,
        later_events_of_a_connection_wait_for_earlier_ones_on_postgres;
    a_slow_receiver_does_not_hold_up_another_endpoints_deliveries =>
        a_slow_receiver_does_not_hold_up_another_endpoint_on_sqlite,
        a_slow_receiver_does_not_hold_up_another_endpoint_on_postgres;
    a_filter_takes_only_its_event_types =>
        a_filter_takes_only_its_event_types_on_sqlite,
        a_filter_takes_only_its_event_types_on_postgres;
    after_a_rotation_both_secrets_sign_until_the_overlap_ends =>
        after_a_rotation_both_secrets_sign_on_sqlite,
        after_a_rotation_both_secrets_sign_on_postgres;
    a_410_disables_the_endpoint_until_it_is_enabled_again =>
        a_410_disables_the_endpoint_on_sqlite,
        a_410_disables_the_endpoint_on_postgres;
    a_failed_delivery_is_sent_again_by_hand =>
        a_failed_delivery_is_sent_again_by_hand_on_sqlite,
        a_failed_delivery_is_sent_again_by_hand_on_postgres;
}

/// Endpoints belong to their tenant: another tenant's id answers what an unknown one does, lists
/// never show another's, and no answer but the registration's and a rotation's shows a secret.
#[tokio::test]
async fn endpoints_are_their_tenants_and_their_secret_is_shown_once() {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let mut app = Spawn::default().var("ENGINE_KEYS_FILE", &path.display().to_string()).start().await;
    app.key = ACME_KEY.to_owned();
    let (id, secret) = register(&app, "http://127.0.0.1:9/hooks", Some(&["connection.expired"])).await;
    let listed: Value = app.get("/assets/webhooks").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["events"], json!(["connection.expired"]));
    let shown: Value = app.get(&format!("/assets/webhooks/{id}")).await.json().await.unwrap();
    for answer in [&listed, &shown] {
        assert!(!answer.to_string().contains(&secret[6..]), "a read showed the secret: {answer}");
    }

    let mut beta = app.clone();
    beta.key = BETA_KEY.to_owned();
    assert_eq!(beta.get("/assets/webhooks").await.json::<Value>().await.unwrap(), json!([]));
    for path in [
        format!("/assets/webhooks/{id}"),
        format!("/assets/webhooks/{id}/deliveries"),
        "/assets/webhooks/wh_aaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
    ] {
        assert_error(beta.get(&path).await, StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND").await;
    }
    let rotate = beta.post_json(&format!("/assets/webhooks/{id}/rotate-secret"), &json!({})).await;
    assert_error(rotate, StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND").await;
    assert_error(beta.delete(&format!("/assets/webhooks/{id}")).await, StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND")
        .await;
    let patch = beta.client.patch(beta.url(&format!("/assets/webhooks/{id}"))).header("X-Engine-Key", BETA_KEY);
    let patched = patch.json(&json!({"url": "http://127.0.0.1:9/theirs"})).send().await.unwrap();
    assert_error(patched, StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND").await;

    let still: Value = app.get(&format!("/assets/webhooks/{id}")).await.json().await.unwrap();
    assert_eq!(still, shown, "another tenant changed the endpoint");
    assert_eq!(app.delete(&format!("/assets/webhooks/{id}")).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&format!("/assets/webhooks/{id}")).await, StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND").await;
}

/// A bad registration or change is `422` naming its field and stores nothing.
#[tokio::test]
async fn a_bad_endpoint_is_refused_naming_its_field() {
    let app = Spawn::default().var("AD_ALLOW_PRIVATE_NETWORKS", "false").start().await;
    for (body, field) in [
        (json!({"url": "ftp://receiver.example/hooks"}), "url"),
        (json!({"url": "http://receiver.example/hooks"}), "url"),
        (json!({"url": "https://10.0.0.7/hooks"}), "url"),
        (json!({"url": "https://127.0.0.1/hooks"}), "url"),
        (json!({"url": "https://receiver.example/hooks", "events": ["connection.created"]}), "events"),
        (json!({"url": "https://receiver.example/hooks", "secret": "mine"}), "secret"),
    ] {
        let body = assert_error(
            app.post_json("/assets/webhooks", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(body["details"]["field"], field, "{body}");
    }
    assert_eq!(app.get("/assets/webhooks").await.json::<Value>().await.unwrap(), json!([]));
}
