//! Rotating the encryption key on a live database (spec §8): deploy the new key with the old one
//! as previous, run `reencrypt` beside the running service, then retire the old key. Every
//! credential keeps working, and no value sealed by the old key remains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crypto_adapter::Keyring;
use ports::{Cipher, RekeyStore, Sealed, SealedField};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use server::config::DatabaseConfig;
use server::database::Database;
use tempfile::TempDir;
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::cli::{run_beside, stderr, stdout};
use crate::helpers::{ENCRYPTION_KEY, Spawn, TestApp};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, start_flow};
use crate::postgres::fresh_database_url;

/// The public base URL: the provider sends the browser back there, whichever port serves it.
const PUBLIC_BASE: &str = "http://localhost:9";
const API_KEY: &str = "sk-rotation-Distinctive-1618";

/// Where the services of one test keep their data: a SQLite file in the data directory, or a
/// PostgreSQL schema.
struct Site {
    auth: TestAuthServer,
    postgres: Option<String>,
}

impl Site {
    async fn new(postgres: Option<String>) -> Self {
        // Tokens that expire within the credentials route's margin: each hand-out refreshes.
        let config = TestAuthConfig { access_token_lifetime: Some(Duration::from_secs(30)), ..Default::default() };
        Self { auth: TestAuthServer::start(config).await, postgres }
    }

    async fn start(&self, data_dir: Option<Arc<TempDir>>, key: &str, previous: &str) -> TestApp {
        let mut spawn = Spawn::default()
            .catalog(oauth_catalog(&self.auth))
            .var("ACME_CLIENT_SECRET", CLIENT_SECRET)
            .var("AD_ENCRYPTION_KEY", key)
            .var("AD_ENCRYPTION_KEYS_PREVIOUS", previous)
            // The public base stays while the service restarts on other ports.
            .var("OAUTH_REDIRECT_BASE_URL", PUBLIC_BASE)
            // No background refresh: only the requests of the test touch the tokens.
            .var("REFRESH_AHEAD_SECONDS", "0");
        if let Some(dir) = data_dir {
            spawn = spawn.data_dir(dir);
        }
        if let Some(url) = &self.postgres {
            spawn = spawn.var("DATABASE_URL", url);
        }
        spawn.start().await
    }

    fn database_url(&self, app: &TestApp) -> String {
        let sqlite = || format!("sqlite://{}", app.data_dir.path().join("ad.db").display());
        self.postgres.clone().unwrap_or_else(sqlite)
    }
}

/// Runs `asset-directory reencrypt` with the service's database and the given keys.
async fn reencrypt(url: &str, app: &TestApp, key: &str, previous: &str) -> std::process::Output {
    let data_dir = app.data_dir.path().display().to_string();
    let env = [
        ("DATABASE_URL", url),
        ("AD_DATA_DIR", data_dir.as_str()),
        ("AD_ENCRYPTION_KEY", key),
        ("AD_ENCRYPTION_KEYS_PREVIOUS", previous),
        ("LOG_FORMAT", "json"),
    ];
    run_beside(&["reencrypt", "--batch-size", "2"], &env).await
}

/// Every sealed value the database holds, read straight from the store.
async fn sealed_values(url: &str) -> Vec<Sealed> {
    let config =
        DatabaseConfig { url: url.to_owned(), pool_size: 2, timeout: Duration::from_secs(5), migrate_on_start: false };
    let database = Database::open(&config).await.expect("the database opens");
    let mut all = Vec::new();
    for field in SealedField::ALL {
        let batch = match &database {
            Database::Sqlite(store) => store.sealed_after(field, None, 1000).await,
            Database::Postgres(store) => store.sealed_after(field, None, 1000).await,
        };
        all.extend(batch.expect("the walk reads").into_iter().map(|entry| entry.sealed));
    }
    all
}

fn ring(key: &str) -> Keyring {
    Keyring::new(&SecretString::from(key.to_owned()), &[]).expect("a valid key")
}

async fn credential(app: &TestApp, ref_id: &str) -> Value {
    let response = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    assert_eq!(response.status(), StatusCode::OK, "credentials of {ref_id}");
    response.json().await.unwrap()
}

/// Hands out the API-key credential over and over until told to stop; returns how many it did.
fn keep_asking(app: &TestApp, ref_id: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    let (client, url, key) =
        (app.client.clone(), app.url(&format!("/assets/connections/{ref_id}/credentials")), app.key.clone());
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let response = client.get(&url).header("X-Engine-Key", &key).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "the service keeps serving during re-encryption");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["headers"]["X-Api-Key"], API_KEY);
            served.fetch_add(1, Ordering::Relaxed);
        }
        served.load(Ordering::Relaxed)
    })
}

