use domain::TokenEndpointAuth;
use ports::{OAuthClient, OAuthError, TokenHint};
use secrecy::ExposeSecret;
use test_oauth_server::{ClientAuth, TestAuthConfig, TestAuthServer, TestClient, TokenKind};

use crate::support::{
    REDIRECT_URI, RESOURCE, adapter, code_for, endpoint, revocation_endpoint, secret, token_endpoint,
};

#[tokio::test]
async fn an_exchange_returns_working_tokens_with_the_granted_scopes_and_expiry() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let tokens = adapter()
        .exchange_code(&token_endpoint(&server), &code, &verifier, REDIRECT_URI, Some(RESOURCE.into()))
        .await
        .unwrap();
    assert_eq!(tokens.scopes.unwrap().to_delimited(), "read write");
    assert_eq!(tokens.expires_in, Some(3600));
    let info = server.token_info(tokens.access_token.expose_secret()).unwrap();
    assert!(info.active);
    assert_eq!(info.audience.as_deref(), Some(RESOURCE));
    assert!(server.token_is_active(tokens.refresh_token.unwrap().expose_secret()));
    let seen = &server.token_requests()[0];
    assert_eq!(seen.auth, Some(ClientAuth::ClientSecretBasic));
    assert_eq!(seen.resource.as_deref(), Some(RESOURCE));
    assert_eq!(server.code_exchanges(), 1);
}

#[tokio::test]
async fn post_and_public_clients_authenticate_in_the_body() {
    let server = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::post("post-client", "post-secret"), TestClient::public("app")],
        ..Default::default()
    })
    .await;
    let cases = [
        ("post-client", TokenEndpointAuth::ClientSecretPost, Some("post-secret")),
        // A secret configured for a `none` client is never sent.
        ("app", TokenEndpointAuth::None, Some("ignored")),
    ];
    for (id, auth, client_secret) in cases {
        let (code, verifier) = code_for(&server, id).await;
        let endpoint = endpoint(server.token_endpoint(), auth, id, client_secret);
        let result = adapter().exchange_code(&endpoint, &code, &verifier, REDIRECT_URI, None).await;
        assert!(result.is_ok(), "{id}: {result:?}");
    }
    let auths: Vec<_> = server.token_requests().iter().map(|r| r.auth).collect();
    assert_eq!(auths, [Some(ClientAuth::ClientSecretPost), Some(ClientAuth::None)]);
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_sends_the_resource() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let endpoint = token_endpoint(&server);
    let first =
        adapter().exchange_code(&endpoint, &code, &verifier, REDIRECT_URI, Some(RESOURCE.into())).await.unwrap();
    let old = first.refresh_token.unwrap();
    let second = adapter().refresh(&endpoint, &old, Some(RESOURCE.into())).await.unwrap();
    let new = second.refresh_token.unwrap();
    assert_ne!(new.expose_secret(), old.expose_secret());
    assert!(!server.token_is_active(old.expose_secret()));
    assert!(server.token_is_active(second.access_token.expose_secret()));
    assert_eq!(server.counters().refreshes, 1);
    assert_eq!(server.refresh_reuses(), 0);
    assert_eq!(server.token_requests()[1].resource.as_deref(), Some(RESOURCE));
}

#[tokio::test]
async fn a_response_without_expiry_scope_or_refresh_token_leaves_them_unknown() {
    let server = TestAuthServer::start(TestAuthConfig {
        access_token_lifetime: None,
        return_scope: false,
        issue_refresh_tokens: false,
        ..Default::default()
    })
    .await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let tokens = adapter().exchange_code(&token_endpoint(&server), &code, &verifier, REDIRECT_URI, None).await.unwrap();
    assert_eq!(tokens.expires_in, None);
    assert!(tokens.scopes.is_none());
    assert!(tokens.refresh_token.is_none());
}

