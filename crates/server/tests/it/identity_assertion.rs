//! Issue 18 §4: enterprise-managed authorization. A connect that brings the user's ID token and
//! their identity provider connects at once, with no browser: the in-repo identity provider
//! exchanges the ID token for an ID-JAG (RFC 8693), which the in-repo MCP authorization server,
//! trusting that provider, takes for a token (RFC 7523). Near expiry the service exchanges
//! again; a refusal expires the connection; the ID token never leaves for the MCP server's side.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{ResourceConfig, TestAuthConfig, TestAuthServer, TestClient, TestResourceServer, TrustedIdp};

use crate::backends::{Backend, database, on, on_both_backends};
use crate::helpers::{Spawn, TestApp, assert_error, bearer_of, call_mcp, captured_logs, test_catalog};

const IDP_SECRET: &str = "idp-secret-4a7c19";
const SECRET_VAR: &str = "ENTERPRISE_CLIENT_SECRET";

/// The identity provider (the service is its client `directory`; its ID-JAGs name the MCP client
/// `mcp-client`), the MCP server's authorization server trusting it (30 s tokens, so each
/// credentials read exchanges again), and the MCP server.
struct Servers {
    idp: TestAuthServer,
    auth: TestAuthServer,
    resource: TestResourceServer,
}

async fn servers() -> Servers {
    let idp = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("directory", IDP_SECRET)],
        id_jag_client_id: Some("mcp-client".into()),
        ..TestAuthConfig::default()
    })
    .await;
    let auth = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("mcp-client", "mcp-secret")],
        trusted_idp: Some(TrustedIdp { issuer: idp.issuer().into(), jwks: idp.jwks() }),
        access_token_lifetime: Some(Duration::from_secs(30)),
        ..TestAuthConfig::default()
    })
    .await;
    let resource = auth.start_resource(ResourceConfig::default());
    Servers { idp, auth, resource }
}

impl Servers {
    /// `server_config.identity_assertion` for `user`'s fresh ID token.
    fn assertion(&self, user: &str) -> Value {
        json!({"id_token": self.idp.sign_in(user, "directory", Duration::from_secs(600)),
               "idp_issuer": self.idp.issuer(), "idp_token_endpoint": self.idp.token_endpoint(),
               "idp_client_id": "directory", "idp_client_secret": IDP_SECRET})
    }

    /// A discovery entry with the pre-registered `mcp-client`, as `auth_method`.
    fn entry(&self, name: &str, auth_method: &str) -> Value {
        json!({"server_name": name, "display_name": name, "transport": "streamable_http",
               "url": self.resource.mcp_url(), "auth_method": auth_method,
               "oauth": {"discovery": true, "issuer": self.auth.issuer(), "client_id": "mcp-client",
                         "client_secret_env": SECRET_VAR}})
    }

    async fn app(&self, backend: Backend) -> TestApp {
        let mut catalog = test_catalog();
        let servers = catalog["servers"].as_array_mut().unwrap();
        servers.push(self.entry("enterprise", "oauth_identity_assertion"));
        servers.push(self.entry("either", "oauth"));
        on(Spawn::default(), &database(backend).await)
            .var(SECRET_VAR, "mcp-secret")
            .var("REFRESH_INTERVAL_SECONDS", "3600")
            .catalog(catalog)
            .start()
            .await
    }
}

