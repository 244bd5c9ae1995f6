//! Unit tests of the proxy's credential cache against mocked ports: calls within the TTL read the
//! store once, and no other owner, no write of this replica, no refused token and no token past
//! its refresh-ahead point is ever answered from it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use domain::{
    AuthMethod, Connection, ConnectionStatus, NewConnection, Owner, RefId, ServerName, TenantId, Transport, UserId,
};
use ports::{OAuthError, Sealed, SecretsUpdate, StoredSecrets, UpstreamMethod, UpstreamResponse};
use secrecy::ExposeSecret;

use super::*;
use crate::test_support::{MockDeps, Mocks, NOW, empty_body, owner};
use crate::test_support::{connection as oauth_connection, ref_id, secrets as oauth_secrets, tokens};
use crate::{ProxyRequest, ProxyTarget, RefreshSettings};

/// The store of one connection, as the mocks read and write it, counting the reads of a
/// connection with its secrets (the credential's read).
#[derive(Clone)]
struct Store(Arc<Mutex<Row>>);

struct Row {
    connection: Option<Connection>,
    secrets: StoredSecrets,
    reads: usize,
}

impl Row {
    fn mine(&self, owner: &Owner, ref_id: &RefId) -> Option<&Connection> {
        self.connection.as_ref().filter(|c| c.owner == *owner && c.ref_id == *ref_id)
    }
}

impl Store {
    fn holding(connection: Connection, secrets: StoredSecrets) -> Self {
        Self(Arc::new(Mutex::new(Row { connection: Some(connection), secrets, reads: 0 })))
    }

    fn reads(&self) -> usize {
        self.0.lock().unwrap().reads
    }

    /// What another replica's refresh does: a new access token stored, this replica not told.
    fn refreshed_elsewhere(&self, token: &str) {
        let mut row = self.0.lock().unwrap();
        let ref_id = row.connection.as_ref().unwrap().ref_id.clone();
        row.secrets.access_token = Some(Sealed(format!("connections/{ref_id}/access_token|{token}").into_bytes()));
    }

    fn serve(&self, mocks: &mut Mocks) {
        let store = self.clone();
        mocks.connections.expect_get_with_secrets().returning(move |owner, ref_id| {
            let mut row = store.0.lock().unwrap();
            row.reads += 1;
            Ok(row.mine(owner, ref_id).map(|c| (c.clone(), row.secrets.clone())))
        });
        let store = self.clone();
        mocks
            .connections
            .expect_get()
            .returning(move |owner, ref_id| Ok(store.0.lock().unwrap().mine(owner, ref_id).cloned()));
        let store = self.clone();
        mocks.connections.expect_get_any().returning(move |_| Ok(store.0.lock().unwrap().connection.clone()));
        let store = self.clone();
        mocks.connections.expect_secrets().returning(move |owner, ref_id| {
            let row = store.0.lock().unwrap();
            Ok(row.mine(owner, ref_id).map(|_| row.secrets.clone()))
        });
        let store = self.clone();
        mocks.connections.expect_update().returning(move |connection, expected, update, _| {
            let mut row = store.0.lock().unwrap();
            if row.mine(&connection.owner, &connection.ref_id).is_none_or(|c| c.status() != expected) {
                return Ok(false);
            }
            row.connection = Some(connection.clone());
            match update {
                SecretsUpdate::Keep => {}
                SecretsUpdate::Tokens { access_token, refresh_token } => {
                    row.secrets.access_token = Some(access_token.clone());
                    if let Some(refresh) = refresh_token {
                        row.secrets.refresh_token = Some(refresh.clone());
                    }
                }
                SecretsUpdate::ClearTokens => (row.secrets.access_token, row.secrets.refresh_token) = (None, None),
            }
            Ok(true)
        });
        let store = self.clone();
        mocks.connections.expect_delete().returning(move |owner, ref_id, _| {
            let mut row = store.0.lock().unwrap();
            if row.mine(owner, ref_id).is_none() {
                return Ok(None);
            }
            row.connection = None;
            Ok(Some(row.secrets.clone()))
        });
    }
}

/// The MCP server: `401` for a credential it refuses, else `200`; it remembers what each call
/// carried.
#[derive(Clone, Default)]
struct Server {
    carried: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<HashSet<String>>>,
}

