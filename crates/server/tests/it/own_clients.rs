//! Issue 18 §3: clients registered out of band. A custom server's `server_config` may carry its
//! own client (`client_id` with a `client_secret`, or a `private_key_pem` and
//! `signing_algorithm`), used ahead of metadata documents and registration for code flows and the
//! client credentials grant, sealed at rest, never shown, and the connection's alone; a catalog
//! client may sign `private_key_jwt` assertions with the service's own key, published at
//! `/oauth/jwks.json`. The in-repo authorization server verifies every assertion (signature by the
//! client's keys, `iss`/`sub`, `aud`, `exp`, a `jti` never seen before).

use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use test_oauth_server::{ClientAuth, ResourceConfig, TestAuthConfig, TestAuthServer, TestClient, TestResourceServer};

use crate::backends::{Backend, database, on, on_both_backends};
use crate::helpers::{Spawn, TestApp, assert_error, bearer_of, call_mcp, captured_logs, test_catalog};
use crate::owners::{Who, call};

const SECRET: &str = "given-secret-5b1e0c9d";

/// An authorization server with `clients`, tokens that need renewing at every credentials call
/// (30 s, within the margin), and a resource it guards.
async fn servers(clients: Vec<TestClient>) -> (TestAuthServer, TestResourceServer) {
    let config =
        TestAuthConfig { clients, access_token_lifetime: Some(Duration::from_secs(30)), ..TestAuthConfig::default() };
    let auth = TestAuthServer::start(config).await;
    let resource = auth.start_resource(ResourceConfig::default());
    (auth, resource)
}

/// The background refresher off the tests' way (they count token calls exactly).
fn quiet(spawn: Spawn) -> Spawn {
    spawn.var("REFRESH_INTERVAL_SECONDS", "3600")
}

/// A new private key in PEM for `algorithm`, and the JWK Set of its public half.
fn key_pair(algorithm: Algorithm) -> (String, Value) {
    let (pem, key) = match algorithm {
        Algorithm::RS256 => {
            let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap().serialize_pem();
            let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
            (pem, key)
        }
        _ => {
            let pem = oauth_adapter::SigningKeys::generate().expose_secret().to_owned();
            let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
            (pem, key)
        }
    };
    let jwk = Jwk::from_encoding_key(&key, algorithm).unwrap();
    (pem, json!({"keys": [jwk]}))
}

/// Connects `body` through the provider's consent and back; the new connection's ref id and the
/// client id its authorization URL named.
async fn connect_through(app: &TestApp, who: Who<'_>, body: Value) -> (String, String) {
    let response = call(app, who, Method::POST, "/assets/connect", Some(&body)).await;
    let created: Value = response.json().await.unwrap();
    let auth_url = url::Url::parse(created["auth_url"].as_str().unwrap_or_else(|| panic!("{created}"))).unwrap();
    let client_id = auth_url.query_pairs().find(|(k, _)| k == "client_id").unwrap().1.into_owned();
    let consent = app.client.get(auth_url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let done = app.client.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK, "the callback completes");
    (created["ref_id"].as_str().unwrap().to_owned(), client_id)
}

fn custom(resource: &TestResourceServer, client: Value) -> Value {
    let mut config = json!({"url": resource.mcp_url()});
    config.as_object_mut().unwrap().extend(client.as_object().unwrap().clone());
    json!({"server_name": "my-docs", "server_config": config})
}

/// The token calls `client_id` made, as (grant type, how it authenticated, error).
fn calls_of(auth: &TestAuthServer, client_id: &str) -> Vec<(String, Option<ClientAuth>, Option<String>)> {
    let requests = auth.token_requests().into_iter().filter(|r| r.client_id.as_deref() == Some(client_id));
    requests.map(|r| (r.grant_type.unwrap_or_default(), r.auth, r.error)).collect()
}

