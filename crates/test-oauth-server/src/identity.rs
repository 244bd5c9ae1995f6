//! Enterprise-managed authorization (the MCP extension, an application of
//! draft-ietf-oauth-identity-assertion-authz-grant), both sides, following the extension's text:
//!
//! - as the enterprise **identity provider**: ID tokens for tests ([`crate::TestAuthServer::sign_in`])
//!   and the RFC 8693 token exchange that turns one into an Identity Assertion JWT Authorization
//!   Grant (ID-JAG, `typ: oauth-id-jag+jwt`) for one MCP authorization server and resource (§4);
//! - as an **MCP authorization server**: the RFC 7523 `jwt-bearer` grant that takes an ID-JAG
//!   signed by a trusted identity provider (§5): `typ`, signature, `iss`, `aud` = this issuer,
//!   `client_id` = the authenticated client, `exp`, a `jti` used once, and the token bound to the
//!   ID-JAG's `resource`.
//!
//! Both sign and verify with ES256 keys ([`ServerKey`], made at start).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::TestClient;
use crate::grants::{Form, OAuthFailure, random_token};
use crate::state::Grant;
use crate::state::State;

pub const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
/// How long an ID-JAG lives: it is exchanged at once.
const ID_JAG_SECONDS: u64 = 300;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn invalid_request(description: &str) -> OAuthFailure {
    OAuthFailure::new(400, "invalid_request", description)
}

fn invalid_grant(description: &str) -> OAuthFailure {
    OAuthFailure::new(400, "invalid_grant", description)
}

/// The claims of `jwt` once its signature, `iss`, `aud` and `exp` hold, under `jwks`.
fn verified(jwt: &str, jwks: &Value, issuer: &str, audience: &str) -> Result<Value, String> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|_| "no keys".to_owned())?;
    let header = decode_header(jwt).map_err(|_| "not a JWT".to_owned())?;
    let jwk = header.kid.as_deref().and_then(|kid| set.find(kid)).ok_or("no trusted key has its kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "the key does not load".to_owned())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 0;
    decode::<Value>(jwt, &key, &validation).map(|d| d.claims).map_err(|e| format!("it does not verify: {e}"))
}

#[derive(Deserialize)]
struct JagClaims {
    sub: String,
    client_id: String,
    resource: String,
    jti: String,
    #[serde(default)]
    scope: Option<String>,
}

impl State {
    /// An ID token for `subject`, issued to the client `client_id` (its `aud`), valid `lifetime`.
    pub(crate) fn sign_in(&mut self, subject: &str, client_id: &str, lifetime: Duration) -> String {
        let iat = now();
        let claims = json!({"iss": self.issuer, "sub": subject, "aud": client_id, "iat": iat,
                            "exp": iat + lifetime.as_secs(), "jti": random_token("idt-")});
        let token = self.key.sign("JWT", &claims);
        self.id_tokens.push(token.clone());
        token
    }

    /// §4, at an identity provider: the ID token of one of its users, presented by the client it
    /// was issued to, exchanged for an ID-JAG naming the MCP client `id_jag_client_id`.
    pub(crate) fn token_exchange(&mut self, client: &TestClient, form: &Form) -> Result<Value, OAuthFailure> {
        let Some(mcp_client) = self.config.id_jag_client_id.clone() else {
            return Err(OAuthFailure::new(400, "unsupported_grant_type", "this server issues no ID-JAGs"));
        };
        let field = |name: &str| form.get(name).filter(|v| !v.is_empty());
        if field("requested_token_type").map(String::as_str) != Some(ID_JAG) {
            return Err(invalid_request("requested_token_type must be the ID-JAG type"));
        }
        if field("subject_token_type").map(String::as_str) != Some(ID_TOKEN) {
            return Err(invalid_request("subject_token_type must be an ID token"));
        }
        let (Some(audience), Some(resource), Some(subject_token)) =
            (field("audience"), field("resource"), field("subject_token"))
        else {
            return Err(invalid_request("audience, resource and subject_token are required"));
        };
        // §4.1: the ID token must be this provider's, and issued to the client presenting it.
        let claims = verified(subject_token, &self.key.jwks, &self.issuer, &client.client_id)
            .map_err(|why| invalid_grant(&format!("the subject token: {why}")))?;
        if self.config.id_jag_denied {
            return Err(invalid_grant(&format!("the policy does not allow this MCP server for {subject_token}")));
        }
        let iat = now();
        let mut jag = json!({"iss": self.issuer, "sub": claims["sub"], "aud": audience, "resource": resource,
                             "client_id": mcp_client, "jti": random_token("jag-"), "iat": iat,
                             "exp": iat + ID_JAG_SECONDS});
        if let Some(scope) = field("scope") {
            jag["scope"] = json!(scope);
        }
        self.counters.token_exchanges += 1;
        let signed = self.key.sign(ID_JAG_TYP, &jag);
        self.id_jags.push(signed.clone());
        let mut answer = json!({"issued_token_type": ID_JAG, "access_token": signed, "token_type": "N_A",
                                "expires_in": ID_JAG_SECONDS});
        if let Some(scope) = field("scope") {
            answer["scope"] = json!(scope);
        }
        Ok(answer)
    }

    /// §5, at an MCP authorization server: an ID-JAG from the trusted identity provider, presented
    /// by the client it names, for a token bound to its resource (no refresh token: the client
    /// exchanges again).
    pub(crate) fn jwt_bearer_grant(&mut self, client: &TestClient, form: &Form) -> Result<Value, OAuthFailure> {
        let Some(trusted) = self.config.trusted_idp.clone() else {
            return Err(OAuthFailure::new(400, "unsupported_grant_type", "no identity provider is trusted"));
        };
        let assertion = form.get("assertion").ok_or_else(|| invalid_request("assertion is required"))?;
        let header = decode_header(assertion).map_err(|_| invalid_grant("the assertion is not a JWT"))?;
        if header.typ.as_deref() != Some(ID_JAG_TYP) {
            return Err(invalid_grant("the assertion is not an ID-JAG (typ)"));
        }
        let claims = verified(assertion, &trusted.jwks, &trusted.issuer, &self.issuer)
            .map_err(|why| invalid_grant(&format!("the ID-JAG: {why}")))?;
        let claims: JagClaims =
            serde_json::from_value(claims).map_err(|_| invalid_grant("the ID-JAG lacks a required claim"))?;
        if claims.client_id != client.client_id {
            return Err(invalid_grant("the ID-JAG was issued to another client"));
        }
        if form.get("resource").is_some_and(|r| *r != claims.resource) {
            return Err(OAuthFailure::new(400, "invalid_target", "not the ID-JAG's resource"));
        }
        if !self.seen_assertions.insert(claims.jti) {
            return Err(invalid_grant("the ID-JAG was used before"));
        }
        self.counters.jwt_bearer += 1;
        let grant = Grant {
            family: self.new_family(),
            client_id: client.client_id.clone(),
            scope: claims.scope.unwrap_or_default(),
            audience: Some(claims.resource),
        };
        self.jag_subjects.push(claims.sub);
        let keep = (!self.config.refresh_token_with_jwt_bearer).then(String::new);
        Ok(self.issue(grant, keep))
    }
}