impl Server {
    fn serve(&self, mocks: &mut Mocks) {
        let server = self.clone();
        mocks.upstream.expect_forward().returning(move |_, credential| {
            let value = credential.first().map(|(_, v)| v.expose_secret().to_owned()).unwrap_or_default();
            let status = if server.refused.lock().unwrap().contains(&value) { 401 } else { 200 };
            server.carried.lock().unwrap().push(value);
            Ok(UpstreamResponse {
                status,
                headers: Vec::new(),
                insufficient_scope: None,
                content_length: None,
                body: Box::pin(empty_body()),
            })
        });
    }

    fn refuse(&self, credential: &str) {
        self.refused.lock().unwrap().insert(credential.to_owned());
    }

    fn carried(&self) -> Vec<String> {
        self.carried.lock().unwrap().clone()
    }
}

/// A connected API-key connection to `exa` (its key `k-1`, sent as `X-Api-Key`).
fn keyed() -> Store {
    let ref_id = ref_id(1);
    let new = NewConnection {
        ref_id: ref_id.clone(),
        owner: owner(),
        server_name: ServerName::parse("exa").unwrap(),
        label: None,
        display_name: None,
        url: Some("https://exa.example/mcp".into()),
        transport: Transport::StreamableHttp,
        auth_method: AuthMethod::ApiKey,
        exportable: true,
    };
    let key = Sealed(format!("connections/{ref_id}/api_key|k-1").into_bytes());
    Store::holding(Connection::connected(new, NOW), StoredSecrets { api_key: Some(key), ..Default::default() })
}

/// A connected OAuth connection to `acme` whose token `at` expires in `expires_in` seconds.
fn oauth(expires_in: i64) -> Store {
    Store::holding(
        oauth_connection(&ref_id(1), ConnectionStatus::Connected, expires_in),
        oauth_secrets(&ref_id(1), "rt"),
    )
}

/// A directory over `store` and `server` whose clock a test moves (seconds).
fn directory(mut mocks: Mocks, store: &Store, server: &Server) -> (Directory<MockDeps>, Arc<AtomicI64>) {
    store.serve(&mut mocks);
    server.serve(&mut mocks);
    let now = Arc::new(AtomicI64::new(NOW.unix()));
    (mocks.directory_at(Arc::new(ports::NoMetrics), Arc::clone(&now), RefreshSettings::default()), now)
}

/// A `tools/call` through the proxy for `owner`: the server's status, or the error.
async fn call(dir: &Directory<MockDeps>, owner: &Owner) -> Result<u16, Error> {
    let request = ProxyRequest {
        method: UpstreamMethod::Post,
        target: ProxyTarget::Streamable,
        headers: Vec::new(),
        body: Bytes::from_static(b"{\"method\":\"tools/call\"}"),
    };
    dir.proxy(owner, &ref_id(1), request).await.map(|proxied| proxied.response.status).map_err(|f| f.error)
}

fn moved_on(now: &AtomicI64, seconds: i64) {
    now.fetch_add(seconds, Ordering::SeqCst);
}

#[tokio::test]
async fn two_proxied_calls_within_the_ttl_read_the_store_once() {
    let (store, server) = (keyed(), Server::default());
    let (dir, _) = directory(Mocks::new(), &store, &server);
    assert_eq!(call(&dir, &owner()).await.unwrap(), 200);
    assert_eq!(call(&dir, &owner()).await.unwrap(), 200);
    assert_eq!(store.reads(), 1, "the second call used the credential the first opened");
    assert_eq!(server.carried(), ["k-1", "k-1"]);
}

#[tokio::test]
async fn a_call_after_the_ttl_reads_the_store_again() {
    let (store, server) = (keyed(), Server::default());
    let (dir, now) = directory(Mocks::new(), &store, &server);
    call(&dir, &owner()).await.unwrap();
    moved_on(&now, 1); // PROXY_CREDENTIAL_CACHE_MS is 1000 by default
    call(&dir, &owner()).await.unwrap();
    assert_eq!(store.reads(), 2);
}

#[tokio::test]
async fn with_the_cache_off_every_call_reads_the_store() {
    let (store, server) = (keyed(), Server::default());
    let mut mocks = Mocks::new();
    mocks.proxy_settings.credential_cache = Duration::ZERO;
    let (dir, _) = directory(mocks, &store, &server);
    for _ in 0..3 {
        call(&dir, &owner()).await.unwrap();
    }
    assert_eq!(store.reads(), 3);
}

