//! Discovery at connect time against mocked ports: nothing is stored on failure, open servers
//! connect at once, and a stale registration is replaced.

use domain::{AuthMethod, ConnectionStatus, Scopes, ServerName, TokenEndpointAuth};
use ports::{
    AuthServerMetadata, ClientRegistration, DiscoveryError, DiscoveryErrorKind, DiscoveryStep, ProtectedResource,
    RegisteredClient, ResourceAccess, Sealed,
};
use secrecy::{ExposeSecret, SecretString};

use crate::test_support::{Mocks, NOW, owner};
use crate::{ConnectOutcome, ConnectRequest, CustomServer, Error};

const ISSUER: &str = "https://as.example";

fn custom() -> ConnectRequest {
    ConnectRequest {
        owner: owner(),
        label: None,
        server_name: ServerName::parse("my-docs").unwrap(),
        api_key: None,
        custom: Some(CustomServer {
            url: "https://Docs.Example/mcp".into(),
            transport: None,
            ..CustomServer::default()
        }),
        return_to: None,
        browser: None,
        identity_assertion: None,
        exportable: None,
    }
}

/// `https://docs.example/mcp`, guarded by [`ISSUER`], whose challenge asks for `read`.
fn protected() -> ResourceAccess {
    ResourceAccess::Protected(ProtectedResource {
        resource: "https://docs.example/mcp".into(),
        authorization_servers: vec![ISSUER.into()],
        scopes_supported: None,
        challenge_scope: Some(Scopes::parse_delimited("read").unwrap()),
    })
}

fn metadata() -> AuthServerMetadata {
    AuthServerMetadata {
        issuer: ISSUER.into(),
        authorization_endpoint: Some(format!("{ISSUER}/authorize")),
        token_endpoint: format!("{ISSUER}/token"),
        revocation_endpoint: None,
        registration_endpoint: Some(format!("{ISSUER}/register")),
        scopes_supported: Some(Scopes::parse_delimited("read offline_access").unwrap()),
        code_challenge_methods_supported: vec!["S256".into()],
        token_endpoint_auth_methods_supported: Some(vec!["client_secret_post".into()]),
        iss_parameter_supported: true,
        client_id_metadata_document_supported: false,
        default_endpoints: false,
        grant_types_supported: None,
        response_types_supported: None,
    }
}

#[tokio::test]
async fn a_custom_url_the_ssrf_rule_refuses_is_a_validation_error_and_stores_nothing() {
    let mut mocks = Mocks::new();
    mocks.discovery.expect_probe().returning(|_, _| {
        Err(DiscoveryError::new(DiscoveryStep::Probe, DiscoveryErrorKind::Blocked, "10.0.0.1 is a private address"))
    });
    let err = mocks.directory().connect(custom()).await.unwrap_err();
    assert!(matches!(&err, Error::Validation { field: "server_config.url", message } if message.starts_with("probe:")));
}

#[tokio::test]
async fn an_open_server_is_connected_at_once_at_its_canonical_url() {
    let mut mocks = Mocks::new();
    mocks
        .discovery
        .expect_probe()
        .withf(|url, _| url == "https://docs.example/mcp")
        .returning(|_, _| Ok(ResourceAccess::Open));
    mocks.connections.expect_insert().times(1).returning(|c, _, flow, _| {
        assert_eq!((c.status(), c.auth_method, flow.is_none()), (ConnectionStatus::Connected, AuthMethod::None, true));
        Ok(())
    });
    assert!(matches!(mocks.directory().connect(custom()).await, Ok(ConnectOutcome::Connected { .. })));
}

