//! The MCP proxy's short-lived, per-replica cache of the credentials it opened (issue 16's
//! bench: reading a connection and its secrets from the store and opening them was the largest
//! part of a proxied call the service could save, and a database round trip on PostgreSQL).
//!
//! - **Whose.** An entry is found only by its owner (tenant and user) and `ref_id` together: a
//!   lookup by anyone else misses and reads the store, which answers them as it always does.
//! - **How long.** Until the earlier of `PROXY_CREDENTIAL_CACHE_MS` after the read and the
//!   credential's refresh-ahead point (`Directory::refresh_ahead_at`), so the proxy never hands
//!   out a token the credentials path would have refreshed. A clock that moved back misses too.
//! - **This replica's writes.** Every write of a stored connection (`Directory::store_update`,
//!   `Directory::store_delete`) forgets its entry once written (or abandoned by a cancelled
//!   caller: it may have committed all the same), and a read that began before a
//!   forget is not kept (a generation counts the forgets), so no call after a refresh, an
//!   expiry, a step-up, a reconnect or a disconnect here gets the credential from before it. The
//!   proxy forgets the entry too when a server refused its token (`proxy::after_refusal`).
//! - **Other replicas' writes** are seen at most the TTL later (docs/decisions.md).
//! - **Bounded.** At most [`MAX_ENTRIES`]; a full cache drops its lapsed entries (at most once
//!   per TTL) and otherwise keeps no new ones until some lapse.
//!
//! Secrets stay in the `Credential` (`SecretString`s, a `Sealed`); nothing here prints one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use domain::{Owner, RefId};
use ports::Clock;

use super::credentials::Credential;
use crate::{Deps, Directory, Error};

/// Credentials kept at most at once (each a connection and its headers, about a kilobyte).
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// The cache; disabled (every call reads the store) when its TTL is zero.
pub(crate) struct CredentialCache {
    ttl_ms: i64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<RefId, Entry>,
    /// Counts the forgets: a credential read before one is not kept after it.
    generation: u64,
    /// When a full cache last dropped its lapsed entries.
    swept_at_ms: Option<i64>,
}

struct Entry {
    owner: Owner,
    credential: Arc<Credential>,
    /// When the read that found it began, and when it lapses (ms since the epoch).
    since_ms: i64,
    until_ms: i64,
}

/// What a lookup found: the credential, or the generation a read made now must be kept under.
pub(crate) enum Lookup {
    Hit(Arc<Credential>),
    Miss { generation: u64 },
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX), state: Mutex::default() }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.ttl_ms > 0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `owner`'s credential of `ref_id` when one is kept and has not lapsed at `now_ms`.
    pub(crate) fn get(&self, owner: &Owner, ref_id: &RefId, now_ms: i64) -> Lookup {
        let mut state = self.state();
        match state.entries.get(ref_id) {
            Some(entry) if entry.owner == *owner => {
                if entry.since_ms <= now_ms && now_ms < entry.until_ms {
                    return Lookup::Hit(Arc::clone(&entry.credential));
                }
                state.entries.remove(ref_id);
            }
            // Another owner's, or none: theirs stays, this caller reads the store.
            _ => {}
        }
        Lookup::Miss { generation: state.generation }
    }

    /// Keeps `credential` of `owner`'s `ref_id`, read from `now_ms` on, until `refresh_at_ms`
    /// at the latest (or the TTL), unless a forget came since `generation`.
    pub(crate) fn put(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        credential: &Arc<Credential>,
        generation: u64,
        now_ms: i64,
        refresh_at_ms: Option<i64>,
    ) {
        let until_ms = now_ms.saturating_add(self.ttl_ms).min(refresh_at_ms.unwrap_or(i64::MAX));
        let mut state = self.state();
        if state.generation != generation || until_ms <= now_ms {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES && !state.entries.contains_key(ref_id) {
            if state.swept_at_ms.is_some_and(|at| now_ms.saturating_sub(at) < self.ttl_ms) {
                return;
            }
            state.swept_at_ms = Some(now_ms);
            state.entries.retain(|_, entry| entry.since_ms <= now_ms && now_ms < entry.until_ms);
            if state.entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        let entry = Entry { owner: owner.clone(), credential: Arc::clone(credential), since_ms: now_ms, until_ms };
        state.entries.insert(ref_id.clone(), entry);
    }

    /// Drops `ref_id`'s entry, and keeps no credential read before now.
    pub(crate) fn forget(&self, ref_id: &RefId) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        state.entries.remove(ref_id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state().entries.len()
    }
}

impl<D: Deps> Directory<D> {
    /// The credential of `owner`'s connection `ref_id` for a proxied call: this replica's kept
    /// one while it may be, else [`Directory::credentials`]' (kept then for the next calls).
    pub(crate) async fn proxy_credential(&self, owner: &Owner, ref_id: &RefId) -> Result<Arc<Credential>, Error> {
        let cache = &self.inner.credential_cache;
        if !cache.enabled() {
            return Ok(Arc::new(self.credentials(owner, ref_id).await?));
        }
        let now_ms = self.ports().clock.now_millis();
        let generation = match cache.get(owner, ref_id, now_ms) {
            Lookup::Hit(credential) => return Ok(credential),
            Lookup::Miss { generation } => generation,
        };
        let credential = Arc::new(self.credentials(owner, ref_id).await?);
        let refresh_at_ms = self.refresh_ahead_at(&credential.connection).map(|at| at.unix().saturating_mul(1000));
        cache.put(owner, ref_id, &credential, generation, now_ms, refresh_at_ms);
        Ok(credential)
    }

    /// Forgets this replica's kept credential of `ref_id` (its connection was written, or a
    /// server refused its token).
    pub(crate) fn forget_credential(&self, ref_id: &RefId) {
        drop(self.forgetting_credential(ref_id));
    }

    /// Forgets this replica's kept credential of `ref_id` when the guard is dropped: after the
    /// write it covers has ended, or when its caller is cancelled during the write, which may
    /// have committed all the same (a client that hangs up after a disconnect's commit).
    pub(crate) fn forgetting_credential<'a>(&'a self, ref_id: &'a RefId) -> ForgetOnDrop<'a> {
        ForgetOnDrop { cache: &self.inner.credential_cache, ref_id }
    }
}

/// See [`Directory::forgetting_credential`].
#[must_use = "the credential is forgotten when this is dropped"]
pub(crate) struct ForgetOnDrop<'a> {
    cache: &'a CredentialCache,
    ref_id: &'a RefId,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        if self.cache.enabled() {
            self.cache.forget(self.ref_id);
        }
    }
}

#[cfg(test)]
#[path = "credential_cache_tests.rs"]
mod tests;
