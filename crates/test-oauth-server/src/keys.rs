//! The keys the test server makes: its own ES256 key (it signs ID tokens and ID-JAGs with it),
//! and key pairs for harnesses' `private_key_jwt` clients.

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::Value;

/// The server's own ES256 key: it signs ID tokens and ID-JAGs.
pub(crate) struct ServerKey {
    encoding: EncodingKey,
    kid: String,
    pub(crate) jwks: Value,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl ServerKey {
    pub(crate) fn generate() -> Self {
        let (pem, jwks) = generate_key("ES256").expect("a P-256 key is generated");
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).expect("the generated key reads");
        let kid = jwks["keys"][0]["kid"].as_str().unwrap_or_default().to_owned();
        Self { encoding, kid, jwks }
    }

    pub(crate) fn sign(&self, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).expect("claims of JSON values sign")
    }
}

/// A new private key in PEM for `algorithm` (`ES256` or `RS256`) and the JWK Set of its public
/// half, for harnesses whose client signs assertions.
pub(crate) fn generate_key(algorithm: &str) -> Option<(String, Value)> {
    let (pem, key, algorithm) = match algorithm {
        "ES256" => {
            let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).ok()?.serialize_pem();
            let key = EncodingKey::from_ec_pem(pem.as_bytes()).ok()?;
            (pem, key, Algorithm::ES256)
        }
        "RS256" => {
            let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).ok()?.serialize_pem();
            let key = EncodingKey::from_rsa_pem(pem.as_bytes()).ok()?;
            (pem, key, Algorithm::RS256)
        }
        _ => return None,
    };
    let mut jwk = Jwk::from_encoding_key(&key, algorithm).ok()?;
    jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256));
    Some((pem, serde_json::json!({"keys": [jwk]})))
}