#[tokio::test]
async fn a_registration_for_the_shared_redirect_uri_is_kept_and_another_is_made_for_the_issuers_own() {
    // Before redirect URIs were per issuer, every registration named the shared callback; the
    // connections made then stay bound to that client, so it is neither used for new flows nor
    // deleted.
    let own = format!("http://127.0.0.1:8000/assets/oauth/callback/{}", crate::issuer_key(ISSUER));
    let mut mocks = Mocks::new();
    mocks.discovery.expect_probe().returning(|_, _| Ok(protected()));
    mocks.discovery.expect_authorization_server().returning(|_| Ok(metadata()));
    let stale = ClientRegistration {
        issuer: ISSUER.into(),
        client_id: "old".into(),
        client_secret: None,
        auth: TokenEndpointAuth::None,
        redirect_uri: "http://127.0.0.1:8000/assets/oauth/callback".into(),
        secret_expires_at: None,
        created_at: NOW,
    };
    mocks
        .registrations
        .expect_registration()
        .returning(move |_, uri| Ok(Some(stale.clone()).filter(|stale| stale.redirect_uri == uri)));
    mocks.registrations.expect_delete_registration().never();
    let registered_for = own.clone();
    mocks.discovery.expect_register_client().times(1).returning(move |_, request| {
        assert_eq!(request.auth, TokenEndpointAuth::ClientSecretPost, "the one the token endpoint accepts");
        assert_eq!(request.redirect_uri, registered_for);
        Ok(RegisteredClient {
            client_id: "new".into(),
            client_secret: Some(SecretString::from("s3cret")),
            auth: request.auth,
            secret_expires_at: None,
        })
    });
    let stored_for = own.clone();
    mocks.registrations.expect_add_registration().returning(move |r| {
        assert_eq!(r.redirect_uri, stored_for);
        assert_eq!(r.client_secret, Some(Sealed(format!("registrations/{ISSUER}/client_secret|s3cret").into_bytes())));
        Ok(r.clone())
    });
    let flow_at = own.clone();
    mocks.connections.expect_insert().times(1).returning(move |_, _, flow, _| {
        let flow = flow.expect("a pending flow");
        assert_eq!(flow.redirect_uri, flow_at, "the flow completes only at the issuer's redirect URI");
        assert_eq!((flow.issuer.as_deref(), flow.iss_required), (Some(ISSUER), true));
        assert_eq!(flow.scopes.to_delimited(), "read offline_access");
        Ok(())
    });
    mocks.registrations.expect_bind_authorization().times(1).returning(|b| {
        assert_eq!((b.client_id.as_str(), b.resource.as_str()), ("new", "https://docs.example/mcp"));
        Ok(())
    });
    let Ok(ConnectOutcome::PendingOAuth { auth_url, .. }) = mocks.directory().connect(custom()).await else {
        panic!("a pending flow");
    };
    assert!(auth_url.starts_with("https://as.example/authorize?") && auth_url.contains("client_id=new"), "{auth_url}");
}

#[tokio::test]
async fn a_server_without_metadata_is_authorized_at_its_origin_and_bound_to_it_with_or_without_defaults() {
    for default_endpoints in [true, false] {
        let mut mocks = Mocks::new();
        mocks
            .discovery
            .expect_probe()
            .returning(|_, _| Ok(ResourceAccess::ProtectedWithoutMetadata { challenge_scope: None }));
        mocks.discovery.expect_authorization_server().never();
        mocks.discovery.expect_origin_authorization_server().times(1).returning(move |origin| {
            assert_eq!(origin, "https://docs.example", "the MCP server's origin, nothing of its path");
            Ok(AuthServerMetadata {
                issuer: origin.into(),
                authorization_endpoint: Some(format!("{origin}/authorize")),
                token_endpoint: format!("{origin}/token"),
                registration_endpoint: Some(format!("{origin}/register")),
                default_endpoints,
                ..metadata()
            })
        });
        mocks.registrations.expect_registration().returning(|_, _| Ok(None));
        mocks.discovery.expect_register_client().times(1).returning(|_, request| {
            let client_secret = Some(SecretString::from("s"));
            Ok(RegisteredClient { client_id: "c".into(), client_secret, auth: request.auth, secret_expires_at: None })
        });
        mocks.registrations.expect_add_registration().returning(|r| Ok(r.clone()));
        mocks.connections.expect_insert().times(1).returning(|_, _, _, _| Ok(()));
        mocks.registrations.expect_bind_authorization().times(1).returning(move |b| {
            assert_eq!(b.issuer, "https://docs.example");
            assert_eq!(b.resource, "https://docs.example/mcp", "the MCP URL is the resource");
            assert!(b.at_origin, "refreshes look at the origin again, defaults or not");
            Ok(())
        });
        let Ok(ConnectOutcome::PendingOAuth { auth_url, .. }) = mocks.directory().connect(custom()).await else {
            panic!("a pending flow");
        };
        assert!(auth_url.starts_with("https://docs.example/authorize?"), "{auth_url}");
    }
}

