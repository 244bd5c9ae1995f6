//! A reference store in memory, the simplest thing that keeps the contract, and deliberately
//! flawed variants of it. It exists to test the suite itself: a correct store must pass every
//! case, and each flaw must make the case that guards against it fail.

mod events;
mod refresh;
mod registrations;
mod rekey;
mod sessions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use domain::{Connection, ConnectionStatus, Owner, RefId, Timestamp};
use ports::{
    AuditEvent, AuditLog, ConnectionQuery, ConnectionStore, FlowStore, PendingFlow, SecretsUpdate, StatusCounts,
    StoreError, StoredSecrets, UserQuery, UserSummary,
};

/// A way of breaking the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// `update` writes whatever the stored status.
    IgnoresExpectedStatus,
    /// `Tokens` without a refresh token erases the stored one.
    ForgetsRefreshToken,
    /// `delete` leaves the connection's flows behind.
    KeepsFlowsOnDelete,
    /// `insert` keeps the connection when its flow is refused.
    InsertsHalfway,
    /// `take_flow` hands out a copy and leaves the flow in place.
    TakesWithoutRemoving,
    /// `replace_sealed` overwrites whatever the field holds now.
    SwapsWithoutComparing,
    /// `sealed_after` returns the cursor's own record again.
    RevisitsTheCursor,
    /// `claim_due` claims connections whose lease is held by someone else.
    IgnoresLeases,
    /// A write records its events even when it changes nothing (a lost update, a lost delete).
    RecordsUnwrittenChanges,
    /// `get_with_secrets` (the credentials read) finds a connection whoever owns it.
    IgnoresOwnerOnCredentials,
    /// `delete_expired_sessions` deletes open sessions too.
    SweepsOpenSessions,

    /// `list_page`, `users` and `delete_flows_of` match the user and forget the tenant.
    PagesIgnoreTheTenant,
    /// Every write stores its change and audit events but not the lifecycle events they announce.
    DropsNotices,
    /// `claim_deliveries` claims a connection's later event while an earlier one is pending.
    ClaimsOutOfOrder,
}

#[derive(Debug, Default)]
struct State {
    connections: BTreeMap<RefId, (Connection, StoredSecrets)>,
    flows: BTreeMap<String, PendingFlow>,
    events: Vec<AuditEvent>,
    registrations: BTreeMap<String, ports::ClientRegistration>,
    /// The keys of the retired registrations.
    retired: std::collections::BTreeSet<String>,
    bindings: BTreeMap<RefId, ports::DiscoveredAuthorization>,
    leases: BTreeMap<RefId, refresh::LeaseState>,
    sessions: BTreeMap<String, domain::ConnectSession>,
    outbox: events::Outbox,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    flaw: Option<Flaw>,
}

impl MemoryStore {
    pub fn flawed(flaw: Flaw) -> Self {
        Self { flaw: Some(flaw), ..Self::default() }
    }

    fn has(&self, flaw: Flaw) -> bool {
        self.flaw == Some(flaw)
    }

    /// Whether `connection` is `owner`'s as the pages see it.
    fn paged_for(&self, connection: &Connection, owner: &Owner) -> bool {
        connection.owner.user == owner.user
            && (self.has(Flaw::PagesIgnoreTheTenant) || connection.owner.tenant == owner.tenant)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("no test panics while holding the lock")
    }

    /// Appends an audit event and, as the triggers do, the lifecycle event it announces.
    fn append(&self, state: &mut State, event: &AuditEvent) {
        state.events.push(event.clone());
        if !self.has(Flaw::DropsNotices) {
            events::announce(&mut state.outbox, event);
        }
    }

