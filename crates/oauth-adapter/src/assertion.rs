//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): the client proves itself with a
//! short-lived JWT signed by its private key instead of a shared secret.
//!
//! The key is the one given for that client ([`ports::ClientKey`]) or the service's own
//! ([`SigningKeys`]), whose public halves are published as a JWK Set at `GET /oauth/jwks.json`:
//! the current key signs, previous keys stay published through a rotation's overlap, and each
//! key's id is its RFC 7638 thumbprint, so nobody has to name one.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use domain::SigningAlgorithm;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ports::{ClientKey, OAuthError, TokenEndpoint};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is good for: one token call.
const LIFETIME_SECONDS: u64 = 60;

/// A key the service's own assertions are signed with: ES256 on P-256.
struct OwnKey {
    key: EncodingKey,
    kid: String,
}

/// The service's own signing keys: the one that signs, and every one that is published.
#[derive(Clone)]
pub struct SigningKeys {
    current: Option<std::sync::Arc<OwnKey>>,
    published: JwkSet,
}

impl Default for SigningKeys {
    /// No key: nothing signs, nothing is published.
    fn default() -> Self {
        Self { current: None, published: JwkSet { keys: Vec::new() } }
    }
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.published.keys.iter().filter_map(|k| k.common.key_id.as_deref()).collect();
        f.debug_struct("SigningKeys").field("published", &kids).finish_non_exhaustive()
    }
}

/// A signing key that does not read as a P-256 private key in PEM. Names no part of the key.
#[derive(Debug, thiserror::Error)]
#[error("a signing key is not an EC P-256 private key in PKCS #8 PEM (key {position} of the list)")]
pub struct SigningKeyError {
    /// 1 for the current key, 2 and on for the previous ones, in the order given.
    pub position: usize,
}

impl SigningKeys {
    /// The keys of `current` (signs and is published) and `previous` (published only), each an
    /// EC P-256 private key in PKCS #8 PEM.
    pub fn new(current: Option<&SecretString>, previous: &[SecretString]) -> Result<Self, SigningKeyError> {
        let mut keys = Self::default();
        for (index, pem) in current.into_iter().chain(previous).enumerate() {
            let bad = || SigningKeyError { position: index + 1 };
            let key = EncodingKey::from_ec_pem(pem.expose_secret().as_bytes()).map_err(|_| bad())?;
            let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(|_| bad())?;
            let kid = jwk.thumbprint(ThumbprintHash::SHA256);
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            if keys.published.find(&kid).is_none() {
                keys.published.keys.push(jwk);
            }
            if index == 0 && current.is_some() {
                keys.current = Some(std::sync::Arc::new(OwnKey { key, kid }));
            }
        }
        Ok(keys)
    }

    /// A new EC P-256 private key in PKCS #8 PEM (the development key).
    pub fn generate() -> SecretString {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("the OS gives randomness");
        SecretString::from(pair.serialize_pem())
    }

    /// The public JWK Set (`GET /oauth/jwks.json`): no private part, ever.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::to_value(&self.published).unwrap_or_else(|_| serde_json::json!({"keys": []}))
    }

    /// Whether the service can sign its own assertions.
    pub fn can_sign(&self) -> bool {
        self.current.is_some()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// The `client_assertion_type` and `client_assertion` form fields that authenticate a call to
/// `endpoint` (whose `auth` is `private_key_jwt`): a new assertion for every call, since an
/// authorization server may refuse a `jti` it has seen.
pub(crate) fn assertion_params(
    endpoint: &TokenEndpoint,
    own: &SigningKeys,
) -> Result<[(&'static str, String); 2], OAuthError> {
    let client_id = &endpoint.client.client_id;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: endpoint.audience.as_deref().unwrap_or(&endpoint.url),
        iat: now,
        exp: now + LIFETIME_SECONDS,
        jti: jti(),
    };
    let jwt = match &endpoint.client.private_key {
        Some(given) => {
            let (key, algorithm) = client_key(given)?;
            jsonwebtoken::encode(&Header::new(algorithm), &claims, &key)
        }
        None => {
            let own = own.current.as_ref().ok_or_else(|| {
                OAuthError::ClientAuthentication(
                    "private_key_jwt needs a signing key, and the service has none".to_owned(),
                )
            })?;
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(own.kid.clone());
            jsonwebtoken::encode(&header, &claims, &own.key)
        }
    }
    .map_err(|_| OAuthError::ClientAuthentication("the client assertion could not be signed".to_owned()))?;
    Ok([("client_assertion_type", ASSERTION_TYPE.to_owned()), ("client_assertion", jwt)])
}

/// The key and algorithm of a client's own key, or why it cannot sign (naming no part of it).
fn client_key(given: &ClientKey) -> Result<(EncodingKey, Algorithm), OAuthError> {
    let pem = given.pem.expose_secret().as_bytes();
    let parsed = match given.algorithm {
        SigningAlgorithm::Es256 => EncodingKey::from_ec_pem(pem).map(|k| (k, Algorithm::ES256)),
        SigningAlgorithm::Rs256 => EncodingKey::from_rsa_pem(pem).map(|k| (k, Algorithm::RS256)),
    };
    parsed.map_err(|_| {
        OAuthError::ClientAuthentication(format!(
            "the client's private key is not a {} private key in PEM",
            given.algorithm.as_str()
        ))
    })
}

/// Whether `given` can sign client assertions: read, and tried once (a key that reads but
/// cannot sign, an EC key of another curve say, is found here and not at the first token call).
pub(crate) fn check_client_key(given: &ClientKey) -> Result<(), OAuthError> {
    let (key, algorithm) = client_key(given)?;
    jsonwebtoken::encode(&Header::new(algorithm), &serde_json::json!({}), &key).map(|_| ()).map_err(|_| {
        OAuthError::ClientAuthentication(format!("the client's private key cannot sign {}", given.algorithm.as_str()))
    })
}

/// 128 random bits, base64url: unique per assertion.
fn jti() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS gives randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
