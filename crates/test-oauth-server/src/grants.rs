//! The token endpoint's rules: client authentication, the code grant with PKCE, and refresh
//! with rotation and reuse detection. Pure logic on [`State`]; the HTTP layer is in `routes`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{ClientAuth, TestClient};
use crate::state::{AccessRecord, CodeGrant, Grant, RefreshRecord, State};

/// Life of an authorization code.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(120);

pub(crate) type Form = HashMap<String, String>;

/// The grant types of enterprise-managed authorization: the token exchange an identity provider
/// answers with an ID-JAG, and the grant an MCP server's authorization server takes it with.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An OAuth error answer.
#[derive(Debug)]
pub(crate) struct OAuthFailure {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
}

impl OAuthFailure {
    pub(crate) fn new(status: u16, code: &'static str, description: &str) -> Self {
        Self { status, code, description: description.to_owned() }
    }

    fn grant(description: &str) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    pub(crate) fn client(description: &str) -> Self {
        Self::new(401, "invalid_client", description)
    }
}

/// A random opaque value with a readable prefix (`at-`, `rt-`, `code-`, …).
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `BASE64URL(SHA256(verifier))` equals `challenge`, and the verifier has RFC 7636's shape.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

impl State {
    /// Authenticates the client the way it is registered to, from a Basic header or the form.
    pub(crate) fn authenticate(
        &mut self,
        basic: Option<(String, String)>,
        form: &Form,
    ) -> Result<(TestClient, ClientAuth), OAuthFailure> {
        if form.contains_key("client_assertion") || form.contains_key("client_assertion_type") {
            if basic.is_some() || form.contains_key("client_secret") {
                return Err(OAuthFailure::new(400, "invalid_request", "more than one client authentication method"));
            }
            return self.authenticate_assertion(form).map(|client| (client, ClientAuth::PrivateKeyJwt));
        }
        let (client_id, secret, used) = match basic {
            Some(_) if form.contains_key("client_secret") => {
                return Err(OAuthFailure::new(400, "invalid_request", "more than one client authentication method"));
            }
            Some((id, secret)) => (id, Some(secret), ClientAuth::ClientSecretBasic),
            None => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(s)) => (id.clone(), Some(s.clone()), ClientAuth::ClientSecretPost),
                (Some(id), None) => (id.clone(), None, ClientAuth::None),
                (None, _) => return Err(OAuthFailure::client("no client authentication")),
            },
        };
        let client = self.client(&client_id).ok_or_else(|| OAuthFailure::client("unknown client"))?;
        if client.auth != used {
            return Err(OAuthFailure::client("wrong client authentication method"));
        }
        if client.client_secret != secret {
            return Err(OAuthFailure::client("wrong client secret"));
        }
        Ok((client, used))
    }

    /// Runs the grant the form asks for and answers the token response.
    pub(crate) fn grant(&mut self, client: &TestClient, form: &Form) -> Result<Value, OAuthFailure> {
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => self.exchange_code(client, form),
            Some("refresh_token") => self.refresh_grant(client, form),
            Some("client_credentials") => self.client_credentials_grant(client, form),
            Some(TOKEN_EXCHANGE) => self.token_exchange(client, form),
            Some(JWT_BEARER) => self.jwt_bearer_grant(client, form),
            _ => Err(OAuthFailure::new(
                400,
                "unsupported_grant_type",
                "only authorization_code, refresh_token, client_credentials, token exchange and jwt-bearer",
            )),
        }
    }

    /// RFC 6749 §4.4: a confidential client's own token, bound to the `resource` asked for, with
    /// the scope asked for (or the configured one), never a refresh token (§4.4.3).
    fn client_credentials_grant(&mut self, client: &TestClient, form: &Form) -> Result<Value, OAuthFailure> {
        if client.auth == ClientAuth::None {
            return Err(OAuthFailure::new(400, "unauthorized_client", "a public client has no credentials"));
        }
        let scope = self.config.granted_scope.clone().unwrap_or_else(|| form.get("scope").cloned().unwrap_or_default());
        let grant = Grant { family: self.new_family(), client_id: client.client_id.clone(), scope, audience: None };
        let grant = Grant { audience: resource_for(form, None)?, ..grant };
        self.counters.client_credentials += 1;
        // `issue` mints a refresh token only when none is kept; here none is kept and none made.
        Ok(self.issue(grant, Some(String::new())))
    }

    fn exchange_code(&mut self, client: &TestClient, form: &Form) -> Result<Value, OAuthFailure> {
        let code = form.get("code").map(String::as_str).unwrap_or_default();
        if let Some(family) = self.spent_codes.get(code).copied() {
            // RFC 6749 §4.1.2: a code used twice revokes what it already produced.
            self.revoke_family(family);
            return Err(OAuthFailure::grant("the code was already used"));
        }
        let found = self.codes.remove(code).ok_or_else(|| OAuthFailure::grant("unknown code"))?;
        self.spent_codes.insert(code.to_owned(), found.grant.family);
        if found.expires_at < Instant::now() {
            return Err(OAuthFailure::grant("the code expired"));
        }
        if found.grant.client_id != client.client_id {
            return Err(OAuthFailure::grant("the code belongs to another client"));
        }
        if form.get("redirect_uri") != Some(&found.redirect_uri) {
            return Err(OAuthFailure::grant("redirect_uri does not match"));
        }
        let verifier = form.get("code_verifier").map(String::as_str).unwrap_or_default();
        if !pkce_matches(verifier, &found.code_challenge) {
            return Err(OAuthFailure::grant("PKCE verification failed"));
        }
        let mut grant = found.grant;
        grant.audience = resource_for(form, grant.audience)?;
        self.counters.code_exchanges += 1;
        let client_id = grant.client_id.clone();
        let body = self.issue(grant, None);
        Ok(self.with_id_token(body, &client_id, false))
    }

    fn refresh_grant(&mut self, client: &TestClient, form: &Form) -> Result<Value, OAuthFailure> {
        let presented = form.get("refresh_token").map(String::as_str).unwrap_or_default();
        let revoke_on_reuse = self.config.revoke_family_on_reuse;
        let record = self.refresh.get_mut(presented).ok_or_else(|| OAuthFailure::grant("unknown refresh token"))?;
        if record.grant.client_id != client.client_id {
            return Err(OAuthFailure::grant("the token belongs to another client"));
        }
        let family = record.grant.family;
        if record.retired {
            self.counters.refresh_reuses += 1;
            if revoke_on_reuse {
                self.revoke_family(family);
            }
            return Err(OAuthFailure::grant("refresh token reused"));
        }
        if record.revoked || self.revoked_families.contains(&family) {
            return Err(OAuthFailure::grant("the grant was revoked"));
        }
        let mut grant = record.grant.clone();
        grant.audience = resource_for(form, grant.audience)?;
        let keep = if self.config.rotate_refresh_tokens {
            record.retired = true;
            None
        } else {
            Some(presented.to_owned())
        };
        self.counters.refreshes += 1;
        let client_id = grant.client_id.clone();
        let body = self.issue(grant, keep);
        Ok(self.with_id_token(body, &client_id, true))
    }

    /// Mints tokens for `grant`; `keep_refresh` is the refresh token that stays (no rotation).
    pub(crate) fn issue(&mut self, grant: Grant, keep_refresh: Option<String>) -> Value {
        let lifetime = self.config.access_token_lifetime;
        let access_token = random_token("at-");
        self.access.insert(
            access_token.clone(),
            AccessRecord { grant: grant.clone(), expires_at: lifetime.map(|l| Instant::now() + l), revoked: false },
        );
        let mut body = json!({"access_token": access_token, "token_type": "Bearer"});
        if let Some(lifetime) = lifetime {
            body["expires_in"] = json!(lifetime.as_secs());
        }
        if self.config.return_scope && !grant.scope.is_empty() {
            body["scope"] = json!(grant.scope);
        }
        if self.config.issue_refresh_tokens && keep_refresh.is_none() {
            let refresh_token = random_token("rt-");
            self.refresh.insert(refresh_token.clone(), RefreshRecord { grant, retired: false, revoked: false });
            body["refresh_token"] = json!(refresh_token);
        }
        body
    }

    /// `body` with an `id_token` when the configuration asks for one on this grant: a JWS whose
    /// payload holds the configured claims and whose signature is random bytes.
    fn with_id_token(&mut self, mut body: Value, client_id: &str, refresh: bool) -> Value {
        let Some(Value::Object(configured)) = self.config.id_token_claims.clone() else { return body };
        if refresh && !self.config.id_token_on_refresh {
            return body;
        }
        let mut claims = serde_json::Map::from_iter([
            ("iss".to_owned(), json!(self.issuer)),
            ("aud".to_owned(), json!(client_id)),
            ("iat".to_owned(), json!(0)),
        ]);
        claims.extend(configured);
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT", "kid": "test"}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
        let id_token = format!("{header}.{payload}.{}", random_token(""));
        self.id_tokens.push(id_token.clone());
        body["id_token"] = json!(id_token);
        body
    }

    /// Stores a code for an approved authorization request and returns it.
    pub(crate) fn new_code(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        code_challenge: &str,
        scope: String,
        resource: Option<String>,
    ) -> String {
        let family = self.new_family();
        let code = random_token("code-");
        self.codes.insert(
            code.clone(),
            CodeGrant {
                grant: Grant { family, client_id: client_id.to_owned(), scope, audience: resource },
                redirect_uri: redirect_uri.to_owned(),
                code_challenge: code_challenge.to_owned(),
                expires_at: Instant::now() + CODE_LIFETIME,
            },
        );
        code
    }
}

/// RFC 8707: a `resource` on the token request must be the one the grant is bound to (when it
/// is bound to one); the token's audience is that resource.
fn resource_for(form: &Form, bound: Option<String>) -> Result<Option<String>, OAuthFailure> {
    match (form.get("resource"), bound) {
        (Some(asked), Some(bound)) if *asked != bound => {
            Err(OAuthFailure::new(400, "invalid_target", "resource differs from the authorized one"))
        }
        (asked, bound) => Ok(bound.or_else(|| asked.cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifier_matches_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_matches("short", "anything"));
    }
}