#[tokio::test]
async fn another_owner_with_the_same_ref_id_never_gets_the_kept_credential() {
    let (store, server) = (keyed(), Server::default());
    let (dir, _) = directory(Mocks::new(), &store, &server);
    call(&dir, &owner()).await.unwrap();
    let others = [
        Owner::new(TenantId::parse("other").unwrap(), owner().user),
        Owner::new(owner().tenant, UserId::parse("bob").unwrap()),
    ];
    for other in &others {
        let err = call(&dir, other).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionNotFound), "{other:?}: {err:?}");
    }
    assert_eq!(store.reads(), 3, "each other owner was answered by the store");
    call(&dir, &owner()).await.unwrap();
    assert_eq!(store.reads(), 3, "and the owner's own entry stayed");
    assert_eq!(server.carried(), ["k-1", "k-1"], "no other owner's call reached the server");
}

#[tokio::test]
async fn after_a_401_the_retry_and_the_next_call_carry_the_refreshed_token_not_the_kept_one() {
    let (store, server) = (oauth(3_600), Server::default());
    let mut mocks = Mocks::new();
    mocks.oauth.expect_refresh().times(1).returning(|_, _, _| Ok(tokens(3_600)));
    let (dir, _) = directory(mocks, &store, &server);
    call(&dir, &owner()).await.unwrap();
    server.refuse("Bearer at");
    assert_eq!(call(&dir, &owner()).await.unwrap(), 200, "answered after one refresh");
    assert_eq!(call(&dir, &owner()).await.unwrap(), 200);
    assert_eq!(server.carried(), ["Bearer at", "Bearer at", "Bearer at-new", "Bearer at-new"]);
}

#[tokio::test]
async fn a_kept_token_refused_after_another_replica_refreshed_is_never_sent_again() {
    let (store, server) = (oauth(3_600), Server::default());
    let mut mocks = Mocks::new();
    mocks.oauth.expect_refresh().never();
    let (dir, _) = directory(mocks, &store, &server);
    call(&dir, &owner()).await.unwrap();
    // The other replica refreshed, and the server no longer takes the token this one kept.
    store.refreshed_elsewhere("at-2");
    server.refuse("Bearer at");
    assert_eq!(call(&dir, &owner()).await.unwrap(), 200, "the retry reads the store");
    assert_eq!(call(&dir, &owner()).await.unwrap(), 200);
    assert_eq!(server.carried(), ["Bearer at", "Bearer at", "Bearer at-2", "Bearer at-2"]);
}

#[tokio::test]
async fn a_disconnect_on_this_replica_makes_the_next_call_read_the_store_and_find_nothing() {
    let (store, server) = (keyed(), Server::default());
    let (dir, _) = directory(Mocks::new(), &store, &server);
    call(&dir, &owner()).await.unwrap();
    dir.disconnect(&owner(), &ref_id(1)).await.unwrap();
    assert!(matches!(call(&dir, &owner()).await, Err(Error::ConnectionNotFound)));
    assert_eq!(server.carried(), ["k-1"], "nothing sent after the disconnect");
}

#[tokio::test]
async fn an_expiry_on_this_replica_makes_the_next_call_read_the_store_and_answer_token_expired() {
    let (store, server) = (oauth(3_600), Server::default());
    let mut mocks = Mocks::new();
    let refused = || OAuthError::Rejected { code: "invalid_grant".into(), description: None };
    mocks.oauth.expect_refresh().times(1).returning(move |_, _, _| Err(refused()));
    let (dir, _) = directory(mocks, &store, &server);
    call(&dir, &owner()).await.unwrap();
    // The background refresh (any margin) meets a grant the provider revoked.
    assert_eq!(dir.refresh(&ref_id(1), 7_200).await.unwrap(), crate::RefreshOutcome::Expired);
    assert!(matches!(call(&dir, &owner()).await, Err(Error::TokenExpired)));
    assert_eq!(server.carried(), ["Bearer at"], "nothing sent after the expiry");
}

#[tokio::test]
async fn a_kept_token_is_not_used_past_its_refresh_ahead_point() {
    // A token that expires in 62 s is refreshed by the credentials path from 2 s on (margin 60 s).
    let (store, server) = (oauth(62), Server::default());
    let mut mocks = Mocks::new();
    mocks.proxy_settings.credential_cache = Duration::from_secs(60);
    mocks.oauth.expect_refresh().times(1).returning(|_, _, _| Ok(tokens(3_600)));
    let (dir, now) = directory(mocks, &store, &server);
    call(&dir, &owner()).await.unwrap();
    moved_on(&now, 1);
    call(&dir, &owner()).await.unwrap();
    assert_eq!(store.reads(), 1, "kept within the TTL and before the refresh-ahead point");
    moved_on(&now, 1);
    call(&dir, &owner()).await.unwrap();
    assert_eq!(server.carried(), ["Bearer at", "Bearer at", "Bearer at-new"]);
}