async fn a_custom_servers_own_client_serves_its_flow_refreshes_and_revocation_and_is_its_connections_alone(
    backend: Backend,
) {
    let (auth, resource) = servers(vec![TestClient::basic("given-client", SECRET)]).await;
    let app = quiet(on(Spawn::default(), &database(backend).await)).start().await;
    let alice = Who { key: &app.key, user: Some("alice") };
    let body = custom(&resource, json!({"client_id": "given-client", "client_secret": SECRET}));

    let (ref_id, client_id) = connect_through(&app, alice, body).await;
    assert_eq!(client_id, "given-client", "ahead of a metadata document or a registration");
    assert!(auth.registrations().is_empty(), "nothing was registered");
    let path = format!("/assets/connections/{ref_id}/credentials");
    let credentials: Value = call(&app, alice, Method::GET, &path, None).await.json().await.unwrap();
    let bearer = credentials["headers"]["Authorization"].as_str().unwrap().to_owned();
    assert_eq!(call_mcp(&resource.mcp_url(), &bearer).await, StatusCode::OK);
    let expected = [("authorization_code", None), ("refresh_token", None)]
        .map(|(grant, error): (&str, Option<String>)| (grant.to_owned(), Some(ClientAuth::ClientSecretBasic), error));
    assert_eq!(calls_of(&auth, "given-client"), expected, "the flow and the refresh, as that client");

    // Another user of the same server, without a client of their own, is not handed this one.
    let bob = Who { key: &app.key, user: Some("bob") };
    let (_, bobs_client) = connect_through(&app, bob, custom(&resource, json!({}))).await;
    assert_ne!(bobs_client, "given-client");
    assert_eq!(auth.registrations().len(), 1, "bob's client was registered for him");

    let gone = call(&app, alice, Method::DELETE, &format!("/assets/connections/{ref_id}"), None).await;
    assert_eq!(gone.status(), StatusCode::OK);
    assert!(
        !auth.revocations().is_empty()
            && auth.revocations().iter().all(|r| r.kind != test_oauth_server::TokenKind::Unknown)
    );
    assert!(!auth.token_is_active(bearer.trim_start_matches("Bearer ")), "revoked as that client");
    let listed = app.get("/assets/connections").await.text().await.unwrap();
    assert!(!listed.contains(SECRET) && !captured_logs().contains(SECRET), "the secret is never shown");
}

async fn a_custom_servers_own_private_key_signs_each_token_call_and_a_reconnect_keeps_it(backend: Backend) {
    for algorithm in [Algorithm::ES256, Algorithm::RS256] {
        let (pem, jwks) = key_pair(algorithm);
        let (auth, resource) = servers(vec![TestClient::private_key_jwt("key-client", jwks)]).await;
        let app = quiet(on(Spawn::default(), &database(backend).await)).start().await;
        let who = Who { key: &app.key, user: None };
        let name = format!("{algorithm:?}");
        let body =
            custom(&resource, json!({"client_id": "key-client", "private_key_pem": pem, "signing_algorithm": name}));

        let (ref_id, client_id) = connect_through(&app, who, body).await;
        assert_eq!(client_id, "key-client");
        bearer_of(&app, &ref_id).await;
        let calls = calls_of(&auth, "key-client");
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(
            calls.iter().all(|(_, how, error)| *how == Some(ClientAuth::PrivateKeyJwt) && error.is_none()),
            "{calls:?}"
        );

        // Refused from now on: the connection expires; a reconnect in place keeps its client.
        auth.configure(|c| c.token_failure = Some(test_oauth_server::Failure::InvalidGrant));
        let expired = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        auth.configure(|c| c.token_failure = None);
        let again = json!({"server_name": "my-docs", "server_config": {"ref_id": ref_id}});
        let (same, client_id) = connect_through(&app, who, again).await;
        assert_eq!((same, client_id.as_str()), (ref_id.clone(), "key-client"));
        let last = calls_of(&auth, "key-client").pop().unwrap();
        assert_eq!(
            last,
            ("authorization_code".into(), Some(ClientAuth::PrivateKeyJwt), None),
            "signed with the kept key"
        );
        let logs = captured_logs();
        let body_of_the_key = pem.lines().nth(1).unwrap();
        assert!(!logs.contains(body_of_the_key), "the private key is never logged");
    }
}

