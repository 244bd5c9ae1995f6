//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3), checked the way an
//! authorization server must: the assertion's signature by a key of the client's JWK Set (by its
//! `kid`, else its only key), `iss` = `sub` = the client, an `aud` that is this server (its issuer
//! or its token endpoint's URL, at every endpoint), an `exp` in the future, and a `jti` never seen
//! before.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use crate::config::{ClientAuth, TestClient};
use crate::grants::{Form, OAuthFailure};
use crate::state::State;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    jti: String,
}

impl State {
    /// The client a `client_assertion` proves, or why it proves nothing.
    pub(crate) fn authenticate_assertion(&mut self, form: &Form) -> Result<TestClient, OAuthFailure> {
        if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return Err(OAuthFailure::client("client_assertion_type is not jwt-bearer"));
        }
        let jwt = form.get("client_assertion").ok_or_else(|| OAuthFailure::client("no client_assertion"))?;
        let header = decode_header(jwt).map_err(|_| OAuthFailure::client("the assertion is not a JWT"))?;
        let unverified: Claims = unverified_claims(jwt)?;
        let client = self.client(&unverified.sub).ok_or_else(|| OAuthFailure::client("unknown client"))?;
        if client.auth != ClientAuth::PrivateKeyJwt {
            return Err(OAuthFailure::client("wrong client authentication method"));
        }
        if form.get("client_id").is_some_and(|id| *id != client.client_id) {
            return Err(OAuthFailure::client("client_id is not the assertion's subject"));
        }
        let set: JwkSet = client
            .jwks
            .clone()
            .and_then(|jwks| serde_json::from_value(jwks).ok())
            .ok_or_else(|| OAuthFailure::client("the client has no keys"))?;
        // A `kid` names its key; without one (or with one the client's single, unnamed key cannot
        // contradict), only a client with a single key is unambiguous.
        let single = (set.keys.len() == 1).then(|| set.keys.first()).flatten();
        let jwk = match &header.kid {
            Some(kid) => set.find(kid).or(single.filter(|k| k.common.key_id.is_none())),
            None => single,
        }
        .ok_or_else(|| OAuthFailure::client("no key of the client is the assertion's"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| OAuthFailure::client("the client's key does not load"))?;
        let mut validation = Validation::new(header.alg);
        let issuer = self.issuer.clone();
        // The issuer or the token endpoint, at every endpoint (what the service sends).
        validation.set_audience(&[issuer.clone(), format!("{issuer}/token")]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        let claims = decode::<Claims>(jwt, &key, &validation)
            .map_err(|e| OAuthFailure::client(&format!("the assertion does not verify: {e}")))?
            .claims;
        if claims.iss != client.client_id || claims.sub != client.client_id {
            return Err(OAuthFailure::client("iss and sub must both be the client id"));
        }
        if !self.seen_assertions.insert(claims.jti) {
            return Err(OAuthFailure::client("the assertion's jti was used before"));
        }
        self.assertions.push(jwt.clone());
        Ok(client)
    }
}

/// The claims before verification: only to find whose keys verify them.
fn unverified_claims(jwt: &str) -> Result<Claims, OAuthFailure> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).ok_or_else(|| OAuthFailure::client("the assertion is not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| OAuthFailure::client("the assertion is not a JWT"))?;
    serde_json::from_slice(&bytes).map_err(|_| OAuthFailure::client("the assertion lacks iss, sub or jti"))
}
