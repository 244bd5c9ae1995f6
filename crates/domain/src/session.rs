//! A connect session: what a browser front end may do without the engine key. The engine's
//! backend opens one for a user; the front end presents its token to start connections, and
//! only for the servers the session allows, as that user.

use crate::{Owner, ServerName, Timestamp};

/// An open connect session. Only the SHA-256 of its token is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSession {
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    /// Whose connections it starts.
    pub owner: Owner,
    /// The servers it may connect; `None`: any server of the catalog (never a custom one).
    pub allowed_servers: Option<Vec<ServerName>>,
    /// Where a flow it starts sends the browser back (checked against the allowlist when opened).
    pub return_to: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl ConnectSession {
    /// Whether the session may start a connection to `server` (a catalog server: custom ones
    /// are never allowed from a browser).
    pub fn allows(&self, server: &ServerName) -> bool {
        self.allowed_servers.as_ref().is_none_or(|allowed| allowed.contains(server))
    }

    /// Whether it can still be used at `now`.
    pub fn is_open_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(allowed: Option<&[&str]>) -> ConnectSession {
        ConnectSession {
            token_hash: "00".repeat(32),
            owner: Owner::default_owner(),
            allowed_servers: allowed.map(|names| names.iter().map(|n| ServerName::parse(n).unwrap()).collect()),
            return_to: None,
            created_at: Timestamp::from_unix(1_000),
            expires_at: Timestamp::from_unix(1_600),
        }
    }

    #[test]
    fn a_session_allows_only_its_servers_or_any_when_it_names_none() {
        let github = ServerName::parse("github").unwrap();
        let slack = ServerName::parse("slack").unwrap();
        assert!(session(Some(&["github"])).allows(&github));
        assert!(!session(Some(&["github"])).allows(&slack));
        assert!(session(None).allows(&slack));
        assert!(!session(Some(&[])).allows(&github));
    }

    #[test]
    fn a_session_is_open_until_it_expires() {
        let s = session(None);
        assert!(s.is_open_at(Timestamp::from_unix(1_599)));
        assert!(!s.is_open_at(Timestamp::from_unix(1_600)));
    }
}