    /// The connection `ref_id` with its secrets, if `owner` owns it.
    fn owned(&self, owner: &Owner, ref_id: &RefId) -> Option<(Connection, StoredSecrets)> {
        self.state().connections.get(ref_id).filter(|(c, _)| &c.owner == owner).cloned()
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn insert(
        &self,
        c: &Connection,
        s: &StoredSecrets,
        flow: Option<PendingFlow>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.connections.contains_key(&c.ref_id) {
            return Err(StoreError::Conflict("connections.ref_id".into()));
        }
        let clash = flow.as_ref().is_some_and(|f| state.flows.contains_key(&f.state_hash));
        if clash && self.has(Flaw::InsertsHalfway) {
            state.connections.insert(c.ref_id.clone(), (c.clone(), s.clone()));
        }
        if clash {
            return Err(StoreError::Conflict("oauth_flows.state_hash".into()));
        }
        state.connections.insert(c.ref_id.clone(), (c.clone(), s.clone()));
        if let Some(flow) = flow {
            state.flows.insert(flow.state_hash.clone(), flow);
        }
        for event in events {
            self.append(&mut state, event);
        }
        Ok(())
    }

    async fn get(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        Ok(self.owned(owner, ref_id).map(|(c, _)| c))
    }

    async fn get_any(&self, ref_id: &RefId) -> Result<Option<Connection>, StoreError> {
        Ok(self.state().connections.get(ref_id).map(|(c, _)| c.clone()))
    }

    async fn list(&self, owner: &Owner) -> Result<Vec<Connection>, StoreError> {
        let state = self.state();
        let mut all: Vec<_> =
            state.connections.values().filter(|(c, _)| &c.owner == owner).map(|(c, _)| c.clone()).collect();
        all.sort_by(|a, b| (a.created_at, a.ref_id.as_str()).cmp(&(b.created_at, b.ref_id.as_str())));
        Ok(all)
    }

    async fn list_page(&self, owner: &Owner, query: &ConnectionQuery) -> Result<Vec<Connection>, StoreError> {
        let state = self.state();
        let mut page: Vec<_> = state
            .connections
            .values()
            .map(|(c, _)| c)
            .filter(|c| self.paged_for(c, owner))
            .filter(|c| query.after.as_ref().is_none_or(|a| (c.created_at, &c.ref_id) > (a.created_at, &a.ref_id)))
            .filter(|c| query.server_name.as_ref().is_none_or(|s| &c.server_name == s))
            .filter(|c| query.status.is_none_or(|s| c.status() == s))
            .cloned()
            .collect();
        page.sort_by(|a, b| (a.created_at, a.ref_id.as_str()).cmp(&(b.created_at, b.ref_id.as_str())));
        page.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(page)
    }

    async fn users(&self, query: &UserQuery) -> Result<Vec<UserSummary>, StoreError> {
        let state = self.state();
        let mut users: BTreeMap<&str, UserSummary> = BTreeMap::new();
        for (c, _) in state.connections.values() {
            let probe = Owner::new(query.tenant.clone(), c.owner.user.clone());
            if !self.paged_for(c, &probe) || c.owner.user.as_str() <= query.after_id() {
                continue;
            }
            let user = c.owner.user.as_str();
            let summary = users
                .entry(user)
                .or_insert_with(|| UserSummary { user: c.owner.user.clone(), connections: StatusCounts::default() });
            summary.connections.add(c.status(), 1);
        }
        Ok(users.into_values().take(usize::try_from(query.limit).unwrap_or(usize::MAX)).collect())
    }

    async fn pending_before(&self, updated_before: Timestamp) -> Result<Vec<Connection>, StoreError> {
        let state = self.state();
        let mut pending: Vec<_> = state
            .connections
            .values()
            .map(|(c, _)| c)
            .filter(|c| c.status() == ConnectionStatus::PendingOAuth && c.updated_at < updated_before)
            .cloned()
            .collect();
        pending.sort_by(|a, b| (a.updated_at, a.ref_id.as_str()).cmp(&(b.updated_at, b.ref_id.as_str())));
        Ok(pending)
    }

    async fn secrets(&self, owner: &Owner, ref_id: &RefId) -> Result<Option<StoredSecrets>, StoreError> {
        Ok(self.owned(owner, ref_id).map(|(_, s)| s))
    }

    async fn get_with_secrets(
        &self,
        owner: &Owner,
        ref_id: &RefId,
    ) -> Result<Option<(Connection, StoredSecrets)>, StoreError> {
        if self.has(Flaw::IgnoresOwnerOnCredentials) {
            return Ok(self.state().connections.get(ref_id).cloned());
        }
        Ok(self.owned(owner, ref_id))
    }

    async fn update(
        &self,
        c: &Connection,
        expected: ConnectionStatus,
        up: &SecretsUpdate,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let ignore_status = self.has(Flaw::IgnoresExpectedStatus);
        let forget_refresh = self.has(Flaw::ForgetsRefreshToken);
        let mut state = self.state();
        if self.has(Flaw::RecordsUnwrittenChanges) {
            self.append(&mut state, event);
        }
        let Some((stored, secrets)) = state.connections.get_mut(&c.ref_id).filter(|(s, _)| s.owner == c.owner) else {
            return Ok(false);
        };
        if stored.status() != expected && !ignore_status {
            return Ok(false);
        }
        *stored = c.clone();
        match up {
            SecretsUpdate::Keep => {}
            SecretsUpdate::Tokens { access_token, refresh_token } => {
                secrets.access_token = Some(access_token.clone());
                if refresh_token.is_some() || forget_refresh {
                    secrets.refresh_token = refresh_token.clone();
                }
            }
            SecretsUpdate::ClearTokens => (secrets.access_token, secrets.refresh_token) = (None, None),
        }
        if !self.has(Flaw::RecordsUnwrittenChanges) {
            self.append(&mut state, event);
        }
        Ok(true)
    }

    async fn delete(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        event: &AuditEvent,
    ) -> Result<Option<StoredSecrets>, StoreError> {
        let keep_flows = self.has(Flaw::KeepsFlowsOnDelete);
        if self.owned(owner, ref_id).is_none() {
            if self.has(Flaw::RecordsUnwrittenChanges) {
                self.append(&mut self.state(), event);
            }
            return Ok(None);
        }
        let mut state = self.state();
        let removed = state.connections.remove(ref_id).map(|(_, s)| s);
        if removed.is_some() || self.has(Flaw::RecordsUnwrittenChanges) {
            self.append(&mut state, event);
        }
        state.leases.remove(ref_id);
        if !keep_flows {
            state.flows.retain(|_, f| &f.ref_id != ref_id);
        }
        Ok(removed)
    }

    async fn mark_used_any(&self, ref_ids: &[RefId], at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        for ref_id in ref_ids {
            if let Some((connection, _)) = state.connections.get_mut(ref_id) {
                connection.last_used_at = Some(at);
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl FlowStore for MemoryStore {
    async fn put_flow(&self, flow: &PendingFlow) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.flows.contains_key(&flow.state_hash) {
            return Err(StoreError::Conflict("oauth_flows.state_hash".into()));
        }
        state.flows.insert(flow.state_hash.clone(), flow.clone());
        Ok(())
    }

    async fn take_flow(&self, state_hash: &str) -> Result<Option<PendingFlow>, StoreError> {
        let mut state = self.state();
        if self.has(Flaw::TakesWithoutRemoving) {
            return Ok(state.flows.get(state_hash).cloned());
        }
        Ok(state.flows.remove(state_hash))
    }

    async fn take_flow_with_connection<'a>(
        &self,
        state_hash: &str,
        owner: Option<&'a Owner>,
        browser_hash: Option<&'a str>,
    ) -> Result<Option<(PendingFlow, Option<Connection>)>, StoreError> {
        let bound_elsewhere = self.state().flows.get(state_hash).and_then(|f| f.browser_hash.clone());
        if bound_elsewhere.is_some_and(|bound| Some(bound.as_str()) != browser_hash) {
            return Ok(None);
        }
        if let Some(owner) = owner {
            let state = self.state();
            let flow_owner = state.flows.get(state_hash).and_then(|f| state.connections.get(&f.ref_id));
            if flow_owner.is_none_or(|(c, _)| &c.owner != owner) {
                return Ok(None);
            }
        }
        let Some(flow) = self.take_flow(state_hash).await? else { return Ok(None) };
        let connection = self.state().connections.get(&flow.ref_id).map(|(c, _)| c.clone());
        Ok(Some((flow, connection)))
    }

    async fn delete_flows_of(&self, owner: &Owner) -> Result<u64, StoreError> {
        let mut state = self.state();
        let owned: Vec<RefId> = state
            .connections
            .values()
            .filter(|(c, _)| self.paged_for(c, owner))
            .map(|(c, _)| c.ref_id.clone())
            .collect();
        let before = state.flows.len();
        state.flows.retain(|_, f| !owned.contains(&f.ref_id));
        Ok(u64::try_from(before - state.flows.len()).unwrap_or(u64::MAX))
    }

    async fn take_expired_flows(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingFlow>, StoreError> {
        let mut state = self.state();
        let expired: Vec<String> = state
            .flows
            .values()
            .filter(|f| f.expires_at < now)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|f| f.state_hash.clone())
            .collect();
        Ok(expired.iter().filter_map(|hash| state.flows.remove(hash)).collect())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.append(&mut self.state(), event);
        Ok(())
    }

    async fn events(&self, owner: &Owner, ref_id: &RefId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.state().events.iter().filter(|e| &e.ref_id == ref_id && &e.owner == owner).cloned().collect())
    }
}
