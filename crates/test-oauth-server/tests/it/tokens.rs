use std::time::Duration;

use test_oauth_server::{Failure, TestAuthConfig, TestAuthServer, TestClient, TokenKind};

use crate::support::{VERIFIER, authorize, exchange, http, refresh, str_of};

async fn code_of(server: &TestAuthServer) -> String {
    authorize(server, &[("resource", "https://mcp.example/mcp")]).await["code"].clone()
}

#[tokio::test]
async fn a_code_exchange_returns_tokens_bound_to_the_resource() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let code = code_of(&server).await;
    let (status, body) = exchange(&server, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["expires_in"], 3600);
    let info = server.token_info(str_of(&body, "access_token")).unwrap();
    assert!(info.active);
    assert_eq!(info.audience.as_deref(), Some("https://mcp.example/mcp"));
    assert_eq!(server.code_exchanges(), 1);
}

#[tokio::test]
async fn a_pkce_mismatch_is_rejected() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let code = code_of(&server).await;
    let wrong = "another-verifier-that-is-long-enough-for-rfc-7636-rules";
    let (status, body) = exchange(&server, &code, wrong).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(server.code_exchanges(), 0);
}

#[tokio::test]
async fn a_code_is_exchanged_once_and_its_reuse_revokes_the_tokens() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let code = code_of(&server).await;
    let (_, first) = exchange(&server, &code, VERIFIER).await;
    let access = str_of(&first, "access_token");
    let (status, again) = exchange(&server, &code, VERIFIER).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(server.code_exchanges(), 1);
    assert!(!server.token_is_active(access));
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_grant() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (_, first) = exchange(&server, &code_of(&server).await, VERIFIER).await;
    let old = str_of(&first, "refresh_token");
    let (status, second) = refresh(&server, old).await;
    assert_eq!(status, 200, "{second}");
    let new = str_of(&second, "refresh_token");
    assert_ne!(new, old);
    assert_eq!(server.refresh_reuses(), 0);

    let (status, reused) = refresh(&server, old).await;
    assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(server.refresh_reuses(), 1);
    assert!(!server.token_is_active(new));
    assert!(!server.token_is_active(str_of(&second, "access_token")));
}

#[tokio::test]
async fn an_access_token_works_until_it_expires_or_is_revoked() {
    let server = TestAuthServer::start(TestAuthConfig {
        access_token_lifetime: Some(Duration::from_millis(1500)),
        ..Default::default()
    })
    .await;
    let (_, body) = exchange(&server, &code_of(&server).await, VERIFIER).await;
    let access = str_of(&body, "access_token");
    let userinfo = |token: &str| http().get(server.userinfo_endpoint()).bearer_auth(token).send();
    assert_eq!(userinfo(access).await.unwrap().status(), 200);

    let response = http()
        .post(server.revocation_endpoint())
        .basic_auth("test-client", Some("test-secret"))
        .form(&[("token", access), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(userinfo(access).await.unwrap().status(), 401);
    let revocations = server.revocations();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].kind, TokenKind::Access);
    assert_eq!(revocations[0].hint.as_deref(), Some("access_token"));

    let (_, other) = refresh(&server, str_of(&body, "refresh_token")).await;
    let fresh = str_of(&other, "access_token");
    assert!(server.token_is_active(fresh));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(!server.token_is_active(fresh));
}

#[tokio::test]
async fn a_client_must_authenticate_the_way_it_is_registered() {
    let server = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::post("post-client", "post-secret")],
        ..Default::default()
    })
    .await;
    let via_basic = http()
        .post(server.token_endpoint())
        .basic_auth("post-client", Some("post-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(via_basic.status(), 401);
    let via_post = http()
        .post(server.token_endpoint())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "post-client"),
            ("client_secret", "post-secret"),
        ])
        .send()
        .await
        .unwrap();
    // Authenticated, then refused for the unknown token.
    assert_eq!(via_post.status(), 400);
}

#[tokio::test]
async fn failures_can_be_switched_on_and_off() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    for (failure, status) in [
        (Failure::ServerError, 500),
        (Failure::Garbage, 200),
        (Failure::TooManyRequests, 429),
        (Failure::InvalidGrant, 400),
        (Failure::Redirect, 302),
    ] {
        server.configure(|c| c.token_failure = Some(failure));
        let response =
            http().post(server.token_endpoint()).form(&[("grant_type", "refresh_token")]).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{failure:?}");
    }
    server.configure(|c| c.token_failure = None);
    let (status, body) = exchange(&server, &code_of(&server).await, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
}
