//! Enterprise-managed authorization against the in-repo servers: a user's ID token exchanged at
//! an identity provider for an ID-JAG (RFC 8693), which an authorization server that trusts that
//! provider takes for a token bound to the MCP server (RFC 7523); each refusal is a rejection.

use std::time::Duration;

use domain::{Scopes, TokenEndpointAuth};
use ports::{OAuthClient, OAuthError};
use secrecy::ExposeSecret;
use test_oauth_server::{TestAuthConfig, TestAuthServer, TestClient, TrustedIdp};

use crate::support::{RESOURCE, adapter, endpoint};

/// The identity provider (the service is its client `directory`, whose ID-JAGs name the MCP
/// client `mcp-client`) and an authorization server that trusts it.
async fn servers() -> (TestAuthServer, TestAuthServer) {
    let idp = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("directory", "idp-secret")],
        id_jag_client_id: Some("mcp-client".into()),
        ..TestAuthConfig::default()
    })
    .await;
    let trusted = TrustedIdp { issuer: idp.issuer().into(), jwks: idp.jwks() };
    let auth = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("mcp-client", "mcp-secret")],
        trusted_idp: Some(trusted),
        ..TestAuthConfig::default()
    })
    .await;
    (idp, auth)
}

#[tokio::test]
async fn an_id_token_becomes_an_id_jag_and_the_id_jag_a_token_for_the_mcp_server() {
    let (idp, auth) = servers().await;
    let id_token = crate::support::secret(&idp.sign_in("ada", "directory", Duration::from_secs(600)));
    let idp_endpoint =
        endpoint(idp.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "directory", Some("idp-secret"));
    let read = Scopes::parse_delimited("read").unwrap();
    let jag = adapter().exchange_identity(&idp_endpoint, &id_token, auth.issuer(), RESOURCE, &read).await.unwrap();
    assert_ne!(jag.expose_secret(), id_token.expose_secret());

    let mcp = endpoint(auth.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "mcp-client", Some("mcp-secret"));
    let tokens = adapter().jwt_bearer(&mcp, &jag, &read, Some(RESOURCE.into())).await.unwrap();
    let info = auth.token_info(tokens.access_token.expose_secret()).expect("issued there");
    assert_eq!((info.audience.as_deref(), info.client_id.as_str()), (Some(RESOURCE), "mcp-client"));
    assert!(tokens.refresh_token.is_none(), "the service exchanges again instead");
    assert_eq!(auth.jag_subjects(), ["ada"]);

    // An ID-JAG is taken once.
    let again = adapter().jwt_bearer(&mcp, &jag, &read, Some(RESOURCE.into())).await.unwrap_err();
    assert!(matches!(again, OAuthError::Rejected { ref code, .. } if code == "invalid_grant"), "{again:?}");
}

#[tokio::test]
async fn the_identity_provider_refuses_another_clients_id_token_and_what_its_policy_denies() {
    let (idp, auth) = servers().await;
    let idp_endpoint =
        endpoint(idp.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "directory", Some("idp-secret"));
    let none = Scopes::empty();
    let someone_elses = crate::support::secret(&idp.sign_in("ada", "another-app", Duration::from_secs(600)));
    let err =
        adapter().exchange_identity(&idp_endpoint, &someone_elses, auth.issuer(), RESOURCE, &none).await.unwrap_err();
    assert!(matches!(err, OAuthError::Rejected { ref code, .. } if code == "invalid_grant"), "{err:?}");

    idp.configure(|c| c.id_jag_denied = true);
    let own = crate::support::secret(&idp.sign_in("ada", "directory", Duration::from_secs(600)));
    let err = adapter().exchange_identity(&idp_endpoint, &own, auth.issuer(), RESOURCE, &none).await.unwrap_err();
    let OAuthError::Rejected { code, description } = err else { panic!("a rejection") };
    assert_eq!(code, "invalid_grant");
    let description = description.unwrap_or_default();
    assert!(description.contains("[redacted]"), "the provider repeated it: {description}");
    assert!(!description.contains(own.expose_secret()), "the ID token is never repeated");
}

#[tokio::test]
async fn an_authorization_server_takes_an_id_jag_only_for_the_client_it_names_and_from_the_provider_it_trusts() {
    let (idp, auth) = servers().await;
    let idp_endpoint =
        endpoint(idp.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "directory", Some("idp-secret"));
    let none = Scopes::empty();
    let id_token = crate::support::secret(&idp.sign_in("ada", "directory", Duration::from_secs(600)));
    let jag = adapter().exchange_identity(&idp_endpoint, &id_token, auth.issuer(), RESOURCE, &none).await.unwrap();
    auth.configure(|c| c.clients.push(TestClient::basic("other-client", "other-secret")));
    let other =
        endpoint(auth.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "other-client", Some("other-secret"));
    let err = adapter().jwt_bearer(&other, &jag, &none, None).await.unwrap_err();
    assert!(matches!(err, OAuthError::Rejected { ref code, .. } if code == "invalid_grant"), "{err:?}");

    // Signed by a provider it does not trust (another server's key).
    let stranger = TestAuthServer::start(TestAuthConfig::default()).await;
    auth.configure(|c| c.trusted_idp = Some(TrustedIdp { issuer: idp.issuer().into(), jwks: stranger.jwks() }));
    let mcp = endpoint(auth.token_endpoint(), TokenEndpointAuth::ClientSecretBasic, "mcp-client", Some("mcp-secret"));
    let jag = adapter().exchange_identity(&idp_endpoint, &id_token, auth.issuer(), RESOURCE, &none).await.unwrap();
    let err = adapter().jwt_bearer(&mcp, &jag, &none, None).await.unwrap_err();
    assert!(matches!(err, OAuthError::Rejected { ref code, .. } if code == "invalid_grant"), "{err:?}");
}