#[tokio::test]
async fn the_resource_of_a_server_without_metadata_is_its_url_without_the_query() {
    let mut mocks = Mocks::new();
    mocks
        .discovery
        .expect_probe()
        .returning(|_, _| Ok(ResourceAccess::ProtectedWithoutMetadata { challenge_scope: None }));
    mocks
        .discovery
        .expect_origin_authorization_server()
        .returning(|origin| Ok(AuthServerMetadata { issuer: origin.into(), default_endpoints: true, ..metadata() }));
    mocks.registrations.expect_registration().returning(|_, _| Ok(None));
    mocks.discovery.expect_register_client().returning(|_, request| {
        let client_secret = Some(SecretString::from("s"));
        Ok(RegisteredClient { client_id: "c".into(), client_secret, auth: request.auth, secret_expires_at: None })
    });
    mocks.registrations.expect_add_registration().returning(|r| Ok(r.clone()));
    mocks.connections.expect_insert().returning(|c, _, _, _| {
        assert_eq!(c.url.as_deref(), Some("https://docs.example/mcp?tenant=t1"), "the server is reached as given");
        Ok(())
    });
    mocks.registrations.expect_bind_authorization().times(1).returning(|b| {
        assert_eq!(b.resource, "https://docs.example/mcp", "no query in the RFC 8707 resource");
        Ok(())
    });
    let mut request = custom();
    request.custom.as_mut().unwrap().url = "https://docs.example/mcp?tenant=t1".into();
    let Ok(ConnectOutcome::PendingOAuth { auth_url, .. }) = mocks.directory().connect(request).await else {
        panic!("a pending flow");
    };
    assert!(!auth_url.contains("tenant"), "{auth_url}");
}

/// Issue 18 §3: a custom server's client credentials connection is stored, then bound; when the
/// binding cannot be stored, the connection is removed again and the token it got is revoked,
/// so nothing usable stays behind at either end.
#[tokio::test]
async fn a_client_credentials_connection_whose_binding_fails_is_removed_and_its_token_revoked() {
    let mut mocks = Mocks::new();
    mocks.discovery.expect_probe().returning(|_, _| Ok(protected()));
    let with_revocation = AuthServerMetadata { revocation_endpoint: Some(format!("{ISSUER}/revoke")), ..metadata() };
    mocks.discovery.expect_authorization_server().returning(move |_| Ok(with_revocation.clone()));
    mocks.oauth.expect_client_credentials().times(1).returning(|endpoint, scopes, _| {
        assert_eq!((endpoint.client.client_id.as_str(), endpoint.auth), ("given", TokenEndpointAuth::ClientSecretPost));
        assert!(!scopes.contains("offline_access"), "no refresh token to ask for");
        Ok(ports::TokenSet {
            access_token: SecretString::from("at-minted"),
            refresh_token: None,
            expires_in: Some(3600),
            scopes: None,
            account: None,
        })
    });
    mocks.connections.expect_insert().times(1).returning(|c, _, flow, _| {
        assert_eq!((c.status(), flow.is_none()), (ConnectionStatus::Connected, true));
        Ok(())
    });
    mocks.registrations.expect_bind_authorization().times(1).returning(|binding| {
        assert!(binding.own_client.is_some(), "the given client is kept with the binding");
        Err(ports::StoreError::Unavailable("the database went away".into()))
    });
    mocks.connections.expect_delete().times(1).returning(|_, _, _| Ok(None));
    mocks.oauth.expect_revoke().times(1).returning(|endpoint, token, _| {
        assert_eq!((endpoint.url.as_str(), token.expose_secret()), ("https://as.example/revoke", "at-minted"));
        Ok(())
    });
    let mut request = custom();
    if let Some(custom) = request.custom.as_mut() {
        custom.grant = domain::OAuthGrant::ClientCredentials;
        custom.client = crate::GivenClientParts {
            client_id: Some("given".into()),
            client_secret: Some(SecretString::from("given-secret")),
            ..crate::GivenClientParts::default()
        };
    }
    let err = mocks.directory().connect(request).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
}
