//! The server's memory: clients, codes, tokens and grant families, plus what tests read back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use crate::config::{ClientAuth, TestAuthConfig, TestClient};

/// One `/authorize` request as received, every query parameter included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRecord {
    pub params: BTreeMap<String, String>,
}

impl AuthorizeRecord {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// One `/token` request that got past the failure switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    /// How the client authenticated, when it did.
    pub auth: Option<ClientAuth>,
    pub resource: Option<String>,
    /// `None` on success, else the OAuth error code answered.
    pub error: Option<String>,
}

/// What a revoked token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    Unknown,
}

/// One `/revoke` request from an authenticated client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub token: String,
    pub hint: Option<String>,
    pub kind: TokenKind,
}

/// What the server knows about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub kind: TokenKind,
    /// Issued here, not revoked, not expired, and (for a refresh token) not retired.
    pub active: bool,
    pub client_id: String,
    pub scope: String,
    /// The `resource` the grant was bound to (RFC 8707), i.e. the token's audience.
    pub audience: Option<String>,
    /// When an access token expires (`None`: a refresh token, or one issued without a lifetime).
    pub expires_at: Option<Instant>,
}

/// Counters tests assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every `POST /token`, failures and refusals included.
    pub token_requests: u64,
    /// Successful authorization-code exchanges.
    pub code_exchanges: u64,
    /// Successful refreshes.
    pub refreshes: u64,
    /// Retired refresh tokens presented again.
    pub refresh_reuses: u64,
    /// Requests that followed the redirect of [`crate::Failure::Redirect`].
    pub redirect_follows: u64,
    /// Successful client credentials grants.
    pub client_credentials: u64,
    /// Calls of this server's own `/mcp` (a server of the 2025-03-26 revision) that it answered.
    pub legacy_mcp_answered: u64,
    /// ID-JAGs issued (as an identity provider) and taken for tokens (as an MCP server's).
    pub token_exchanges: u64,
    pub jwt_bearer: u64,
    /// `POST /introspect` requests from an authenticated client, whatever the token.
    pub introspections: u64,
}

/// The authorization a set of tokens descends from; rotation keeps the family.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub family: u64,
    pub client_id: String,
    pub scope: String,
    pub audience: Option<String>,
}

#[derive(Debug)]
pub(crate) struct CodeGrant {
    pub grant: Grant,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: Instant,
}

#[derive(Debug)]
pub(crate) struct AccessRecord {
    pub grant: Grant,
    pub expires_at: Option<Instant>,
    pub revoked: bool,
}

#[derive(Debug)]
pub(crate) struct RefreshRecord {
    pub grant: Grant,
    pub retired: bool,
    pub revoked: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub config: TestAuthConfig,
    pub issuer: String,
    pub registered: Vec<TestClient>,
    pub codes: HashMap<String, CodeGrant>,
    /// Codes already exchanged, with the family they started.
    pub spent_codes: HashMap<String, u64>,
    pub access: HashMap<String, AccessRecord>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub revoked_families: HashSet<u64>,
    pub next_family: u64,
    pub counters: Counters,
    pub authorize_log: Vec<AuthorizeRecord>,
    pub token_log: Vec<TokenRecord>,
    pub revocations: Vec<Revocation>,
    pub registrations: Vec<serde_json::Value>,
    /// Every `id_token` answered, for leak scans.
    pub id_tokens: Vec<String>,
    /// The `jti` of every client assertion accepted: a replay is refused.
    pub seen_assertions: HashSet<String>,
    /// Every client assertion accepted, for leak scans.
    pub assertions: Vec<String>,
    /// The key its ID tokens and ID-JAGs are signed with.
    pub key: crate::keys::ServerKey,
    /// The subject of every ID-JAG taken for a token.
    pub jag_subjects: Vec<String>,
    /// Every ID-JAG issued, for leak scans.
    pub id_jags: Vec<String>,
}

impl State {
    pub(crate) fn new(config: TestAuthConfig, issuer: String) -> Self {
        Self {
            config,
            issuer,
            registered: Vec::new(),
            codes: HashMap::new(),
            spent_codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            revoked_families: HashSet::new(),
            next_family: 1,
            counters: Counters::default(),
            authorize_log: Vec::new(),
            token_log: Vec::new(),
            revocations: Vec::new(),
            registrations: Vec::new(),
            id_tokens: Vec::new(),
            seen_assertions: HashSet::new(),
            assertions: Vec::new(),
            key: crate::keys::ServerKey::generate(),
            jag_subjects: Vec::new(),
            id_jags: Vec::new(),
        }
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<TestClient> {
        let known = self.config.clients.iter().chain(&self.registered).find(|c| c.client_id == client_id).cloned();
        known.or_else(|| {
            // A Client ID Metadata Document URL: a public client redirecting to its own origin,
            // at the Asset Directory's callback of the document's issuer key (if it names one).
            let url = url::Url::parse(client_id).ok().filter(|u| u.scheme() == "https")?;
            self.config.accept_client_id_urls.then(|| {
                let origin = url.origin().ascii_serialization();
                let key = url.path().strip_prefix("/oauth/client-metadata/").and_then(|f| f.strip_suffix(".json"));
                let callback = key.map_or_else(String::new, |k| format!("/{k}"));
                TestClient::public(client_id).with_redirect_uri(&format!("{origin}/assets/oauth/callback{callback}"))
            })
        })
    }

    pub(crate) fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    pub(crate) fn revoke_family(&mut self, family: u64) {
        self.revoked_families.insert(family);
    }

    pub(crate) fn token_info(&self, token: &str) -> Option<TokenInfo> {
        let (kind, grant, usable, expires_at) = if let Some(a) = self.access.get(token) {
            let fresh = a.expires_at.is_none_or(|t| Instant::now() < t);
            (TokenKind::Access, &a.grant, !a.revoked && fresh, a.expires_at)
        } else if let Some(r) = self.refresh.get(token) {
            (TokenKind::Refresh, &r.grant, !r.revoked && !r.retired, None)
        } else {
            return None;
        };
        Some(TokenInfo {
            kind,
            active: usable && !self.revoked_families.contains(&grant.family),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            audience: grant.audience.clone(),
            expires_at,
        })
    }

    /// RFC 7009: revoking a refresh token ends its whole grant; an access token ends alone.
    pub(crate) fn revoke_token(&mut self, token: &str) -> TokenKind {
        if let Some(a) = self.access.get_mut(token) {
            a.revoked = true;
            TokenKind::Access
        } else if let Some(r) = self.refresh.get_mut(token) {
            r.revoked = true;
            let family = r.grant.family;
            self.revoke_family(family);
            TokenKind::Refresh
        } else {
            TokenKind::Unknown
        }
    }
}

impl crate::TestAuthServer {
    /// Revokes the whole grant `token` (an access or refresh token) descends from, as a user who
    /// withdraws consent at the provider: every token of it stops working, and a refresh answers
    /// `invalid_grant`. Returns whether the token was issued here.
    pub fn revoke_grant(&self, token: &str) -> bool {
        let mut state = crate::routes::lock(&self.state);
        let family = match (state.access.get(token), state.refresh.get(token)) {
            (Some(access), _) => access.grant.family,
            (None, Some(refresh)) => refresh.grant.family,
            (None, None) => return false,
        };
        state.revoke_family(family);
        true
    }
}