async fn an_id_token_connects_at_once_renews_by_exchanging_again_and_stays_on_the_directorys_side(backend: Backend) {
    let s = servers().await;
    let app = s.app(backend).await;
    let assertion = s.assertion("ada");
    let id_token = assertion["id_token"].as_str().unwrap().to_owned();

    let body = json!({"server_name": "enterprise", "server_config": {"identity_assertion": assertion}});
    let created = app.connect(body).await;
    assert_eq!(created["status"], "connected", "no browser, no consent page: {created}");
    assert!(created.get("auth_url").is_none_or(Value::is_null));
    let ref_id = created["ref_id"].as_str().unwrap();
    assert_eq!((s.idp.counters().token_exchanges, s.auth.counters().jwt_bearer), (1, 1));
    assert!(s.auth.authorize_requests().is_empty() && s.idp.authorize_requests().is_empty());

    // The token works at the MCP server; near expiry the ID token is exchanged again, each time.
    let bearer = bearer_of(&app, ref_id).await;
    assert_eq!(call_mcp(&s.resource.mcp_url(), &bearer).await, StatusCode::OK);
    let again = bearer_of(&app, ref_id).await;
    assert_ne!(bearer, again);
    assert_eq!((s.idp.counters().token_exchanges, s.auth.counters().jwt_bearer), (3, 3), "renewed by new exchanges");
    assert_eq!(s.auth.jag_subjects(), ["ada", "ada", "ada"]);

    let gone = app.delete(&format!("/assets/connections/{ref_id}")).await;
    assert_eq!(gone.status(), StatusCode::OK);
    let revoked = s.auth.revocations();
    assert!(!revoked.is_empty(), "the access token is revoked");
    assert!(revoked.iter().all(|r| r.token != id_token), "the ID token never goes to the MCP server's side");
    let listed = app.get("/assets/connections").await.text().await.unwrap();
    let logs = captured_logs();
    for secret in [id_token.as_str(), IDP_SECRET] {
        assert!(!listed.contains(secret) && !logs.contains(secret), "never shown or logged");
    }
}

async fn a_refusal_of_the_identity_provider_expires_the_connection_with_its_reason(backend: Backend) {
    let s = servers().await;
    let app = s.app(backend).await;
    let body = json!({"server_name": "enterprise", "server_config": {"identity_assertion": s.assertion("ada")}});
    let ref_id = app.connect(body).await["ref_id"].as_str().unwrap().to_owned();

    s.idp.configure(|c| c.id_jag_denied = true);
    let refused = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "MCP_TOKEN_EXPIRED").await;
    let connection: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    assert_eq!(connection["status"], "expired");
    assert!(connection["status_reason"].as_str().unwrap().contains("identity provider"), "{connection}");
}

async fn an_expired_id_token_ends_the_connection_at_its_next_renewal(backend: Backend) {
    let s = servers().await;
    let app = s.app(backend).await;
    let mut assertion = s.assertion("ada");
    assertion["id_token"] = json!(s.idp.sign_in("ada", "directory", Duration::from_secs(1)));
    let body = json!({"server_name": "enterprise", "server_config": {"identity_assertion": assertion}});
    let ref_id = app.connect(body).await["ref_id"].as_str().unwrap().to_owned();
    // A wait for the ID token's one second to pass, not a measure of anything.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refused = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "MCP_TOKEN_EXPIRED").await;
    let connection: Value = app.get(&format!("/assets/connections/{ref_id}")).await.json().await.unwrap();
    assert_eq!(connection["status"], "expired");
    assert!(connection["status_reason"].as_str().unwrap().contains("identity provider"), "{connection}");
    assert_eq!(s.auth.counters().jwt_bearer, 1, "nothing was presented after the refusal");
}

async fn a_refresh_token_the_authorization_server_adds_is_revoked_and_never_used(backend: Backend) {
    let s = servers().await;
    s.auth.configure(|c| c.refresh_token_with_jwt_bearer = true);
    let app = s.app(backend).await;
    let body = json!({"server_name": "enterprise", "server_config": {"identity_assertion": s.assertion("ada")}});
    let ref_id = app.connect(body).await["ref_id"].as_str().unwrap().to_owned();
    bearer_of(&app, &ref_id).await;
    let revoked_refresh =
        s.auth.revocations().iter().filter(|r| r.kind == test_oauth_server::TokenKind::Refresh).count();
    assert_eq!(revoked_refresh, 2, "the one added at connect and the one added at the renewal");
    let refreshes = s.auth.token_requests().iter().filter(|r| r.grant_type.as_deref() == Some("refresh_token")).count();
    assert_eq!(refreshes, 0, "renewed by the ID token only");
    assert_eq!(s.idp.counters().token_exchanges, 2);
}

