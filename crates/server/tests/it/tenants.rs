//! Tenants from `ENGINE_KEYS_FILE` (issue 15): each tenant's key is accepted, a rewritten file
//! takes effect on reload (in-process through the hook `SIGHUP` calls, and once by sending
//! `SIGHUP` to the built binary), a bad file is refused at start and ignored on reload, and
//! neither says a hash.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::cli::{run, stderr};
use crate::helpers::{ENGINE_KEY, Spawn, TestApp, assert_error, captured_logs};
use crate::served::Served;

pub(crate) const ACME_KEY: &str = "ek-acme-Distinctive-3141";
const ACME_NEW_KEY: &str = "ek-acme-rotated-Distinctive-2718";
pub(crate) const BETA_KEY: &str = "ek-beta-Distinctive-1414";

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A keys file in TOML: each tenant with its current keys, and previous keys accepted an hour.
pub(crate) fn keys_toml(tenants: &[(&str, &[&str], &[&str])]) -> String {
    let mut out = String::new();
    for (name, current, previous) in tenants {
        out.push_str(&format!("[[tenants]]\nname = \"{name}\"\nkeys = [\n"));
        for key in *current {
            out.push_str(&format!("  {{ hash = \"{}\" }},\n", hash(key)));
        }
        for key in *previous {
            out.push_str(&format!("  {{ hash = \"{}\", previous = {{ min_overlap_seconds = 3600 }} }},\n", hash(key)));
        }
        out.push_str("]\n\n");
    }
    out
}

/// A directory holding `keys.toml`, and the file's path.
pub(crate) fn keys_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

async fn spawn_with_keys(path: &Path) -> TestApp {
    Spawn::default().var("ENGINE_KEYS_FILE", &path.display().to_string()).start().await
}

async fn list_with(app: &TestApp, key: &str) -> reqwest::Response {
    app.client.get(app.url("/assets/connections")).header("X-Engine-Key", key).send().await.unwrap()
}

async fn assert_accepted(app: &TestApp, key: &str) {
    assert_eq!(list_with(app, key).await.status(), StatusCode::OK, "{key} is accepted");
}

async fn assert_refused(app: &TestApp, key: &str) {
    assert_error(list_with(app, key).await, StatusCode::UNAUTHORIZED, "INVALID_KEY").await;
}

#[tokio::test]
async fn each_tenants_key_is_accepted_and_a_reloaded_file_refuses_the_removed_key_and_accepts_the_new_one() {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let app = spawn_with_keys(&path).await;
    for key in [ACME_KEY, BETA_KEY, ENGINE_KEY] {
        assert_accepted(&app, key).await;
    }
    assert_refused(&app, ACME_NEW_KEY).await;

    std::fs::write(&path, keys_toml(&[("acme", &[ACME_NEW_KEY], &[]), ("beta", &[BETA_KEY], &[])])).unwrap();
    app.keys.reload().expect("the new file is valid");
    assert_refused(&app, ACME_KEY).await;
    for key in [ACME_NEW_KEY, BETA_KEY, ENGINE_KEY] {
        assert_accepted(&app, key).await;
    }
}

#[tokio::test]
async fn a_key_moved_to_previous_on_reload_is_accepted_through_its_overlap() {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[])]));
    let app = spawn_with_keys(&path).await;
    std::fs::write(&path, keys_toml(&[("acme", &[ACME_NEW_KEY], &[ACME_KEY])])).unwrap();
    app.keys.reload().expect("the new file is valid");
    assert_accepted(&app, ACME_KEY).await;
    assert_accepted(&app, ACME_NEW_KEY).await;
}