async fn a_custom_server_connects_at_once_with_the_client_credentials_grant_and_its_own_client(backend: Backend) {
    let (auth, resource) = servers(vec![TestClient::basic("machine-client", SECRET)]).await;
    auth.configure(|c| {
        c.metadata_overrides.insert("token_endpoint_auth_methods_supported".into(), json!(["client_secret_post"]));
    });
    let app = quiet(on(Spawn::default(), &database(backend).await)).start().await;
    let body = custom(
        &resource,
        json!({"grant_type": "client_credentials", "client_id": "machine-client", "client_secret": SECRET}),
    );
    let refused = app.post_json("/assets/connect", &body).await;
    assert_error(refused, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    let refusals: Vec<_> = auth.token_requests().into_iter().map(|r| r.error).collect();
    assert_eq!(
        refusals,
        [Some("invalid_client".to_owned())],
        "sent in the body as the metadata asks: not this client's way"
    );

    auth.configure(|c| c.clients = vec![TestClient::post("machine-client", SECRET)]);
    let created = app.connect(body).await;
    assert_eq!(created["status"], "connected", "no browser: {created}");
    let ref_id = created["ref_id"].as_str().unwrap();
    assert_eq!(call_mcp(&resource.mcp_url(), &bearer_of(&app, ref_id).await).await, StatusCode::OK);
    let grants: Vec<_> = calls_of(&auth, "machine-client").into_iter().filter(|(_, _, e)| e.is_none()).collect();
    // The scheduler's first round runs as the service starts; on a slow machine it may come after
    // the connect and mint once more, as it should for a token due that soon.
    assert!((2..=3).contains(&grants.len()), "minted at connect, and again before expiry: {grants:?}");
    assert!(
        grants
            .iter()
            .all(|(grant, how, _)| grant == "client_credentials" && *how == Some(ClientAuth::ClientSecretPost))
    );
    assert!(auth.authorize_requests().is_empty() && auth.registrations().is_empty());
    let resource_sent = auth.token_requests().last().unwrap().resource.clone();
    assert_eq!(resource_sent.as_deref(), Some(resource.mcp_url().as_str()), "RFC 8707");
}

on_both_backends! {
    a_custom_servers_own_client_serves_its_flow_refreshes_and_revocation_and_is_its_connections_alone
        => a_custom_servers_own_client_works_on_sqlite, a_custom_servers_own_client_works_on_postgres;
    a_custom_servers_own_private_key_signs_each_token_call_and_a_reconnect_keeps_it
        => an_own_private_key_signs_on_sqlite, an_own_private_key_signs_on_postgres;
    a_custom_server_connects_at_once_with_the_client_credentials_grant_and_its_own_client
        => custom_client_credentials_on_sqlite, custom_client_credentials_on_postgres;
}

#[tokio::test]
async fn a_catalog_client_signs_with_the_service_key_that_jwks_json_publishes_through_a_rotation() {
    let (auth, resource) = servers(Vec::new()).await;
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "machine", "display_name": "Machine", "transport": "streamable_http",
        "url": resource.mcp_url(), "auth_method": "oauth_client_credentials",
        "oauth": {"discovery": false, "token_endpoint": auth.token_endpoint(), "client_id": "signed-client",
                  "token_endpoint_auth_method": "private_key_jwt", "send_resource": true}
    }));
    let (old, new) = (key_pair(Algorithm::ES256).0, key_pair(Algorithm::ES256).0);
    let app = Spawn::default().var("AD_SIGNING_KEY", &old).catalog(catalog.clone()).start().await;
    let published: Value = app.client.get(app.url("/oauth/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    auth.configure(|c| c.clients = vec![TestClient::private_key_jwt("signed-client", published.clone())]);
    let created = app.connect(json!({"server_name": "machine"})).await;
    assert_eq!(created["status"], "connected", "{created}");
    assert_eq!(calls_of(&auth, "signed-client")[0].1, Some(ClientAuth::PrivateKeyJwt));
    let data_dir = app.stop().await;

    // Rotated: the new key signs, the old one stays published through the overlap.
    let rotated = Spawn::default()
        .data_dir(data_dir)
        .var("AD_SIGNING_KEY", &new)
        .var("AD_SIGNING_KEYS_PREVIOUS", &old)
        .catalog(catalog)
        .start()
        .await;
    let both: Value = rotated.client.get(rotated.url("/oauth/jwks.json")).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = both["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!((kids.len(), kids[1]), (2, published["keys"][0]["kid"].as_str().unwrap()), "{both}");
    assert!(both["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()), "no private part: {both}");
    // An authorization server that still knows only the old key refuses the new signature; one
    // that fetched the published set again accepts it.
    let ref_id = created["ref_id"].as_str().unwrap();
    let stale = rotated.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    assert_ne!(stale.status(), StatusCode::OK);
    auth.configure(|c| c.clients = vec![TestClient::private_key_jwt("signed-client", both.clone())]);
    let fresh = rotated.connect(json!({"server_name": "machine"})).await;
    assert_eq!(fresh["status"], "connected", "{fresh}");
}

#[tokio::test]
async fn a_client_metadata_document_names_where_the_service_publishes_its_keys() {
    let app = Spawn::default().var("OAUTH_REDIRECT_BASE_URL", "https://directory.example").start().await;
    let doc: Value = app.client.get(app.url("/oauth/client-metadata.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["jwks_uri"], "https://directory.example/oauth/jwks.json");
    let keys: Value = app.client.get(app.url("/oauth/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(keys["keys"][0]["kty"], "EC", "the development key is generated and published: {keys}");
}

#[tokio::test]
async fn a_malformed_own_client_is_refused_naming_its_field_and_nothing_is_stored() {
    let (auth, resource) = servers(Vec::new()).await;
    let app = Spawn::default().start().await;
    let url = resource.mcp_url();
    let cases = [
        (json!({"url": url, "client_secret": SECRET}), "server_config.client_id"),
        (json!({"url": url, "client_id": "c"}), "server_config.client_id"),
        (
            json!({"url": url, "client_id": "c", "client_secret": SECRET, "private_key_pem": "x", "signing_algorithm": "ES256"}),
            "server_config.private_key_pem",
        ),
        (
            json!({"url": url, "client_id": "c", "private_key_pem": "-----BEGIN PRIVATE KEY-----\nZ2l2ZW4ta2V5\n-----END PRIVATE KEY-----"}),
            "server_config.signing_algorithm",
        ),
        (
            json!({"url": url, "client_id": "c", "private_key_pem": "-----BEGIN PRIVATE KEY-----\nZ2l2ZW4ta2V5\n-----END PRIVATE KEY-----", "signing_algorithm": "ES256"}),
            "server_config.private_key_pem",
        ),
        (
            json!({"url": url, "client_id": "c", "private_key_pem": "k", "signing_algorithm": "HS256"}),
            "server_config.signing_algorithm",
        ),
        (
            json!({"url": url, "client_id": "c", "client_secret": SECRET, "client_registration": "dcr"}),
            "server_config.client_registration",
        ),
        (json!({"url": url, "grant_type": "client_credentials"}), "server_config.client_id"),
        (json!({"url": url, "grant_type": "password"}), "server_config.grant_type"),
        (json!({"url": url, "client_id": "c\u{7}", "client_secret": SECRET}), "server_config.client_id"),
    ];
    for (config, field) in cases {
        let body = json!({"server_name": "my-docs", "server_config": config});
        let error = assert_error(
            app.post_json("/assets/connect", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{config}: {error}");
        let text = error.to_string();
        assert!(!text.contains(SECRET) && !text.contains("Z2l2ZW4ta2V5"), "nothing given is repeated: {text}");
    }
    let on_catalog = json!({"server_name": "keyed", "server_config": {"api_key": "k", "client_id": "c"}});
    let error = assert_error(
        app.post_json("/assets/connect", &on_catalog).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["details"]["field"], "server_config.client_id");
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(listed.is_empty(), "nothing stored: {listed:?}");
    assert!(auth.token_requests().is_empty());
}

async fn a_given_client_is_sent_only_to_the_authorization_server_it_is_pinned_to(backend: Backend) {
    let (auth, resource) = servers(vec![TestClient::basic("given-client", SECRET)]).await;
    let elsewhere = TestAuthServer::start(TestAuthConfig { clients: Vec::new(), ..TestAuthConfig::default() }).await;
    let app = quiet(on(Spawn::default(), &database(backend).await)).start().await;
    let who = Who { key: &app.key, user: None };
    let client = json!({"client_id": "given-client", "client_secret": SECRET});

    // Two servers named and none chosen: refused before anything is sent.
    resource
        .configure(|c| c.authorization_servers_override = Some(vec![elsewhere.issuer().into(), auth.issuer().into()]));
    let several = app.post_json("/assets/connect", &custom(&resource, client.clone())).await;
    assert_error(several, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    let mut pinned = client.clone();
    pinned["issuer"] = json!(auth.issuer());
    let (ref_id, _) = connect_through(&app, who, custom(&resource, pinned)).await;

    // The MCP server now names only another server: the reconnect sends the client nowhere.
    auth.configure(|c| c.token_failure = Some(test_oauth_server::Failure::InvalidGrant));
    assert_eq!(app.get(&format!("/assets/connections/{ref_id}/credentials")).await.status(), StatusCode::UNAUTHORIZED);
    resource.configure(|c| c.authorization_servers_override = Some(vec![elsewhere.issuer().into()]));
    let again = json!({"server_name": "my-docs", "server_config": {"ref_id": ref_id}});
    let moved = app.post_json("/assets/connect", &again).await;
    let error = assert_error(moved, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert!(error["message"].as_str().unwrap().contains("sent nowhere"), "{error}");
    assert!(elsewhere.token_requests().is_empty() && elsewhere.authorize_requests().is_empty(), "nothing went there");
}

on_both_backends! {
    a_given_client_is_sent_only_to_the_authorization_server_it_is_pinned_to
        => a_given_client_stays_pinned_on_sqlite, a_given_client_stays_pinned_on_postgres;
}

/// A server that mints for clients alone publishes no authorization endpoint and no PKCE: the
/// client credentials grant connects there; a user's code flow is refused, naming why.
#[tokio::test]
async fn a_server_that_only_mints_for_clients_takes_the_client_credentials_grant_and_no_user() {
    let (auth, resource) = servers(vec![TestClient::basic("machine-client", SECRET)]).await;
    auth.configure(|c| {
        for field in ["authorization_endpoint", "code_challenge_methods_supported", "response_types_supported"] {
            c.metadata_overrides.insert(field.into(), Value::Null);
        }
    });
    let app = quiet(Spawn::default()).start().await;
    let machine = custom(
        &resource,
        json!({"grant_type": "client_credentials", "client_id": "machine-client", "client_secret": SECRET}),
    );
    let created = app.connect(machine).await;
    assert_eq!(created["status"], "connected", "{created}");

    let user = custom(&resource, json!({"client_id": "machine-client", "client_secret": SECRET}));
    let refused = app.post_json("/assets/connect", &user).await;
    let error = assert_error(refused, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(error["details"]["step"], "authorization server metadata", "{error}");
    assert!(error["message"].as_str().unwrap().contains("S256"), "{error}");
}