fn credential() -> Arc<Credential> {
    let connection = oauth_connection(&ref_id(1), ConnectionStatus::Connected, 3_600);
    Arc::new(Credential { connection: Arc::new(connection), headers: Vec::new(), sealed_token: None })
}

fn miss(lookup: Lookup) -> u64 {
    match lookup {
        Lookup::Miss { generation } => generation,
        Lookup::Hit(_) => panic!("a hit"),
    }
}

#[test]
fn a_credential_read_before_a_forget_is_not_kept_after_it() {
    let cache = CredentialCache::new(Duration::from_secs(1));
    let generation = miss(cache.get(&owner(), &ref_id(1), 0));
    // This replica writes the connection while the read is under way.
    cache.forget(&ref_id(1));
    cache.put(&owner(), &ref_id(1), &credential(), generation, 0, None);
    assert_eq!(cache.len(), 0);
    let generation = miss(cache.get(&owner(), &ref_id(1), 0));
    cache.put(&owner(), &ref_id(1), &credential(), generation, 0, None);
    assert!(matches!(cache.get(&owner(), &ref_id(1), 999), Lookup::Hit(_)));
}

#[test]
fn an_entry_is_missed_on_a_clock_that_moved_back() {
    let cache = CredentialCache::new(Duration::from_secs(1));
    cache.put(&owner(), &ref_id(1), &credential(), 0, 5_000, None);
    assert!(matches!(cache.get(&owner(), &ref_id(1), 5_000), Lookup::Hit(_)));
    assert!(matches!(cache.get(&owner(), &ref_id(1), 4_999), Lookup::Miss { .. }));
}

#[test]
fn a_full_cache_keeps_nothing_more_until_its_entries_lapse() {
    let cache = CredentialCache::new(Duration::from_secs(1));
    let credential = credential();
    let ids: Vec<RefId> = (0..=MAX_ENTRIES as u32)
        .map(|n| {
            let mut bytes = [0; 16];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            RefId::from_random(bytes)
        })
        .collect();
    for id in &ids[..MAX_ENTRIES] {
        cache.put(&owner(), id, &credential, 0, 0, None);
    }
    let last = &ids[MAX_ENTRIES];
    cache.put(&owner(), last, &credential, 0, 500, None);
    assert_eq!(cache.len(), MAX_ENTRIES);
    assert!(matches!(cache.get(&owner(), last, 500), Lookup::Miss { .. }), "not kept while every entry lives");
    // They lapse at 1,000, but the full cache looked at 500: it looks again a TTL later.
    cache.put(&owner(), last, &credential, 0, 1_000, None);
    assert_eq!(cache.len(), MAX_ENTRIES, "at most one sweep per TTL");
    cache.put(&owner(), last, &credential, 0, 1_500, None);
    assert_eq!(cache.len(), 1, "the lapsed ones were dropped for it");
    assert!(matches!(cache.get(&owner(), last, 1_500), Lookup::Hit(_)));
}

#[test]
fn every_write_of_a_stored_connection_goes_through_the_two_that_forget_its_kept_credential() {
    fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("use_cases/mod.rs")
                && !path.ends_with("use_cases/credential_cache_tests.rs")
            {
                let flat: String = std::fs::read_to_string(&path).unwrap().split_whitespace().collect();
                for write in
                    ["connections.update(", "connections.delete(", "ports().connections;", "ports.connections;"]
                {
                    if flat.contains(write) {
                        found.push(format!("{}: {write}", path.display()));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    visit(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    assert!(found.is_empty(), "write through Directory::store_update or store_delete: {found:?}");
}

#[tokio::test]
async fn a_write_whose_caller_is_cancelled_still_forgets_the_kept_credential() {
    let cache = CredentialCache::new(Duration::from_secs(1));
    let generation = miss(cache.get(&owner(), &ref_id(1), 0));
    cache.put(&owner(), &ref_id(1), &credential(), generation, 0, None);
    // A write under way (it may commit) whose caller goes away: the future is dropped mid-await.
    let write = async {
        let _forget = ForgetOnDrop { cache: &cache, ref_id: &ref_id(1) };
        std::future::pending::<()>().await;
    };
    assert!(tokio::time::timeout(Duration::from_millis(10), write).await.is_err());
    assert!(matches!(cache.get(&owner(), &ref_id(1), 1), Lookup::Miss { .. }), "still kept after the cancelled write");
}
