//! [`RefreshQueue`] for the in-memory reference store, with its flaw.

use async_trait::async_trait;
use domain::{AuthMethod, Connection, ConnectionStatus, RefId, Timestamp};
use ports::{DueStats, DueWindow, Lease, RefreshQueue, RetryState, StoreError, StoredSecrets};

use super::{Flaw, MemoryStore, State};

/// The lease columns of one connection.
#[derive(Debug, Clone, Default)]
pub(super) struct LeaseState {
    owner: Option<String>,
    until: Option<Timestamp>,
    failures: u32,
    next_attempt_at: Option<Timestamp>,
}

impl LeaseState {
    fn free(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| until <= now)
    }
}

fn is_due(c: &Connection, s: &StoredSecrets, w: &DueWindow) -> bool {
    let candidate = c.status() == ConnectionStatus::Connected && c.auth_method == AuthMethod::OAuth;
    // Renewable: a refresh token, or the client credentials grant made again.
    let renewable = s.refresh_token.is_some() || c.grant == domain::OAuthGrant::ClientCredentials;
    let due = match (renewable, c.expires_at) {
        (true, Some(at)) => at <= w.due_before,
        (true, None) => c.updated_at <= w.stale_before,
        (false, Some(at)) => at <= w.now,
        (false, None) => false,
    };
    candidate && due
}

fn lease_of(state: &mut State, ref_id: &RefId) -> LeaseState {
    state.leases.get(ref_id).cloned().unwrap_or_default()
}

#[async_trait]
impl RefreshQueue for MemoryStore {
    async fn claim_due(
        &self,
        owner: &str,
        window: DueWindow,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        let ignore_leases = self.has(Flaw::IgnoresLeases);
        let mut state = self.state();
        let mut due: Vec<(Option<Timestamp>, RefId)> = state
            .connections
            .iter()
            .filter(|(_, (c, s))| is_due(c, s, &window))
            .map(|(id, (c, _))| (c.expires_at, id.clone()))
            .collect();
        due.sort_by_key(|(at, id)| (at.is_none(), *at, id.as_str().to_owned()));
        let mut claimed = Vec::new();
        for (_, ref_id) in due {
            let lease = lease_of(&mut state, &ref_id);
            let ready = lease.next_attempt_at.is_none_or(|at| at <= window.now);
            if claimed.len() >= limit as usize || !ready || !(lease.free(window.now) || ignore_leases) {
                continue;
            }
            claimed.push(Lease { ref_id: ref_id.clone(), failures: lease.failures });
            let held = LeaseState { owner: Some(owner.to_owned()), until: Some(lease_until), ..lease };
            state.leases.insert(ref_id, held);
        }
        Ok(claimed)
    }

    async fn try_lease(
        &self,
        ref_id: &RefId,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Lease>, StoreError> {
        let mut state = self.state();
        if !state.connections.contains_key(ref_id) {
            return Ok(None);
        }
        let lease = lease_of(&mut state, ref_id);
        if !lease.free(now) && lease.owner.as_deref() != Some(owner) {
            return Ok(None);
        }
        let failures = lease.failures;
        state
            .leases
            .insert(ref_id.clone(), LeaseState { owner: Some(owner.to_owned()), until: Some(lease_until), ..lease });
        Ok(Some(Lease { ref_id: ref_id.clone(), failures }))
    }

    async fn release(&self, ref_id: &RefId, owner: &str, retry: RetryState) -> Result<bool, StoreError> {
        let mut state = self.state();
        let lease = lease_of(&mut state, ref_id);
        if !state.connections.contains_key(ref_id) || lease.owner.as_deref() != Some(owner) {
            return Ok(false);
        }
        let released =
            LeaseState { owner: None, until: None, failures: retry.failures, next_attempt_at: retry.next_attempt_at };
        state.leases.insert(ref_id.clone(), released);
        Ok(true)
    }

    async fn due_stats(&self, window: DueWindow) -> Result<DueStats, StoreError> {
        let state = self.state();
        let due: Vec<&Connection> =
            state.connections.values().filter(|(c, s)| is_due(c, s, &window)).map(|(c, _)| c).collect();
        Ok(DueStats { due: due.len() as u64, earliest_expiry: due.iter().filter_map(|c| c.expires_at).min() })
    }
}
