//! Starting a server, getting a code from it, and building the adapter and its endpoints.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::TokenEndpointAuth;
use oauth_adapter::{HttpConfig, OAuthAdapter, SafeHttp};
use ports::{ClientCredentials, TokenEndpoint};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use test_oauth_server::TestAuthServer;
use url::Url;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/assets/oauth/callback";
pub const RESOURCE: &str = "https://mcp.example/mcp";

pub fn adapter() -> OAuthAdapter {
    adapter_with(true)
}

pub fn adapter_with(allow_private_networks: bool) -> OAuthAdapter {
    let http = SafeHttp::new(&HttpConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        allow_private_networks,
    })
    .unwrap();
    OAuthAdapter::new(http).with_revoke_timeout(Duration::from_millis(500))
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

pub fn endpoint(url: String, auth: TokenEndpointAuth, id: &str, secret_: Option<&str>) -> TokenEndpoint {
    TokenEndpoint {
        url,
        auth,
        client: ClientCredentials::with_secret(id.to_owned(), secret_.map(secret)),
        audience: None,
    }
}

/// The default client of the test server (`client_secret_basic`).
pub fn token_endpoint(server: &TestAuthServer) -> TokenEndpoint {
    endpoint(server.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "test-client", Some("test-secret"))
}

pub fn revocation_endpoint(server: &TestAuthServer) -> TokenEndpoint {
    TokenEndpoint { url: server.revocation_endpoint(), ..token_endpoint(server) }
}

/// A fresh code and its PKCE verifier, from a real `/authorize` round trip.
pub async fn code_for(server: &TestAuthServer, client_id: &str) -> (SecretString, SecretString) {
    let verifier = "adapter-test-verifier-long-enough-for-rfc-7636";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = Url::parse(&server.authorization_endpoint()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", "s")
        .append_pair("scope", "read write")
        .append_pair("resource", RESOURCE)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = no_redirects.get(url).send().await.unwrap();
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code =
        location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("the server approved");
    (secret(&code), secret(verifier))
}
