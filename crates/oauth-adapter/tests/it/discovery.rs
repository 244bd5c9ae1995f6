//! The discovery adapter against the in-repo protected resource and authorization server.

use std::time::Duration;

use domain::{Scopes, TokenEndpointAuth, Transport};
use oauth_adapter::{DiscoveryAdapter, HttpConfig, SafeHttp};
use ports::{AuthorizationDiscovery, DiscoveryErrorKind, DiscoveryStep, RegistrationRequest, ResourceAccess};
use secrecy::ExposeSecret;
use test_oauth_server::{MetadataAt, ResourceConfig, TestAuthConfig, TestAuthServer};

use crate::support::REDIRECT_URI;

fn discovery(ttl: Duration) -> DiscoveryAdapter {
    let http = SafeHttp::new(&HttpConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        allow_private_networks: true,
    })
    .unwrap();
    DiscoveryAdapter::with_metadata_ttl(http, ttl)
}

#[tokio::test]
async fn a_probe_follows_the_challenge_to_the_resource_metadata() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let resource =
        auth.start_resource(ResourceConfig { challenge_scope: Some("read write".into()), ..Default::default() });
    let ResourceAccess::Protected(found) =
        discovery(Duration::ZERO).probe(&resource.mcp_url(), Transport::StreamableHttp).await.unwrap()
    else {
        panic!("the resource asks for a token");
    };
    assert_eq!(found.resource, resource.mcp_url());
    assert_eq!(found.authorization_servers, [auth.issuer()]);
    assert_eq!(found.challenge_scope, Some(Scopes::parse_delimited("read write").unwrap()));
}

#[tokio::test]
async fn resource_metadata_that_names_another_resource_is_refused() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let resource = auth.start_resource(ResourceConfig {
        metadata_at: MetadataAt::Root,
        resource_override: Some("https://elsewhere.example/mcp".into()),
        ..Default::default()
    });
    let err = discovery(Duration::ZERO).probe(&resource.mcp_url(), Transport::StreamableHttp).await.unwrap_err();
    assert_eq!((err.step, err.kind), (DiscoveryStep::ResourceMetadata, DiscoveryErrorKind::Invalid));
    assert!(!err.message.contains("elsewhere"), "no value from the document is quoted: {err}");
}

#[tokio::test]
async fn server_metadata_is_reused_only_within_its_lifetime() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let (cached, uncached) = (discovery(Duration::from_secs(600)), discovery(Duration::ZERO));
    assert_eq!(cached.authorization_server(auth.issuer()).await.unwrap().token_endpoint, auth.token_endpoint());
    uncached.authorization_server(auth.issuer()).await.unwrap();
    auth.configure(|c| c.serve_metadata = false);
    assert!(cached.authorization_server(auth.issuer()).await.is_ok(), "served from the cache");
    let err = uncached.authorization_server(auth.issuer()).await.unwrap_err();
    assert_eq!(err.step, DiscoveryStep::ServerMetadata);
    assert!(
        err.message.contains("oauth-authorization-server") && err.message.contains("openid-configuration"),
        "{err}"
    );
}

#[tokio::test]
async fn a_registration_is_a_web_client_with_the_exact_redirect_uri() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let request = RegistrationRequest {
        client_name: "Asset Directory".into(),
        redirect_uri: REDIRECT_URI.into(),
        auth: TokenEndpointAuth::ClientSecretPost,
        scopes: Scopes::empty(),
    };
    let client = discovery(Duration::ZERO).register_client(&auth.registration_endpoint(), &request).await.unwrap();
    let sent = &auth.registrations()[0];
    assert_eq!(
        (sent["application_type"].as_str(), sent["redirect_uris"][0].as_str()),
        (Some("web"), Some(REDIRECT_URI))
    );
    let registered = &auth.registered_clients()[0];
    assert_eq!(client.client_id, registered.client_id);
    assert_eq!(client.client_secret.as_ref().map(|s| s.expose_secret().to_owned()), registered.client_secret);

    auth.configure(|c| c.refuse_registrations = true);
    let err = discovery(Duration::ZERO).register_client(&auth.registration_endpoint(), &request).await.unwrap_err();
    assert_eq!((err.step, err.kind), (DiscoveryStep::Registration, DiscoveryErrorKind::Refused));
    assert!(err.message.contains("invalid_client_metadata"), "{err}");
}
