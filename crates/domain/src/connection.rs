use std::fmt;

use crate::{Account, AuthMethod, Label, Owner, RefId, Scopes, ServerName, Timestamp, Transport};

/// Where a connection is in its life (spec §2.3).
///
/// ```text
/// pending_oauth ──complete──▶ connected ──expire──▶ expired
///       │                        ▲  └─refresh─┘        │
///       └──fail──▶ failed        └─────────────────────┴──reauthorize──▶ pending_oauth
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    PendingOAuth,
    Connected,
    Expired,
    Failed,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 4] = [Self::PendingOAuth, Self::Connected, Self::Expired, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingOAuth => "pending_oauth",
            Self::Connected => "connected",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a connection cannot go from {from} by `{action}`")]
pub struct TransitionError {
    pub from: ConnectionStatus,
    pub action: &'static str,
}

/// A user's connection to one MCP server. Secrets are not part of it: they live beside it,
/// sealed, and only the credential use case ever opens them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub ref_id: RefId,
    /// Whose it is: only this tenant's engine, acting for this end user, ever reaches it.
    pub owner: Owner,
    pub server_name: ServerName,
    /// The caller's name for it (several accounts on one server), if it gave one.
    pub label: Option<Label>,
    /// Who signed in at the provider, when its token response said (OAuth only).
    pub account: Option<Account>,
    /// How an OAuth connection's token is renewed (set when it is made, never changed).
    pub grant: crate::OAuthGrant,
    /// The display name for custom servers; catalog entries take theirs from the catalog.
    pub display_name: Option<String>,
    /// The MCP endpoint the credential is for, fixed when the connection was made.
    pub url: Option<String>,
    pub transport: Transport,
    pub auth_method: AuthMethod,
    /// Whether `…/credentials` may hand out the upstream secret; `false`: only through the MCP
    /// proxy (issue 16). Set when it is made, never changed.
    pub exportable: bool,
    /// When the MCP proxy last carried a call of it (written in batches, so a little behind).
    pub last_used_at: Option<Timestamp>,
    status: ConnectionStatus,
    status_reason: Option<String>,
    pub scopes: Scopes,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The parts of a connection fixed at its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnection {
    pub ref_id: RefId,
    pub owner: Owner,
    pub server_name: ServerName,
    /// The caller's name for it, if it gave one.
    pub label: Option<Label>,
    pub display_name: Option<String>,
    pub url: Option<String>,
    pub transport: Transport,
    pub auth_method: AuthMethod,
    /// Whether `…/credentials` may hand out the upstream secret (`false`: only the MCP proxy).
    pub exportable: bool,
}

impl Connection {
    /// A connection that waits for the user to grant access at the provider.
    pub fn pending(new: NewConnection, now: Timestamp) -> Self {
        Self::with_status(new, ConnectionStatus::PendingOAuth, now)
    }

    /// A connection usable at once (static API key or no auth).
    pub fn connected(new: NewConnection, now: Timestamp) -> Self {
        Self::with_status(new, ConnectionStatus::Connected, now)
    }

    fn with_status(new: NewConnection, status: ConnectionStatus, now: Timestamp) -> Self {
        Self {
            ref_id: new.ref_id,
            owner: new.owner,
            server_name: new.server_name,
            label: new.label,
            account: None,
            grant: crate::OAuthGrant::AuthorizationCode,
            display_name: new.display_name,
            url: new.url,
            transport: new.transport,
            auth_method: new.auth_method,
            exportable: new.exportable,
            last_used_at: None,
            status,
            status_reason: None,
            scopes: Scopes::empty(),
            expires_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Rebuilds a stored connection. Storage adapters use this; it trusts its input.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        new: NewConnection,
        status: ConnectionStatus,
        status_reason: Option<String>,
        scopes: Scopes,
        expires_at: Option<Timestamp>,
        created_at: Timestamp,
        updated_at: Timestamp,
    ) -> Self {
        Self {
            status,
            status_reason,
            scopes,
            expires_at,
            created_at,
            updated_at,
            ..Self::with_status(new, status, created_at)
        }
    }

    pub fn status(&self) -> ConnectionStatus {
        self.status
    }

    /// Why the connection is `failed` or `expired`, in words safe to show (never a secret).
    pub fn status_reason(&self) -> Option<&str> {
        self.status_reason.as_deref()
    }

    /// The user granted access and the code was exchanged: `pending_oauth` → `connected`.
    pub fn complete_authorization(
        &mut self,
        scopes: Scopes,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), TransitionError> {
        self.require(ConnectionStatus::PendingOAuth, "complete_authorization")?;
        self.status = ConnectionStatus::Connected;
        self.status_reason = None;
        self.scopes = scopes;
        self.expires_at = expires_at;
        self.updated_at = now;
        Ok(())
    }

    /// The flow could not finish (denied, exchange failed, TTL ran out): `pending_oauth` → `failed`.
    pub fn fail(&mut self, reason: impl Into<String>, now: Timestamp) -> Result<(), TransitionError> {
        self.require(ConnectionStatus::PendingOAuth, "fail")?;
        self.status = ConnectionStatus::Failed;
        self.status_reason = Some(reason.into());
        self.updated_at = now;
        Ok(())
    }

    /// A token was refreshed: stays `connected` with the new expiry (and scopes, when granted anew).
    pub fn record_refresh(
        &mut self,
        scopes: Option<Scopes>,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), TransitionError> {
        self.require(ConnectionStatus::Connected, "record_refresh")?;
        if let Some(scopes) = scopes {
            self.scopes = scopes;
        }
        self.expires_at = expires_at;
        self.updated_at = now;
        Ok(())
    }

    /// Refresh failed for good: `connected` → `expired`; the user has to reconnect.
    pub fn expire(&mut self, reason: impl Into<String>, now: Timestamp) -> Result<(), TransitionError> {
        self.require(ConnectionStatus::Connected, "expire")?;
        self.status = ConnectionStatus::Expired;
        self.status_reason = Some(reason.into());
        self.updated_at = now;
        Ok(())
    }

    /// The user reconnects in place: `expired` or `failed` → `pending_oauth`, keeping the ref id.
    pub fn reauthorize(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        match self.status {
            ConnectionStatus::Expired | ConnectionStatus::Failed if self.auth_method == AuthMethod::OAuth => {
                self.status = ConnectionStatus::PendingOAuth;
                self.status_reason = None;
                self.updated_at = now;
                Ok(())
            }
            from => Err(TransitionError { from, action: "reauthorize" }),
        }
    }

    /// A refresh's token response named who signed in: that account replaces the one known. One
    /// that names nobody (`None`) keeps it, so a refresh without an `id_token` forgets nothing.
    pub fn name_account(&mut self, account: Option<Account>) {
        if account.is_some() {
            self.account = account;
        }
    }

    /// A code exchange's token response: a new grant, perhaps of someone else (a reconnect in
    /// place), so its account, or none, replaces the one known.
    pub fn grant_account(&mut self, account: Option<Account>) {
        self.account = account;
    }

    /// Whether the engine may be handed a credential for this connection now.
    pub fn is_usable(&self) -> bool {
        self.status == ConnectionStatus::Connected
    }

    fn require(&self, expected: ConnectionStatus, action: &'static str) -> Result<(), TransitionError> {
        if self.status == expected { Ok(()) } else { Err(TransitionError { from: self.status, action }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(auth_method: AuthMethod) -> NewConnection {
        NewConnection {
            ref_id: RefId::from_random([7; 16]),
            owner: Owner::default_owner(),
            server_name: ServerName::parse("linear").unwrap(),
            label: None,
            display_name: None,
            url: Some("https://mcp.linear.app/mcp".into()),
            transport: Transport::StreamableHttp,
            auth_method,
            exportable: true,
        }
    }

    const T0: Timestamp = Timestamp::from_unix(1_000);
    const T1: Timestamp = Timestamp::from_unix(2_000);

    #[test]
    fn a_pending_connection_becomes_connected_with_scopes_and_expiry() {
        let mut c = Connection::pending(new(AuthMethod::OAuth), T0);
        let scopes = Scopes::parse_delimited("read write").unwrap();
        c.complete_authorization(scopes.clone(), Some(T1), T1).unwrap();
        assert_eq!(c.status(), ConnectionStatus::Connected);
        assert_eq!(c.scopes, scopes);
        assert_eq!(c.expires_at, Some(T1));
        assert_eq!(c.updated_at, T1);
        assert_eq!(c.created_at, T0);
        assert!(c.is_usable());
    }

    #[test]
    fn a_connected_connection_cannot_be_completed_or_failed_again() {
        let mut c = Connection::connected(new(AuthMethod::ApiKey), T0);
        let before = c.clone();
        assert_eq!(
            c.complete_authorization(Scopes::empty(), None, T1),
            Err(TransitionError { from: ConnectionStatus::Connected, action: "complete_authorization" })
        );
        assert!(c.fail("nope", T1).is_err());
        assert_eq!(c, before, "a refused transition changes nothing");
    }

    #[test]
    fn a_failed_flow_records_its_reason_and_is_not_usable() {
        let mut c = Connection::pending(new(AuthMethod::OAuth), T0);
        c.fail("access denied by the user", T1).unwrap();
        assert_eq!(c.status(), ConnectionStatus::Failed);
        assert_eq!(c.status_reason(), Some("access denied by the user"));
        assert!(!c.is_usable());
        assert!(c.expire("x", T1).is_err());
    }

    #[test]
    fn only_connected_connections_expire_or_record_refreshes() {
        let mut pending = Connection::pending(new(AuthMethod::OAuth), T0);
        assert!(pending.expire("invalid_grant", T1).is_err());
        assert!(pending.record_refresh(None, Some(T1), T1).is_err());

        let mut c = Connection::pending(new(AuthMethod::OAuth), T0);
        c.complete_authorization(Scopes::parse_delimited("a").unwrap(), Some(T1), T0).unwrap();
        c.record_refresh(None, Some(T1.plus_seconds(3600)), T1).unwrap();
        assert_eq!(c.expires_at, Some(T1.plus_seconds(3600)));
        assert_eq!(c.scopes.to_delimited(), "a", "a refresh without scopes keeps the granted ones");
        c.expire("invalid_grant", T1).unwrap();
        assert_eq!(c.status(), ConnectionStatus::Expired);
    }

    #[test]
    fn expired_and_failed_oauth_connections_can_be_reauthorized_in_place() {
        let mut c = Connection::pending(new(AuthMethod::OAuth), T0);
        c.fail("timeout", T0).unwrap();
        c.reauthorize(T1).unwrap();
        assert_eq!(c.status(), ConnectionStatus::PendingOAuth);
        assert_eq!(c.status_reason(), None);

        let mut key = Connection::connected(new(AuthMethod::ApiKey), T0);
        assert!(key.reauthorize(T1).is_err(), "connected connections are not reauthorized");
    }

    #[test]
    fn statuses_round_trip_through_their_wire_names() {
        for s in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConnectionStatus::parse("deleted"), None);
    }

    #[test]
    fn a_token_response_that_names_an_account_replaces_it_and_one_that_names_none_keeps_it() {
        let mut c = Connection::pending(new(AuthMethod::OAuth), T0);
        assert_eq!(c.account, None);
        c.name_account(Account::from_provider("ada@example.com"));
        c.name_account(None);
        assert_eq!(c.account.as_ref().map(Account::as_str), Some("ada@example.com"));
        c.name_account(Account::from_provider("grace@example.com"));
        assert_eq!(c.account.as_ref().map(Account::as_str), Some("grace@example.com"));
        // A new grant (a code exchange) is perhaps someone else's: what it names, or nobody.
        c.grant_account(None);
        assert_eq!(c.account, None);
    }
}