#[tokio::test]
async fn revocation_reaches_the_server_with_its_hint() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let tokens = adapter().exchange_code(&token_endpoint(&server), &code, &verifier, REDIRECT_URI, None).await.unwrap();
    let refresh = tokens.refresh_token.unwrap();
    let revocation = revocation_endpoint(&server);
    let adapter = adapter();
    adapter.revoke(&revocation, &refresh, TokenHint::RefreshToken).await.unwrap();
    adapter.revoke(&revocation, &tokens.access_token, TokenHint::AccessToken).await.unwrap();
    let seen: Vec<_> =
        server.revocations().into_iter().map(|r| (r.token, r.hint.unwrap_or_default(), r.kind)).collect();
    assert_eq!(
        seen,
        [
            (refresh.expose_secret().to_owned(), "refresh_token".to_owned(), TokenKind::Refresh),
            (tokens.access_token.expose_secret().to_owned(), "access_token".to_owned(), TokenKind::Access),
        ]
    );
    assert!(!server.token_is_active(tokens.access_token.expose_secret()));
}

#[tokio::test]
async fn a_refused_exchange_names_the_error_but_never_the_code_or_verifier() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (code, _) = code_for(&server, "test-client").await;
    let wrong = secret("a-wrong-verifier-that-is-long-enough-for-rfc-7636");
    let err = adapter().exchange_code(&token_endpoint(&server), &code, &wrong, REDIRECT_URI, None).await.unwrap_err();
    assert!(matches!(&err, OAuthError::Rejected { code, .. } if code == "invalid_grant"));
    let shown = format!("{err} {err:?}");
    for secret in [code.expose_secret(), wrong.expose_secret(), "test-secret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn a_wrong_client_secret_is_rejected_as_invalid_client() {
    let server = TestAuthServer::start(TestAuthConfig::default()).await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let endpoint =
        endpoint(server.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "test-client", Some("not-the-secret"));
    let err = adapter().exchange_code(&endpoint, &code, &verifier, REDIRECT_URI, None).await.unwrap_err();
    assert!(matches!(&err, OAuthError::Rejected { code, .. } if code == "invalid_client"));
    assert!(!format!("{err:?}").contains("not-the-secret"));
}

#[tokio::test]
async fn secrets_with_reserved_characters_authenticate_for_every_call_and_method() {
    let odd = "p@ss:w+rd/=&%";
    let server = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("basic:client", odd), TestClient::post("post-client", odd)],
        ..Default::default()
    })
    .await;
    for (id, auth) in
        [("basic:client", TokenEndpointAuth::ClientSecretBasic), ("post-client", TokenEndpointAuth::ClientSecretPost)]
    {
        let (code, verifier) = code_for(&server, id).await;
        let token = endpoint(server.token_endpoint(), auth, id, Some(odd));
        let tokens = adapter()
            .exchange_code(&token, &code, &verifier, REDIRECT_URI, None)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let revocation = endpoint(server.revocation_endpoint(), auth, id, Some(odd));
        adapter()
            .revoke(&revocation, &tokens.access_token, TokenHint::AccessToken)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
        assert!(!server.token_is_active(tokens.access_token.expose_secret()));
    }
    assert_eq!(server.revocations().len(), 2);
}

#[tokio::test]
async fn an_exchange_answered_with_an_id_token_names_the_account_and_a_refresh_without_one_names_none() {
    let server = TestAuthServer::start(TestAuthConfig {
        id_token_claims: Some(
            serde_json::json!({"sub": "user-42", "email": "ada@example.com", "email_verified": true}),
        ),
        ..Default::default()
    })
    .await;
    let (code, verifier) = code_for(&server, "test-client").await;
    let endpoint = token_endpoint(&server);
    let first = adapter().exchange_code(&endpoint, &code, &verifier, REDIRECT_URI, None).await.unwrap();
    assert_eq!(first.account.as_ref().map(domain::Account::as_str), Some("ada@example.com"));
    assert_eq!(server.id_tokens().len(), 1, "the server answered an id_token");
    assert!(!format!("{first:?}").contains(&server.id_tokens()[0]), "the token set shows no id_token");

    let refreshed = adapter().refresh(&endpoint, first.refresh_token.as_ref().unwrap(), None).await.unwrap();
    assert_eq!(refreshed.account, None, "no id_token on refresh: the response names nobody");
}
