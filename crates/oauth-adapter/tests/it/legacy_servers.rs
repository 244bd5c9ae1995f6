//! Servers of the MCP 2025-03-26 revision: no protected resource metadata, the MCP server's
//! origin the authorization server, and that revision's default endpoints when the origin
//! publishes no metadata either (issue 18 §5).

use std::time::Duration;

use domain::Transport;
use oauth_adapter::{DiscoveryAdapter, HttpConfig, SafeHttp};
use ports::{AuthorizationDiscovery, DiscoveryErrorKind, DiscoveryStep, ResourceAccess};
use serde_json::json;
use test_oauth_server::{MetadataAt, ResourceConfig, TestAuthConfig, TestAuthServer};

fn discovery() -> DiscoveryAdapter {
    let http = SafeHttp::new(&HttpConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        allow_private_networks: true,
    })
    .unwrap();
    DiscoveryAdapter::with_metadata_ttl(http, Duration::ZERO)
}

#[tokio::test]
async fn a_server_that_names_no_metadata_and_publishes_none_is_protected_without_metadata() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let access = discovery().probe(&auth.legacy_mcp_url(), Transport::StreamableHttp).await.unwrap();
    assert_eq!(access, ResourceAccess::ProtectedWithoutMetadata { challenge_scope: None });
}

#[tokio::test]
async fn metadata_named_in_the_challenge_but_absent_is_still_a_failure() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let resource =
        auth.start_resource(ResourceConfig { metadata_at: MetadataAt::NamedButAbsent, ..Default::default() });
    let err = discovery().probe(&resource.mcp_url(), Transport::StreamableHttp).await.unwrap_err();
    assert_eq!((err.step, err.kind), (DiscoveryStep::ResourceMetadata, DiscoveryErrorKind::Invalid), "{err}");
}

#[tokio::test]
async fn the_metadata_an_origin_publishes_is_used_as_published() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let metadata = discovery().origin_authorization_server(auth.issuer()).await.unwrap();
    assert!(!metadata.default_endpoints);
    assert_eq!(metadata.token_endpoint, auth.token_endpoint());
    assert_eq!(metadata.revocation_endpoint, Some(auth.revocation_endpoint()), "only metadata names one");
}

#[tokio::test]
async fn an_origin_without_metadata_gets_the_default_endpoints_of_the_2025_03_26_revision() {
    let auth = TestAuthServer::start(TestAuthConfig { serve_metadata: false, ..TestAuthConfig::default() }).await;
    let origin = auth.issuer();
    let metadata = discovery().origin_authorization_server(origin).await.unwrap();
    assert!(metadata.default_endpoints);
    assert_eq!(metadata.issuer, origin);
    assert_eq!(metadata.authorization_endpoint, Some(format!("{origin}/authorize")));
    assert_eq!(metadata.token_endpoint, format!("{origin}/token"));
    assert_eq!(metadata.registration_endpoint, Some(format!("{origin}/register")));
    assert_eq!(metadata.revocation_endpoint, None);
    assert_eq!(metadata.code_challenge_methods_supported, ["S256"], "that revision required PKCE");
    let strict = discovery().authorization_server(origin).await.unwrap_err();
    assert_eq!(strict.step, DiscoveryStep::ServerMetadata, "an issuer a resource names still needs metadata");
}

#[tokio::test]
async fn an_origin_that_cannot_be_reached_is_a_failure_not_a_reason_for_the_defaults() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = discovery().origin_authorization_server(&origin).await.unwrap_err();
    assert_eq!((err.step, err.kind), (DiscoveryStep::ServerMetadata, DiscoveryErrorKind::Unavailable), "{err}");
}

#[tokio::test]
async fn only_an_origin_is_taken_for_the_authorization_server_of_a_server_without_metadata() {
    let auth = TestAuthServer::start(TestAuthConfig { serve_metadata: false, ..TestAuthConfig::default() }).await;
    for not_an_origin in [format!("{}/tenant", auth.issuer()), format!("{}/", auth.issuer())] {
        let err = discovery().origin_authorization_server(&not_an_origin).await.unwrap_err();
        assert_eq!(
            (err.step, err.kind),
            (DiscoveryStep::ServerMetadata, DiscoveryErrorKind::Invalid),
            "{not_an_origin}"
        );
    }
}

#[tokio::test]
async fn the_ssrf_rule_holds_for_an_origin_without_metadata() {
    let http = SafeHttp::new(&HttpConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        allow_private_networks: false,
    })
    .unwrap();
    let auth = TestAuthServer::start(TestAuthConfig { serve_metadata: false, ..TestAuthConfig::default() }).await;
    let err = DiscoveryAdapter::new(http).origin_authorization_server(auth.issuer()).await.unwrap_err();
    assert_eq!(err.kind, DiscoveryErrorKind::Blocked, "no defaults for an address the guard refuses: {err}");
}

#[tokio::test]
async fn a_server_that_challenges_with_another_scheme_only_is_not_taken_for_an_oauth_server() {
    let auth = TestAuthServer::start(TestAuthConfig {
        legacy_mcp_challenge: r#"Basic realm="old""#.into(),
        ..TestAuthConfig::default()
    })
    .await;
    let err = discovery().probe(&auth.legacy_mcp_url(), Transport::StreamableHttp).await.unwrap_err();
    assert_eq!((err.step, err.kind), (DiscoveryStep::ResourceMetadata, DiscoveryErrorKind::Invalid), "{err}");
}

#[tokio::test]
async fn metadata_an_origin_publishes_is_checked_and_never_replaced_by_the_defaults() {
    let mut config = TestAuthConfig::default();
    config.metadata_overrides.insert("issuer".to_owned(), json!("https://attacker.example"));
    let auth = TestAuthServer::start(config).await;
    let err = discovery().origin_authorization_server(auth.issuer()).await.unwrap_err();
    assert_eq!((err.step, err.kind), (DiscoveryStep::ServerMetadata, DiscoveryErrorKind::Invalid), "{err}");

    // Metadata without PKCE S256 is what the origin says: kept (a code flow then refuses it),
    // never swapped for the defaults, which would promise S256.
    let mut config = TestAuthConfig::default();
    config.metadata_overrides.insert("code_challenge_methods_supported".to_owned(), json!(["plain"]));
    let auth = TestAuthServer::start(config).await;
    let found = discovery().origin_authorization_server(auth.issuer()).await.unwrap();
    assert!(!found.default_endpoints);
    assert!(found.code_flow().unwrap_err().contains("S256"));
}

#[tokio::test]
async fn a_server_without_metadata_on_an_origin_of_its_own_gets_the_defaults_there_not_elsewhere() {
    let auth = TestAuthServer::start(TestAuthConfig::default()).await;
    let resource = auth.start_resource(ResourceConfig { metadata_at: MetadataAt::Nowhere, ..Default::default() });
    let access = discovery().probe(&resource.mcp_url(), Transport::StreamableHttp).await.unwrap();
    assert!(matches!(access, ResourceAccess::ProtectedWithoutMetadata { .. }), "{access:?}");
    let origin = url::Url::parse(&resource.mcp_url()).unwrap().origin().ascii_serialization();
    let metadata = discovery().origin_authorization_server(&origin).await.unwrap();
    assert!(metadata.default_endpoints);
    assert_eq!(metadata.token_endpoint, format!("{origin}/token"), "the MCP server's origin, not the test AS");
    assert_ne!(origin, auth.issuer());
}
