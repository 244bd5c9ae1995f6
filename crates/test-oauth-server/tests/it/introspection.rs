use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer, TestClient};

use crate::support::{VERIFIER, authorize, exchange, http, refresh, str_of, token};

const RESOURCE: &str = "https://mcp.example/mcp";

/// A server that also knows the confidential client a resource server introspects with.
async fn server_with(config: TestAuthConfig) -> TestAuthServer {
    let mut clients = config.clients.clone();
    clients.push(TestClient::basic("resource-server", "rs-secret"));
    TestAuthServer::start(TestAuthConfig { clients, ..config }).await
}

/// `POST /introspect` as `resource-server` (Basic): the status and the body.
async fn introspect(server: &TestAuthServer, token: &str) -> (u16, Value) {
    introspect_as(server, Some(("resource-server", "rs-secret")), &[("token", token)]).await
}

async fn introspect_as(server: &TestAuthServer, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = http().post(server.introspection_endpoint()).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn tokens_of(server: &TestAuthServer) -> Value {
    let code = authorize(server, &[("resource", RESOURCE)]).await["code"].clone();
    let (status, body) = exchange(server, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn introspection_describes_an_access_token_it_issued_and_calls_anything_else_inactive() {
    let server = server_with(TestAuthConfig::default()).await;
    let metadata: Value = http().get(server.metadata_url()).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["introspection_endpoint"], server.introspection_endpoint());

    let tokens = tokens_of(&server).await;
    let (status, answer) = introspect(&server, str_of(&tokens, "access_token")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "read write");
    assert_eq!(answer["client_id"], "test-client");
    assert_eq!(answer["aud"], RESOURCE);
    assert_eq!(answer["iss"], server.issuer());
    let exp = answer["exp"].as_u64().expect("an exp");
    assert!((now() + 3590..=now() + 3600).contains(&exp), "exp {exp} is not an hour from now");

    // A refresh token is no bearer token; a value never issued is nothing.
    for other in [str_of(&tokens, "refresh_token"), "at-never-issued"] {
        assert_eq!(introspect(&server, other).await, (200, json!({"active": false})));
    }
    assert_eq!(server.counters().introspections, 3);
}

#[tokio::test]
async fn a_client_credentials_token_introspects_as_its_clients_own() {
    let server = server_with(TestAuthConfig::default()).await;
    let (status, body) = token(&server, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
    assert_eq!(status, 200, "{body}");
    let (_, answer) = introspect(&server, str_of(&body, "access_token")).await;
    assert_eq!(
        (&answer["active"], &answer["client_id"], &answer["scope"]),
        (&json!(true), &json!("test-client"), &json!("read"))
    );
    assert!(answer.get("aud").is_none(), "no resource was asked for: {answer}");
}

#[tokio::test]
async fn an_access_token_is_inactive_once_revoked_its_grant_revoked_or_expired() {
    let server = server_with(TestAuthConfig::default()).await;
    let revoked = tokens_of(&server).await;
    let revoked = str_of(&revoked, "access_token");
    let response = http()
        .post(server.revocation_endpoint())
        .basic_auth("test-client", Some("test-secret"))
        .form(&[("token", revoked)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(introspect(&server, revoked).await.1, json!({"active": false}));

    let withdrawn = tokens_of(&server).await;
    assert!(server.revoke_grant(str_of(&withdrawn, "refresh_token")));
    assert_eq!(introspect(&server, str_of(&withdrawn, "access_token")).await.1, json!({"active": false}));

    // A lifetime of zero: expired as soon as it is issued.
    server.configure(|c| c.access_token_lifetime = Some(Duration::ZERO));
    let expired = tokens_of(&server).await;
    assert_eq!(introspect(&server, str_of(&expired, "access_token")).await.1, json!({"active": false}));
}

#[tokio::test]
async fn introspection_agrees_with_the_servers_own_resource_about_a_token_refreshed_away() {
    let server = server_with(TestAuthConfig::default()).await;
    let first = tokens_of(&server).await;
    let old_access = str_of(&first, "access_token");
    let (status, second) = refresh(&server, str_of(&first, "refresh_token")).await;
    assert_eq!(status, 200, "{second}");
    let userinfo = |token: &str| http().get(server.userinfo_endpoint()).bearer_auth(token).send();

    // Rotation retires the refresh token, not the access token issued with it: both still work
    // until they expire, at the userinfo resource and by introspection alike.
    for access in [old_access, str_of(&second, "access_token")] {
        assert_eq!(userinfo(access).await.unwrap().status(), 200);
        assert_eq!(introspect(&server, access).await.1["active"], true);
    }

    // Presenting the retired refresh token again revokes the whole grant: neither works.
    let (status, _) = refresh(&server, str_of(&first, "refresh_token")).await;
    assert_eq!(status, 400);
    for access in [old_access, str_of(&second, "access_token")] {
        assert_eq!(userinfo(access).await.unwrap().status(), 401);
        assert_eq!(introspect(&server, access).await.1, json!({"active": false}));
    }
}

#[tokio::test]
async fn only_a_confidential_client_that_authenticates_may_introspect() {
    let mut config = TestAuthConfig::default();
    config.clients.push(TestClient::public("public-client"));
    let server = server_with(config).await;
    let tokens = tokens_of(&server).await;
    let access = str_of(&tokens, "access_token");

    let (status, body) = introspect_as(&server, None, &[("token", access)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = introspect_as(&server, Some(("resource-server", "wrong")), &[("token", access)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = introspect_as(&server, None, &[("token", access), ("client_id", "public-client")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = introspect_as(&server, Some(("resource-server", "rs-secret")), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(server.counters().introspections, 0);
}