on_both_backends! {
    an_expired_id_token_ends_the_connection_at_its_next_renewal
        => an_expired_id_token_expires_on_sqlite, an_expired_id_token_expires_on_postgres;
    a_refresh_token_the_authorization_server_adds_is_revoked_and_never_used
        => an_added_refresh_token_is_revoked_on_sqlite, an_added_refresh_token_is_revoked_on_postgres;
    an_id_token_connects_at_once_renews_by_exchanging_again_and_stays_on_the_directorys_side
        => an_identity_assertion_connects_on_sqlite, an_identity_assertion_connects_on_postgres;
    a_refusal_of_the_identity_provider_expires_the_connection_with_its_reason
        => an_identity_provider_refusal_expires_on_sqlite, an_identity_provider_refusal_expires_on_postgres;
}

#[tokio::test]
async fn an_authorization_server_that_lists_jwt_bearer_is_used_that_way_when_the_connect_brings_an_assertion() {
    let s = servers().await;
    let app = s.app(Backend::Sqlite).await;
    let with =
        app.connect(json!({"server_name": "either", "server_config": {"identity_assertion": s.assertion("bo")}})).await;
    assert_eq!(with["status"], "connected", "{with}");
    let without = app.connect(json!({"server_name": "either"})).await;
    assert!(without["auth_url"].as_str().is_some(), "without one, a user at a browser: {without}");

    // An authorization server that takes no ID-JAG (lists no jwt-bearer): refused, nothing stored,
    // nothing exchanged.
    let plain = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("mcp-client", "mcp-secret")],
        ..TestAuthConfig::default()
    })
    .await;
    let plain_resource = plain.start_resource(ResourceConfig::default());
    let exchanges = s.idp.counters().token_exchanges;
    let body = json!({"server_name": "plain", "server_config": {"url": plain_resource.mcp_url(),
        "client_id": "mcp-client", "client_secret": "mcp-secret", "identity_assertion": s.assertion("bo")}});
    let refused = app.post_json("/assets/connect", &body).await;
    let error = assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "server_config.identity_assertion");
    assert_eq!(s.idp.counters().token_exchanges, exchanges);
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[tokio::test]
async fn a_custom_server_connects_with_an_assertion_as_the_client_its_user_gave() {
    let s = servers().await;
    let app = s.app(Backend::Sqlite).await;
    let body = json!({"server_name": "my-enterprise", "server_config": {
        "url": s.resource.mcp_url(), "grant_type": "identity_assertion",
        "client_id": "mcp-client", "client_secret": "mcp-secret", "identity_assertion": s.assertion("cy")}});
    let created = app.connect(body).await;
    assert_eq!(created["status"], "connected", "{created}");
    assert_eq!(s.auth.jag_subjects(), ["cy"]);
}

