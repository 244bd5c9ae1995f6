//! Connect sessions: the engine's backend opens one for a user, and a browser front end (or the
//! hosted connect page) presents its token to start connections as that user, only to the
//! servers the session allows, never to a custom server. The token is handed out once; the store
//! keeps only its SHA-256.

use domain::{AuthSpec, ConnectSession, Owner, ServerName, Timestamp};
use ports::{Clock, ConnectSessionStore, IdSource};
use secrecy::{ExposeSecret, SecretString};

use super::flow_parts::{ConnectOutcome, ConnectRequest};
use crate::{Deps, Directory, Error, flow};

/// Longest session token accepted; ours are 43 characters.
const MAX_TOKEN_LEN: usize = 256;

/// Most servers one session may name.
pub const MAX_ALLOWED_SERVERS: usize = 100;

/// What `POST /assets/connect-sessions` asks for, already parsed.
#[derive(Debug)]
pub struct SessionRequest {
    /// Whose connections the session starts.
    pub owner: Owner,
    /// The catalog servers it may connect; `None`: any catalog server.
    pub allowed_servers: Option<Vec<ServerName>>,
    /// Where the flows it starts send the browser back (the allowlist rule of connect).
    pub return_to: Option<String>,
}

/// An opened session: the token (shown once, to the engine's backend) and when it expires.
#[derive(Debug)]
pub struct OpenedSession {
    pub token: SecretString,
    pub expires_at: Timestamp,
}

impl<D: Deps> Directory<D> {
    /// Opens a connect session. Every allowed server must be in the catalog (`VALIDATION_ERROR`
    /// otherwise, without repeating the name), and `return_to` must pass the allowlist.
    pub async fn open_session(&self, request: SessionRequest) -> Result<OpenedSession, Error> {
        if let Some(allowed) = &request.allowed_servers {
            if allowed.is_empty() || allowed.len() > MAX_ALLOWED_SERVERS {
                return Err(Error::validation("allowed_servers", "must name 1 to 100 catalog servers"));
            }
            if allowed.iter().any(|name| self.catalog().get(name).is_none()) {
                return Err(Error::validation("allowed_servers", "names a server that is not in the catalog"));
            }
        }
        self.check_return_to(request.return_to.as_deref())?;
        let token = self.ports().ids.secret_token();
        let now = self.ports().clock.now();
        let mut allowed_servers = request.allowed_servers;
        if let Some(names) = &mut allowed_servers {
            names.sort();
            names.dedup();
        }
        let session = ConnectSession {
            token_hash: flow::state_hash(token.expose_secret()),
            owner: request.owner,
            allowed_servers,
            return_to: request.return_to,
            created_at: now,
            expires_at: now.plus_seconds(self.settings().connect_session_ttl_seconds),
        };
        self.ports().sessions.add_session(&session).await?;
        Ok(OpenedSession { token, expires_at: session.expires_at })
    }

    /// The open session a token names; `None` when it is unknown, malformed or expired.
    pub async fn session_by_token(&self, token: &str) -> Result<Option<ConnectSession>, Error> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let found = self.ports().sessions.session(&flow::state_hash(token)).await?;
        let now = self.ports().clock.now();
        Ok(found.filter(|s| s.is_open_at(now)))
    }

    /// A fresh browser nonce (256 random bits) for the hosted page's browser cookie; a flow
    /// started with it in [`ConnectRequest::browser`] completes only where it is presented.
    pub fn new_browser_nonce(&self) -> SecretString {
        self.ports().ids.secret_token()
    }

    /// How many seconds `session` stays open from now (0 once it has expired).
    pub fn session_seconds_left(&self, session: &ConnectSession) -> i64 {
        (session.expires_at.unix() - self.ports().clock.now().unix()).max(0)
    }

    /// Starts a connection as `session`'s owner: only to a server it allows, never a custom
    /// one (`VALIDATION_ERROR` for both). The request's `return_to`, else the session's. An OAuth
    /// connection only with a browser nonce (the hosted page's): an unbound flow's `auth_url`
    /// could be forwarded to someone else, whose consent would connect their account to this
    /// session's user.
    pub async fn connect_in_session(
        &self,
        session: &ConnectSession,
        mut request: ConnectRequest,
    ) -> Result<ConnectOutcome, Error> {
        if request.custom.is_some() {
            return Err(Error::validation("server_config", "a connect session connects only catalog servers"));
        }
        if !session.allows(&request.server_name) {
            return Err(Error::validation("server_name", "this connect session does not allow this server"));
        }
        let oauth = self.catalog().get(&request.server_name).is_some_and(|e| matches!(e.spec.auth, AuthSpec::OAuth(_)));
        if oauth && request.browser.is_none() {
            return Err(Error::validation(
                "server_name",
                "an OAuth server connects through the hosted connect page (connect_url), which binds the flow to the \
                 user's browser",
            ));
        }
        request.owner = session.owner.clone();
        if request.return_to.is_none() {
            request.return_to = session.return_to.clone();
        }
        self.connect(request).await
    }
}
