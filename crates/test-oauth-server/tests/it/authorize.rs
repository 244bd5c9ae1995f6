use test_oauth_server::{IssMode, TestAuthConfig, TestAuthServer, WRONG_ISSUER};
use url::Url;

use crate::support::{REDIRECT_URI, VERIFIER, authorize, challenge, http};

#[tokio::test]
async fn consent_redirects_with_a_code_the_state_and_the_issuer() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let params = authorize(&server, &[("resource", "https://mcp.example/mcp")]).await;
    assert!(params["code"].starts_with("code-"));
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], server.issuer());
    let seen = server.authorize_requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get("resource"), Some("https://mcp.example/mcp"));
    assert_eq!(seen[0].get("scope"), Some("read write"));
}

#[tokio::test]
async fn with_the_consent_page_on_authorize_asks_first_and_the_allow_button_consents() {
    let server = TestAuthServer::start(TestAuthConfig { consent_page: true, ..Default::default() }).await;
    let mut url = Url::parse(&server.authorization_endpoint()).unwrap();
    let asked = [("response_type", "code"), ("client_id", "test-client"), ("redirect_uri", REDIRECT_URI)];
    url.query_pairs_mut().extend_pairs(asked).extend_pairs([
        ("state", "st-<1>&\"x\""),
        ("code_challenge", &challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
    ]);
    let page = http().get(url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<button id="allow" name="consent" value="allow">"#), "{html}");
    assert!(html.contains(r#"name="state" value="st-&lt;1&gt;&amp;&quot;x&quot;""#), "escaped: {html}");

    // What the button sends: the same request with consent=allow.
    url.query_pairs_mut().append_pair("consent", "allow");
    let allowed = http().get(url).send().await.unwrap();
    assert_eq!(allowed.status(), 302);
    let location = Url::parse(allowed.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert!(params["code"].starts_with("code-"));
    assert_eq!(params["state"], "st-<1>&\"x\"");
}

#[tokio::test]
async fn a_denied_consent_redirects_with_access_denied_and_the_state() {
    let server = TestAuthServer::start(TestAuthConfig { deny: true, ..Default::default() }).await;
    let params = authorize(&server, &[]).await;
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-1");
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn the_iss_parameter_can_be_wrong_or_missing() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    server.configure(|c| c.iss = IssMode::Wrong);
    assert_eq!(authorize(&server, &[]).await["iss"], WRONG_ISSUER);
    server.configure(|c| c.iss = IssMode::Missing);
    assert!(!authorize(&server, &[]).await.contains_key("iss"));
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_no_redirect() {
    let server = TestAuthServer::start(TestAuthConfig { allow_loopback_redirects: false, ..Default::default() }).await;
    let mut url = Url::parse(&server.authorization_endpoint()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "test-client")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn pkce_plain_is_refused() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let params = authorize(&server, &[("code_challenge_method", "plain")]).await;
    // The extra pair repeats the parameter; the server reads the last one.
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test]
async fn metadata_advertises_s256_the_iss_parameter_and_registration() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let doc: serde_json::Value = http().get(server.metadata_url()).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], server.issuer());
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["registration_endpoint"], server.registration_endpoint());
}

#[tokio::test]
async fn registration_creates_a_client_with_the_answered_credentials() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let response = http()
        .post(server.registration_endpoint())
        .json(&serde_json::json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_post",
            "application_type": "web",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let clients = server.registered_clients();
    assert_eq!(clients.len(), 1);
    assert_eq!(body["client_id"], clients[0].client_id.as_str());
    assert_eq!(body["client_secret"].as_str(), clients[0].client_secret.as_deref());
    assert_eq!(server.registrations()[0]["application_type"], "web");
}
