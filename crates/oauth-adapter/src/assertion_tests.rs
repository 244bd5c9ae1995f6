use std::collections::HashSet;

use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use ports::ClientCredentials;

use super::*;

fn endpoint(issuer: Option<&str>, private_key: Option<ClientKey>) -> TokenEndpoint {
    TokenEndpoint {
        url: "https://as.example/token".to_owned(),
        auth: domain::TokenEndpointAuth::PrivateKeyJwt,
        client: ClientCredentials { client_id: "client-7".to_owned(), client_secret: None, private_key },
        audience: issuer.map(str::to_owned),
    }
}

fn assertion(endpoint: &TokenEndpoint, keys: &SigningKeys) -> String {
    let [(type_name, kind), (name, jwt)] = assertion_params(endpoint, keys).unwrap();
    assert_eq!((type_name, kind.as_str(), name), ("client_assertion_type", ASSERTION_TYPE, "client_assertion"));
    jwt
}

/// The claims of `jwt`, verified with the published key its header names.
fn verified(jwt: &str, published: &serde_json::Value, audience: &str) -> serde_json::Value {
    let set: JwkSet = serde_json::from_value(published.clone()).unwrap();
    let header = decode_header(jwt).unwrap();
    let jwk = set.find(header.kid.as_deref().expect("the header names its key")).expect("the key is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    decode::<serde_json::Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

#[test]
fn the_service_key_signs_an_assertion_its_published_key_verifies_with_the_claims_rfc_7523_asks_for() {
    let keys = SigningKeys::new(Some(&SigningKeys::generate()), &[]).unwrap();
    let endpoint = endpoint(Some("https://as.example"), None);
    let claims = verified(&assertion(&endpoint, &keys), &keys.jwks(), "https://as.example");
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("client-7"), Some("client-7")));
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert!(exp > iat && exp - iat <= 60, "short-lived: {claims}");
    let jtis: HashSet<String> = (0..20)
        .map(|_| verified(&assertion(&endpoint, &keys), &keys.jwks(), "https://as.example")["jti"].to_string())
        .collect();
    assert_eq!(jtis.len(), 20, "a new jti for every call");
}

#[test]
fn without_an_issuer_the_audience_is_the_token_endpoint() {
    let keys = SigningKeys::new(Some(&SigningKeys::generate()), &[]).unwrap();
    let claims = verified(&assertion(&endpoint(None, None), &keys), &keys.jwks(), "https://as.example/token");
    assert_eq!(claims["aud"], "https://as.example/token");
}

#[test]
fn previous_keys_stay_published_but_only_the_current_key_signs() {
    let (old, new) = (SigningKeys::generate(), SigningKeys::generate());
    let before = SigningKeys::new(Some(&old), &[]).unwrap();
    let after = SigningKeys::new(Some(&new), std::slice::from_ref(&old)).unwrap();
    let kids = |keys: &SigningKeys| -> Vec<String> {
        keys.jwks()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(kids(&after).len(), 2);
    assert_eq!(kids(&after)[1], kids(&before)[0], "the old key keeps its id through the overlap");
    let jwt = assertion(&endpoint(None, None), &after);
    assert_eq!(decode_header(&jwt).unwrap().kid.as_deref(), Some(kids(&after)[0].as_str()), "signed by the new key");
    for key in after.jwks()["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "no private part is published: {key}");
        assert_eq!(
            (key["kty"].as_str(), key["use"].as_str(), key["alg"].as_str()),
            (Some("EC"), Some("sig"), Some("ES256"))
        );
    }
}

#[test]
fn a_client_key_signs_with_its_own_algorithm_and_a_bad_one_is_refused_without_being_repeated() {
    let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let given = ClientKey { pem: SecretString::from(rsa.serialize_pem()), algorithm: SigningAlgorithm::Rs256 };
    check_client_key(&given).unwrap();
    let jwt = assertion(&endpoint(None, Some(given)), &SigningKeys::default());
    let header = decode_header(&jwt).unwrap();
    assert_eq!((header.alg, header.kid), (Algorithm::RS256, None));
    let public = DecodingKey::from_rsa_pem(rsa.public_key_pem().as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://as.example/token"]);
    decode::<serde_json::Value>(&jwt, &public, &validation).unwrap();

    let ec_pem = SigningKeys::generate();
    let mismatched = ClientKey { pem: ec_pem.clone(), algorithm: SigningAlgorithm::Rs256 };
    let garbage = ClientKey {
        pem: SecretString::from("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n".to_owned()),
        algorithm: SigningAlgorithm::Es256,
    };
    for bad in [mismatched, garbage] {
        let message = check_client_key(&bad).unwrap_err().to_string();
        assert!(
            message.contains("private key") && !message.contains("c2VjcmV0") && !message.contains("BEGIN"),
            "{message}"
        );
    }
}

#[test]
fn a_client_with_no_key_of_its_own_cannot_sign_when_the_service_has_none() {
    let err = assertion_params(&endpoint(None, None), &SigningKeys::default()).unwrap_err();
    assert!(matches!(err, OAuthError::ClientAuthentication(m) if m.contains("no")));
}

#[test]
fn a_signing_key_that_is_not_p256_pem_is_refused_by_its_position_alone() {
    let good = SigningKeys::generate();
    let bad = SecretString::from("not a key".to_owned());
    let err = SigningKeys::new(Some(&good), &[bad]).unwrap_err();
    assert_eq!(err.position, 2);
    assert!(!err.to_string().contains("not a key"));
}