#[tokio::test]
async fn an_invalid_file_on_reload_keeps_the_keys_in_force_and_is_logged_without_a_hash() {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let app = spawn_with_keys(&path).await;
    // beta now lists acme's new key too: the file is refused as a whole.
    let shared = keys_toml(&[("acme", &[ACME_NEW_KEY], &[]), ("beta", &[BETA_KEY, ACME_NEW_KEY], &[])]);
    std::fs::write(&path, shared).unwrap();
    let refused = app.keys.reload().unwrap_err().to_string();
    assert!(refused.ends_with("tenants `acme` and `beta` list the same key hash"), "{refused}");
    assert_accepted(&app, ACME_KEY).await;
    assert_accepted(&app, BETA_KEY).await;
    assert_refused(&app, ACME_NEW_KEY).await;

    let logs = captured_logs();
    assert!(logs.contains("engine keys not reloaded"), "the refusal is logged");
    for key in [ACME_KEY, ACME_NEW_KEY, BETA_KEY] {
        assert!(!logs.contains(&hash(key)) && !logs.contains(key), "a hash or key in the logs");
    }
}

#[test]
fn the_binary_refuses_to_start_with_a_keys_file_that_clashes_naming_the_tenant_and_no_hash() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let clashes = [
        (
            keys_toml(&[("default", &[ACME_KEY], &[])]),
            "tenant `default` is also given by ENGINE_KEY_HASH or ENGINE_API_KEY",
        ),
        (
            keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[ACME_KEY], &[])]),
            "tenants `acme` and `beta` list the same key hash",
        ),
        (keys_toml(&[("acme", &[ENGINE_KEY], &[])]), "tenants `default` and `acme` list the same key hash"),
    ];
    for (text, reason) in clashes {
        let (_dir, path) = keys_file(&text);
        let path = path.display().to_string();
        let env = [
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("AD_DATA_DIR", data_dir.as_str()),
            ("ENGINE_API_KEY", ENGINE_KEY),
            ("ENGINE_KEYS_FILE", path.as_str()),
        ];
        let output = run(&[], &env, b"");
        assert_eq!(output.status.code(), Some(2), "{reason}");
        let said = stderr(&output);
        assert!(said.contains(reason), "{said}");
        for key in [ACME_KEY, ENGINE_KEY] {
            assert!(!said.contains(&hash(key)[..16]) && !said.contains(key), "{said}");
        }
    }
}

/// Sends `SIGHUP` to `pid`, as an operator would.
fn hang_up(pid: u32) {
    let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -HUP");
}

#[tokio::test]
async fn sighup_makes_the_running_binary_reload_its_keys_file_and_a_bad_file_changes_nothing() {
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let mut served = Served::start(&[("ENGINE_KEYS_FILE", &path.display().to_string())]);
    let client = reqwest::Client::new();
    let url = format!("http://{}/assets/connections", served.address);
    let status = |key: &'static str| {
        let request = client.get(&url).header("X-Engine-Key", key);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!((status(ACME_KEY).await, status(BETA_KEY).await), (StatusCode::OK, StatusCode::OK));

    std::fs::write(&path, keys_toml(&[("acme", &[ACME_NEW_KEY], &[]), ("beta", &[BETA_KEY], &[])])).unwrap();
    hang_up(served.pid());
    let reloaded = served.wait_for("engine keys reloaded");
    assert!(reloaded.contains("default: 1 key, acme: 1 key, beta: 1 key"), "names and counts: {reloaded}");
    assert_eq!(status(ACME_KEY).await, StatusCode::UNAUTHORIZED);
    assert_eq!((status(ACME_NEW_KEY).await, status(BETA_KEY).await), (StatusCode::OK, StatusCode::OK));

    std::fs::write(&path, "[[tenants]]\nname = \"acme\"\nkeys = [{ hash = \"not-a-hash\" }]\n").unwrap();
    hang_up(served.pid());
    let refused = served.wait_for("engine keys not reloaded");
    assert!(refused.contains("tenant `acme`, key #1: hash must be 64 hex characters"), "{refused}");
    assert_eq!((status(ACME_NEW_KEY).await, status(BETA_KEY).await), (StatusCode::OK, StatusCode::OK));
    assert_eq!(status(ENGINE_KEY).await, StatusCode::OK);

    let logged = served.stop().join("\n");
    for key in [ACME_KEY, ACME_NEW_KEY, BETA_KEY, ENGINE_KEY] {
        assert!(!logged.contains(&hash(key)) && !logged.contains(key), "{logged}");
    }
}
