//! The built binary's operator commands, run as an operator would: `hash-key` and `migrate`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use server::config::DatabaseConfig;
use server::database::Database;
use sha2::{Digest, Sha256};

use crate::helpers::Spawn;
use crate::postgres::fresh_database_url;

/// Runs `asset-directory ARGS` with only `env` in its environment (nothing leaks in from the
/// test's own, such as a `DATABASE_URL` set for CI), feeding it `stdin`.
pub fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asset-directory"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child.stdin.take().expect("piped").write_all(stdin).expect("stdin is written");
    child.wait_with_output().expect("the binary finishes")
}

/// [`run`] on a blocking thread, for async tests whose service must keep answering meanwhile.
pub async fn run_beside(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&args, &env, b"")
    })
    .await
    .expect("the command's thread finishes")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn hash_key_prints_the_digest_the_service_then_accepts_as_engine_key_hash() {
    let key = "ek-rotated-Distinctive-2718";
    let output = run(&["hash-key"], &[], format!("{key}\n").as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = stdout(&output).trim().to_owned();
    assert_eq!(digest, hex::encode(Sha256::digest(key.as_bytes())));

    let app = Spawn::default().var("ENGINE_API_KEY", "").var("ENGINE_KEY_HASH", &digest).start().await;
    let with = |presented: &'static str| app.client.get(app.url("/assets/servers")).header("X-Engine-Key", presented);
    assert_eq!(with(key).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(with("ek-someone-else").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn hash_key_refuses_a_key_on_the_command_line_without_repeating_it() {
    for key in ["sk-on-the-command-line", "-sk-that-looks-like-a-flag"] {
        let output = run(&["hash-key", key], &[], b"");
        assert_eq!(output.status.code(), Some(2), "{key}");
        assert!(output.stdout.is_empty(), "no digest is printed");
        let said = stderr(&output);
        assert!(said.contains("standard input"), "{said}");
        assert!(!said.contains(key.trim_start_matches('-')), "the key is not repeated: {said}");
    }
}

#[test]
fn hash_key_refuses_empty_input() {
    let output = run(&["hash-key"], &[], b"\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).contains("no key"), "{}", stderr(&output));
}

fn database(url: &str, migrate_on_start: bool) -> DatabaseConfig {
    DatabaseConfig { url: url.to_owned(), pool_size: 2, timeout: std::time::Duration::from_secs(5), migrate_on_start }
}

#[tokio::test]
async fn migrate_creates_the_sqlite_schema_without_the_serving_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    // A production migration job: no engine key, no encryption key, no public URL.
    let env = [("AD_ENV", "production"), ("DATABASE_URL", url.as_str())];
    let output = run(&["migrate"], &env, b"");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "SQLite schema is up to date");

    let Database::Sqlite(store) = Database::open(&database(&url, false)).await.unwrap() else { panic!("SQLite") };
    assert_eq!(
        ports::ConnectionStore::list(&store, &domain::Owner::default_owner()).await.unwrap(),
        vec![],
        "the schema exists and is empty"
    );
}

#[tokio::test]
async fn a_replica_that_does_not_migrate_refuses_an_outdated_postgres_schema_until_migrate_runs() {
    let url = fresh_database_url().await;
    let refused = Database::open(&database(&url, false)).await.unwrap_err().to_string();
    assert!(refused.contains("asset-directory migrate"), "{refused}");

    let env = [("AD_ENV", "production"), ("DATABASE_URL", url.as_str())];
    let first = run(&["migrate"], &env, b"");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).starts_with("PostgreSQL migrations applied: "), "{}", stdout(&first));
    let second = run(&["migrate"], &env, b"");
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second).trim(), "PostgreSQL schema is up to date; nothing to apply");

    let app = Spawn::default().var("DATABASE_URL", &url).var("DATABASE_MIGRATE_ON_START", "false").start().await;
    let created = app.connect(serde_json::json!({"server_name": "open", "server_config": null})).await;
    assert_eq!(created["status"], "connected", "the migrated schema serves");
}
