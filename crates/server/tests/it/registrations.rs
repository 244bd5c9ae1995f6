//! The clients the service registered at authorization servers outlive a change of redirect URI
//! (issue 20, review finding B2), and a catalog entry's pinned issuer also holds for connections
//! made before the pin (finding G2): nothing is sent to another authorization server.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_oauth_server::{ResourceConfig, TestAuthConfig, TestAuthServer, TestClient, TestResourceServer};

use crate::backends::{Backend, database, on, on_both_backends};
use crate::helpers::{Spawn, TestApp, test_catalog};

/// An authorization server without clients whose access tokens need a refresh at once (they
/// expire within the credential margin), and a resource it guards.
async fn short_lived_servers() -> (TestAuthServer, TestResourceServer) {
    let auth = TestAuthServer::start(TestAuthConfig {
        clients: Vec::new(),
        access_token_lifetime: Some(Duration::from_secs(30)),
        ..TestAuthConfig::default()
    })
    .await;
    let resource = auth.start_resource(ResourceConfig::default());
    (auth, resource)
}

fn discovery_entry(name: &str, resource: &TestResourceServer, oauth: Value) -> Value {
    let mut oauth = oauth;
    oauth["discovery"] = json!(true);
    json!({"server_name": name, "display_name": name, "transport": "streamable_http",
           "url": resource.mcp_url(), "auth_method": "oauth", "oauth": oauth})
}

fn catalog_with(entry: Value) -> Value {
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(entry);
    catalog
}

/// Connects `body` through the provider's consent and back; the new connection's ref id.
async fn connect_through(app: &TestApp, body: Value) -> String {
    let created = app.connect(body).await;
    let consent = app.client.get(created["auth_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::FOUND, "the provider redirects back");
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let done = app.client.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK, "the callback completes");
    created["ref_id"].as_str().unwrap().to_owned()
}

async fn credentials(app: &TestApp, ref_id: &str) -> reqwest::Response {
    app.get(&format!("/assets/connections/{ref_id}/credentials")).await
}

fn refreshes(auth: &TestAuthServer) -> usize {
    auth.token_requests().iter().filter(|r| r.grant_type.as_deref() == Some("refresh_token")).count()
}

async fn a_connection_keeps_refreshing_after_another_redirect_uri_registered_a_new_client_at_its_issuer(
    backend: Backend,
) {
    let (auth, resource) = short_lived_servers().await;
    // Pinned without a client: registered dynamically, coming back at the shared redirect URI.
    let pinned = discovery_entry("pinned-docs", &resource, json!({"issuer": auth.issuer()}));
    let app = on(Spawn::default(), &database(backend).await).catalog(catalog_with(pinned)).start().await;

    let first = connect_through(&app, json!({"server_name": "pinned-docs"})).await;
    // A custom server at the same authorization server comes back at that issuer's own URI.
    let custom = json!({"server_name": "my-docs", "server_config": {"url": resource.mcp_url()}});
    connect_through(&app, custom).await;
    assert_eq!(auth.registrations().len(), 2, "one client per redirect URI");

    let response = credentials(&app, &first).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "the first connection's client is still known: {body}");
    assert_eq!(refreshes(&auth), 1);
    assert!(auth.token_requests().iter().all(|r| r.error.is_none()), "{:?}", auth.token_requests());

    connect_through(&app, json!({"server_name": "pinned-docs"})).await;
    assert_eq!(auth.registrations().len(), 2, "alternating redirect URIs register nothing new");
}

async fn a_connection_made_before_its_entry_was_pinned_is_never_refreshed_at_another_authorization_server(
    backend: Backend,
) {
    let (old, resource) = short_lived_servers().await;
    let unpinned = discovery_entry("docs", &resource, json!({}));
    let database = database(backend).await;
    let app = on(Spawn::default(), &database).catalog(catalog_with(unpinned)).start().await;
    let ref_id = connect_through(&app, json!({"server_name": "docs"})).await;
    let data_dir = app.stop().await;

    // The operator pins the entry to their own authorization server and its client.
    let pinned_server = TestAuthServer::start(TestAuthConfig {
        clients: vec![TestClient::basic("pinned-client", "pinned-secret")],
        ..TestAuthConfig::default()
    })
    .await;
    let oauth = json!({"issuer": pinned_server.issuer(), "client_id": "pinned-client",
                       "client_secret_env": "PINNED_CLIENT_SECRET"});
    let app = on(Spawn::default(), &database)
        .data_dir(data_dir)
        .var("PINNED_CLIENT_SECRET", "pinned-secret")
        .catalog(catalog_with(discovery_entry("docs", &resource, oauth)))
        .start()
        .await;

    // The token is about to expire, so this would refresh it (the answer may still hand out the
    // token the old server issued while it lasts: that sends nothing anywhere).
    credentials(&app, &ref_id).await;
    assert_eq!(refreshes(&old), 0, "the refresh token went to the server the entry no longer names");
    assert!(pinned_server.token_requests().is_empty(), "nor to the pinned one, which never issued it");
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed[0]["status"], "expired", "it needs a reconnect: {}", listed[0]);
    assert!(listed[0]["status_reason"].as_str().unwrap().contains("reconnect"), "{}", listed[0]);
}

on_both_backends! {
    a_connection_keeps_refreshing_after_another_redirect_uri_registered_a_new_client_at_its_issuer =>
        a_connection_keeps_refreshing_after_another_redirect_uri_registered_a_new_client_at_its_issuer_on_sqlite,
        a_connection_keeps_refreshing_after_another_redirect_uri_registered_a_new_client_at_its_issuer_on_postgres;
    a_connection_made_before_its_entry_was_pinned_is_never_refreshed_at_another_authorization_server =>
        a_connection_made_before_its_entry_was_pinned_is_never_refreshed_at_another_authorization_server_on_sqlite,
        a_connection_made_before_its_entry_was_pinned_is_never_refreshed_at_another_authorization_server_on_postgres;
}
