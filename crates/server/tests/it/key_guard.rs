//! The `X-Engine-Key` guard (spec §3).

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{Spawn, assert_error, spawn_app};

fn sha256_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_invalid_key() {
    let app = spawn_app().await;
    let none = app.client.get(app.url("/assets/servers")).send().await.unwrap();
    assert_error(none, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    let wrong = app.client.get(app.url("/assets/servers")).header("X-Engine-Key", "nope").send().await.unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    let post = app.client.post(app.url("/assets/connect")).json(&serde_json::json!({})).send().await.unwrap();
    assert_error(post, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
}

#[tokio::test]
async fn a_key_given_only_as_its_hash_is_accepted() {
    let app =
        Spawn::default().var("ENGINE_API_KEY", "").var("ENGINE_KEY_HASH", &sha256_hex("hashed-key")).start().await;
    let ok = app.client.get(app.url("/assets/servers")).header("X-Engine-Key", "hashed-key").send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

async fn previous_key_status(min: &str, max: &str) -> reqwest::Response {
    let app = Spawn::default()
        .var("ENGINE_KEY_HASH_PREVIOUS", &sha256_hex("old-key"))
        .var("KEY_ROTATION_MIN_OVERLAP_SECONDS", min)
        .var("KEY_ROTATION_MAX_OVERLAP_SECONDS", max)
        .start()
        .await;
    app.client.get(app.url("/assets/servers")).header("X-Engine-Key", "old-key").send().await.unwrap()
}

#[tokio::test]
async fn the_previous_key_works_within_its_grace_period() {
    assert_eq!(previous_key_status("300", "600").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_previous_key_after_its_grace_period_is_rotation_pending() {
    assert_error(previous_key_status("0", "300").await, StatusCode::UNAUTHORIZED, "KEY_ROTATION_PENDING").await;
}

#[tokio::test]
async fn the_previous_key_after_the_overlap_window_is_invalid() {
    assert_error(previous_key_status("0", "0").await, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
}

#[tokio::test]
async fn the_browser_callback_needs_no_key() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/assets/oauth/callback?state=unknown&code=x")).send().await.unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATE").await;
}

#[tokio::test]
async fn an_engine_key_of_digits_is_the_key_exactly_as_written() {
    // Issue 20 item 7: a loader that guessed types read this key as a float and so refused it.
    let key = "000123456789012345678901234567890";
    let app = Spawn::default().var("ENGINE_API_KEY", key).start().await;
    let ok = app.client.get(app.url("/assets/servers")).header("X-Engine-Key", key).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    for rewritten in ["123456789012345678901234567890", "123456789012345680000000000000"] {
        let refused =
            app.client.get(app.url("/assets/servers")).header("X-Engine-Key", rewritten).send().await.unwrap();
        assert_error(refused, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    }
}

#[tokio::test]
async fn two_engine_keys_are_invalid_key_whichever_comes_first() {
    let app = spawn_app().await;
    for (first, second) in
        [(app.key.as_str(), "wrong"), ("wrong", app.key.as_str()), (app.key.as_str(), app.key.as_str())]
    {
        let response = app
            .client
            .get(app.url("/assets/servers"))
            .header("X-Engine-Key", first)
            .header("X-Engine-Key", second)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
    }
}
