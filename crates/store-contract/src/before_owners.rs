//! A database as the schema before owners (migration `…_owners`) left it, for each store's
//! upgrade test: the same rows written by SQL on either backend, and what the upgraded store
//! must find of them. Every row moves to tenant `default`, user `default`, with nothing lost.

use domain::{AuthMethod, Connection, ConnectionStatus, Transport};
use ports::{AuditKind, StoredSecrets};

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// The name the owners migration ends with.
pub const MIGRATION: &str = "_owners";

fn pending() -> Connection {
    fixtures::pending_connection(9, T0)
}

fn with_key() -> Connection {
    fixtures::connection_with(8, ConnectionStatus::Connected, AuthMethod::ApiKey, Transport::Sse)
}

fn flow() -> ports::PendingFlow {
    fixtures::bare_flow(&fixtures::state_hash(9), &pending().ref_id, T0.plus_seconds(600))
}

/// SQL that stores, in the schema before owners, a pending OAuth connection with its flow, an
/// API-key connection with its sealed key, and an event of each. `blob` spells bytes as the
/// backend's literal.
pub fn insert_sql(blob: impl Fn(&[u8]) -> String) -> String {
    let (p, k, f, t) = (pending(), with_key(), flow(), T0.unix());
    let url = p.url.clone().unwrap_or_default();
    format!(
        "INSERT INTO connections (ref_id, server_name, url, transport, auth_method, status, scopes, created_at, \
         updated_at) VALUES ('{p_ref}', '{p_name}', '{url}', 'streamable_http', 'oauth', 'pending_oauth', '', {t}, {t}); \
         INSERT INTO connections (ref_id, server_name, transport, auth_method, status, scopes, created_at, updated_at, \
         api_key) VALUES ('{k_ref}', '{k_name}', 'sse', 'api_key', 'connected', 'read', {t}, {t}, {key}); \
         INSERT INTO oauth_flows (state_hash, ref_id, iss_required, pkce_verifier, redirect_uri, scopes, created_at, \
         expires_at) VALUES ('{hash}', '{p_ref}', FALSE, {verifier}, '{redirect}', '', {created}, {expires}); \
         INSERT INTO audit_events (ref_id, server_name, kind, at) VALUES ('{p_ref}', 'linear', 'created', {t}); \
         INSERT INTO audit_events (ref_id, server_name, kind, at) VALUES ('{k_ref}', 'linear', 'created', {t});",
        p_ref = p.ref_id,
        p_name = p.server_name,
        k_ref = k.ref_id,
        k_name = k.server_name,
        key = blob(&fixtures::sealed("old api key").0),
        hash = f.state_hash,
        verifier = blob(&f.pkce_verifier.0),
        redirect = f.redirect_uri,
        created = f.created_at.unix(),
        expires = f.expires_at.unix(),
    )
}

/// The upgraded `store` finds every row of [`insert_sql`] under tenant `default`, user
/// `default` (connections, secrets, events, the flow at a keyed callback), and another owner
/// none of them.
pub async fn assert_kept<S: ContractStore>(store: S) {
    let owner = fixtures::seed_owner();
    let (p, k) = (pending(), with_key());
    assert_eq!(store.list(&owner).await.expect("list"), vec![k.clone(), p.clone()], "both, in ref id order");
    let key = StoredSecrets { api_key: Some(fixtures::sealed("old api key")), ..StoredSecrets::default() };
    assert_eq!(store.get_with_secrets(&owner, &k.ref_id).await.expect("get"), Some((k.clone(), key)));
    for c in [&p, &k] {
        let created = fixtures::event(&c.ref_id, AuditKind::Created, None, T0);
        assert_eq!(store.events(&owner, &c.ref_id).await.expect("events"), vec![created]);
        let stranger = fixtures::owner("acme", "default");
        assert_eq!(store.get(&stranger, &c.ref_id).await.expect("get"), None, "no other owner has it");
    }
    let taken = store.take_flow_with_connection(&flow().state_hash, Some(&owner), None).await.expect("take");
    assert_eq!(taken, Some((flow(), Some(p))), "the flow reaches its owner through its connection");
}