#[tokio::test]
async fn a_malformed_or_refused_assertion_is_an_error_that_stores_nothing() {
    let s = servers().await;
    let app = s.app(Backend::Sqlite).await;
    let mut no_token = s.assertion("ada");
    no_token["id_token"] = Value::Null;
    let mut no_idp = s.assertion("ada");
    no_idp["idp_token_endpoint"] = Value::Null;
    let cases = [
        (json!({"server_name": "enterprise"}), "server_config.identity_assertion"),
        (
            json!({"server_name": "enterprise", "server_config": {"identity_assertion": no_token}}),
            "server_config.identity_assertion.id_token",
        ),
        (
            json!({"server_name": "enterprise", "server_config": {"identity_assertion": no_idp}}),
            "server_config.identity_assertion",
        ),
        (
            json!({"server_name": "keyed", "server_config": {"api_key": "k", "identity_assertion": s.assertion("ada")}}),
            "server_config.identity_assertion",
        ),
        (
            json!({"server_name": "my-x", "server_config": {"url": s.resource.mcp_url(), "identity_assertion": s.assertion("ada")}}),
            "server_config.client_id",
        ),
    ];
    for (body, field) in cases {
        let error = assert_error(
            app.post_json("/assets/connect", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }
    // An ID token the provider did not issue to the service's client: its refusal, nothing kept.
    let mut stranger = s.assertion("ada");
    stranger["id_token"] = json!(s.idp.sign_in("ada", "another-app", Duration::from_secs(600)));
    let refused = app
        .post_json(
            "/assets/connect",
            &json!({"server_name": "enterprise", "server_config": {"identity_assertion": stranger}}),
        )
        .await;
    assert_error(refused, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(s.auth.counters().jwt_bearer, 0);
}

/// The operator's identity provider for tenant `default` (its variables): a connect that names
/// none brings only the user's ID token.
#[tokio::test]
async fn a_connect_that_names_no_identity_provider_uses_the_one_the_operator_configured_for_the_tenant() {
    let s = servers().await;
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(s.entry("enterprise", "oauth_identity_assertion"));
    let app = Spawn::default()
        .var(SECRET_VAR, "mcp-secret")
        .var("IDENTITY_PROVIDER_ISSUER", s.idp.issuer())
        .var("IDENTITY_PROVIDER_TOKEN_ENDPOINT", &s.idp.token_endpoint())
        .var("IDENTITY_PROVIDER_CLIENT_ID", "directory")
        .var("IDENTITY_PROVIDER_CLIENT_SECRET", IDP_SECRET)
        .catalog(catalog)
        .start()
        .await;
    let id_token = s.idp.sign_in("dee", "directory", Duration::from_secs(600));
    let body = json!({"server_name": "enterprise", "server_config": {"identity_assertion": {"id_token": id_token}}});
    let created = app.connect(body).await;
    assert_eq!(created["status"], "connected", "{created}");
    assert_eq!(s.auth.jag_subjects(), ["dee"]);
    assert!(!captured_logs().contains(IDP_SECRET));
}

/// Each tenant has its own identity provider: acme's (from the keys file) takes acme's users'
/// ID tokens; beta, which names none, gets a refusal, never acme's provider nor its secret.
#[tokio::test]
async fn a_tenant_without_an_identity_provider_never_borrows_another_tenants() {
    use crate::tenants::{ACME_KEY, BETA_KEY, keys_file, keys_toml};
    let s = servers().await;
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(s.entry("enterprise", "oauth_identity_assertion"));
    let mut toml = keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]);
    toml = toml.replacen(
        "\n\n[[tenants]]\nname = \"beta\"",
        &format!(
            "\n[tenants.identity_provider]\nissuer = \"{}\"\ntoken_endpoint = \"{}\"\nclient_id = \"directory\"\n\
             client_secret_env = \"ACME_IDP_SECRET\"\n\n[[tenants]]\nname = \"beta\"",
            s.idp.issuer(),
            s.idp.token_endpoint()
        ),
        1,
    );
    let (_dir, path) = keys_file(&toml);
    let app = Spawn::default()
        .var("ENGINE_KEYS_FILE", &path.display().to_string())
        .var("ACME_IDP_SECRET", IDP_SECRET)
        .var(SECRET_VAR, "mcp-secret")
        .catalog(catalog)
        .start()
        .await;
    let connect = |key: &'static str| {
        let id_token = s.idp.sign_in("eve", "directory", Duration::from_secs(600));
        let body =
            json!({"server_name": "enterprise", "server_config": {"identity_assertion": {"id_token": id_token}}});
        app.client.post(app.url("/assets/connect")).header("X-Engine-Key", key).json(&body).send()
    };
    let acme: Value = connect(ACME_KEY).await.unwrap().json().await.unwrap();
    assert_eq!(acme["status"], "connected", "{acme}");
    let beta = connect(BETA_KEY).await.unwrap();
    let error = assert_error(beta, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "server_config.identity_assertion");
    assert_eq!(s.idp.counters().token_exchanges, 1, "beta's user was never exchanged at acme's provider");
}
