//! Pure helpers of the OAuth flow: state hashing, PKCE and the authorization URL.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ports::AuthorizationRequest;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a `state` value: what the flow store keys flows by.
pub(crate) fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &SecretString) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

/// The authorization URL for `request`, keeping any query the endpoint already has.
pub(crate) fn authorization_url(request: &AuthorizationRequest) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(&request.authorization_endpoint)?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &request.extra_params {
            q.append_pair(k, v);
        }
        q.append_pair("response_type", "code")
            .append_pair("client_id", &request.client_id)
            .append_pair("redirect_uri", &request.redirect_uri)
            .append_pair("state", request.state.expose_secret())
            .append_pair("code_challenge", &request.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if !request.scopes.is_empty() {
            q.append_pair("scope", &request.scopes.to_delimited());
        }
        if let Some(resource) = &request.resource {
            q.append_pair("resource", resource);
        }
    }
    Ok(url.into())
}

/// Whether `return_to` is an absolute http(s) URL that starts with one of the allowed prefixes.
pub(crate) fn return_to_allowed(return_to: &str, allowlist: &[String]) -> bool {
    let Ok(url) = url::Url::parse(return_to) else {
        return false;
    };
    if !matches!(url.scheme(), "https" | "http") || url.username() != "" || url.password().is_some() {
        return false;
    }
    // Compare against the normalised form so `https://app.example.evil.com` cannot pass
    // a prefix `https://app.example` without a path boundary.
    let normalised = url.as_str();
    allowlist.iter().any(|prefix| {
        let Ok(p) = url::Url::parse(prefix) else {
            return false;
        };
        let p = p.as_str();
        normalised.starts_with(p)
            && (p.ends_with('/') || matches!(normalised.as_bytes().get(p.len()), None | Some(b'/' | b'?' | b'#')))
    })
}

/// The query parameters the browser callback adds to `return_to` when the flow ends
/// (`actix-api`'s `routes/callback.rs`). A `return_to` must not carry them already: the app
/// would read a forged `error` or `ref_id` next to the real one.
pub(crate) const OUTCOME_PARAMS: [&str; 3] = ["ref_id", "status", "error"];

/// Which of [`OUTCOME_PARAMS`] the query of `return_to` already carries (names compared
/// decoded, as the app reads them).
pub(crate) fn outcome_params_in(return_to: &str) -> Vec<&'static str> {
    let Ok(url) = url::Url::parse(return_to) else {
        return Vec::new();
    };
    let names: Vec<_> = url.query_pairs().map(|(name, _)| name).collect();
    OUTCOME_PARAMS.into_iter().filter(|p| names.iter().any(|n| n == p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Scopes;
    use std::collections::BTreeMap;

    #[test]
    fn pkce_challenge_matches_the_rfc_7636_example() {
        let verifier = SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(pkce_challenge(&verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn the_authorization_url_carries_every_parameter_and_keeps_the_endpoint_query() {
        let req = AuthorizationRequest {
            authorization_endpoint: "https://as.example/authorize?team=1".into(),
            client_id: "cid".into(),
            redirect_uri: "http://127.0.0.1:8000/assets/oauth/callback".into(),
            scopes: Scopes::parse_delimited("read write").unwrap(),
            state: SecretString::from("st"),
            code_challenge: "ch".into(),
            resource: Some("https://mcp.example/mcp".into()),
            extra_params: BTreeMap::from([("prompt".to_owned(), "consent".to_owned())]),
        };
        let url = url::Url::parse(&authorization_url(&req).unwrap()).unwrap();
        let q: BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["team"], "1");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8000/assets/oauth/callback");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "read write");
        assert_eq!(q["resource"], "https://mcp.example/mcp");
    }

    #[test]
    fn the_outcome_parameters_already_in_a_return_to_are_found_by_their_decoded_names() {
        assert_eq!(outcome_params_in("https://app.example/done?tab=1#error=x"), Vec::<&str>::new());
        assert_eq!(outcome_params_in("https://app.example/done?%73tatus=x&ref_id=y"), ["ref_id", "status"]);
        assert_eq!(outcome_params_in("https://app.example/done?error"), ["error"]);
    }

    #[test]
    fn return_to_must_start_with_an_allowed_prefix_at_a_boundary() {
        let allow = vec!["https://app.example".to_owned(), "http://localhost:3000/done".to_owned()];
        assert!(return_to_allowed("https://app.example/done?x=1", &allow));
        assert!(return_to_allowed("http://localhost:3000/done", &allow));
        assert!(!return_to_allowed("https://app.example.evil.com/", &allow));
        assert!(!return_to_allowed("https://evil.com/?https://app.example", &allow));
        assert!(!return_to_allowed("https://user@app.example/", &allow));
        assert!(!return_to_allowed("javascript:alert(1)", &allow));
        assert!(!return_to_allowed("/relative", &allow));
        assert!(!return_to_allowed("https://app.example/", &[]));
    }

    #[test]
    fn state_hash_is_hex_sha256() {
        assert_eq!(state_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