async fn rotate_the_encryption_key(site: Site) {
    let (old, new) = (ENCRYPTION_KEY.to_owned(), Keyring::generate_key().expose_secret().to_owned());

    // Before: a service on the old key with an API key, an OAuth token pair and a pending flow.
    let before = site.start(None, &old, "").await;
    let keyed = before.connect(json!({"server_name": "keyed", "server_config": {"api_key": API_KEY}})).await;
    let keyed = keyed["ref_id"].as_str().unwrap().to_owned();
    let (oauth, callback) = start_flow(&before, json!({"server_name": "acme"})).await;
    let callback = before.url(&callback[PUBLIC_BASE.len()..]);
    assert_eq!(before.client.get(&callback).send().await.unwrap().status(), StatusCode::OK);
    let (pending, pending_callback) = start_flow(&before, json!({"server_name": "acme"})).await;
    let url = site.database_url(&before);
    assert!(sealed_values(&url).await.iter().all(|s| ring(&old).is_current(s)));
    let data_dir = before.stop().await;

    // Rotate: the new key seals, the old one still opens. Re-encrypt while it serves.
    let during = site.start(Some(data_dir), &new, &old).await;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = keep_asking(&during, &keyed, Arc::clone(&stop));
    let output = reencrypt(&url, &during, &new, &old).await;
    stop.store(true, Ordering::Relaxed);
    assert!(traffic.await.unwrap() > 0, "requests were served while it ran");
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = format!(
        "re-encrypted 4 under key {}; 0 already current, 0 changed meanwhile (kept), 0 unreadable",
        ring(&new).current_key_id()
    );
    assert_eq!(stdout(&output).trim(), expected);
    for secret in [API_KEY, old.as_str(), new.as_str()] {
        assert!(!stderr(&output).contains(secret), "the command's log holds a secret");
    }

    let sealed = sealed_values(&url).await;
    assert_eq!(sealed.len(), 4, "an API key, an access and a refresh token, a PKCE verifier");
    assert!(sealed.iter().all(|s| !ring(&old).is_current(s) && ring(&new).is_current(s)), "no old ciphertext remains");
    assert_eq!(credential(&during, &keyed).await["headers"]["X-Api-Key"], API_KEY);
    let data_dir = during.stop().await;

    // Retire the old key: everything still works on the new one alone.
    let after = site.start(Some(data_dir), &new, "").await;
    assert_eq!(credential(&after, &keyed).await["headers"]["X-Api-Key"], API_KEY);
    let refreshes_before =
        site.auth.token_requests().iter().filter(|r| r.grant_type.as_deref() == Some("refresh_token")).count();
    let bearer = credential(&after, &oauth).await["headers"]["Authorization"].as_str().unwrap().to_owned();
    let refreshes: Vec<_> =
        site.auth.token_requests().into_iter().filter(|r| r.grant_type.as_deref() == Some("refresh_token")).collect();
    assert_eq!(refreshes.len(), refreshes_before + 1, "the re-encrypted refresh token was used");
    assert_eq!(refreshes.last().unwrap().error, None, "and the provider accepted it");
    assert!(site.auth.token_is_active(bearer.strip_prefix("Bearer ").unwrap()));
    // The browser comes back to the service, which now listens on another port.
    let path_and_query = &pending_callback[PUBLIC_BASE.len()..];
    let completed = after.client.get(after.url(path_and_query)).send().await.unwrap();
    assert_eq!(completed.status(), StatusCode::OK, "the re-encrypted PKCE verifier completes the pending flow");
    assert!(credential(&after, &pending).await["headers"]["Authorization"].is_string());
    after.stop().await;
}

#[tokio::test]
async fn rotating_the_encryption_key_on_sqlite_keeps_every_credential_and_no_old_ciphertext() {
    rotate_the_encryption_key(Site::new(None).await).await;
}

#[tokio::test]
async fn rotating_the_encryption_key_on_postgres_keeps_every_credential_and_no_old_ciphertext() {
    rotate_the_encryption_key(Site::new(Some(fresh_database_url().await)).await).await;
}

#[tokio::test]
async fn reencrypt_without_the_old_key_changes_nothing_and_fails_so_the_old_key_is_not_retired() {
    let site = Site::new(None).await;
    let new = Keyring::generate_key().expose_secret().to_owned();
    let app = site.start(None, ENCRYPTION_KEY, "").await;
    app.connect(json!({"server_name": "keyed", "server_config": {"api_key": API_KEY}})).await;
    let url = site.database_url(&app);
    let before = sealed_values(&url).await;

    let forgot_previous = reencrypt(&url, &app, &new, "").await;
    assert_eq!(forgot_previous.status.code(), Some(2));
    assert!(stderr(&forgot_previous).contains("1 sealed value(s) did not open"), "{}", stderr(&forgot_previous));
    assert!(forgot_previous.stdout.is_empty());
    assert_eq!(sealed_values(&url).await, before, "nothing was rewritten");

    let with_previous = reencrypt(&url, &app, &new, ENCRYPTION_KEY).await;
    assert!(with_previous.status.success(), "{}", stderr(&with_previous));
    assert!(stdout(&with_previous).starts_with("re-encrypted 1 under key"), "{}", stdout(&with_previous));
}
