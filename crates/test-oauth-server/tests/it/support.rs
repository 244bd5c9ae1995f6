//! A tiny OAuth client for driving the server by hand.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::redirect::Policy;
use sha2::{Digest, Sha256};
use test_oauth_server::TestAuthServer;
use url::Url;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub const VERIFIER: &str = "a-verifier-that-is-long-enough-for-rfc-7636-rules";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Follows `/authorize` once and returns the redirect's query parameters.
pub async fn authorize(server: &TestAuthServer, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let challenge = challenge(VERIFIER);
    let mut url = Url::parse(&server.authorization_endpoint()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "test-client")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", "st-1")
        .append_pair("scope", "read write")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let location = Url::parse(location).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI));
    location.query_pairs().into_owned().collect()
}

/// Posts a token request as `test-client` with Basic authentication.
pub async fn token(server: &TestAuthServer, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = http()
        .post(server.token_endpoint())
        .basic_auth("test-client", Some("test-secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub async fn exchange(server: &TestAuthServer, code: &str, verifier: &str) -> (u16, serde_json::Value) {
    token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

pub async fn refresh(server: &TestAuthServer, refresh_token: &str) -> (u16, serde_json::Value) {
    token(server, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

pub fn str_of<'a>(body: &'a serde_json::Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_else(|| panic!("no {field} in {body}"))
}
