//! The official SDK clients through the directory's proxy to the official SDK server (issue 16's
//! proof): each client holds only the proxy's URL and a proxy token; the server, guarded by the
//! in-repo authorization server, sees only the connection's own token. Streamable HTTP
//! (initialize, tools, notifications on the request and the standalone stream, session delete),
//! resumption with `Last-Event-ID`, and the legacy SSE transport; and the examples of
//! `docs/proxy.md`, run as they are written.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use super::{ClientRun, Scenario, Sdk, SdkMcpServer, guarding_auth_server, run_client};
use crate::helpers::{ENGINE_KEY, Spawn, TestApp, node_modules, python, test_catalog};
use crate::oauth_flow::CLIENT_SECRET;
use crate::proxy::connect_oauth;

/// The directory, with `sdk` (Streamable HTTP) and `sdk-sse` (legacy SSE) in its catalog: the
/// SDK server, as an OAuth server of `auth`'s.
async fn directory(auth: &TestAuthServer, server: &SdkMcpServer) -> TestApp {
    let mut catalog = test_catalog();
    for (name, transport, url) in [("sdk", "streamable_http", server.url()), ("sdk-sse", "sse", server.sse_url())] {
        catalog["servers"].as_array_mut().unwrap().push(json!({
            "server_name": name, "display_name": name, "transport": transport, "url": url,
            "auth_method": "oauth",
            "oauth": {
                "discovery": false, "issuer": auth.issuer(),
                "authorization_endpoint": auth.authorization_endpoint(),
                "token_endpoint": auth.token_endpoint(), "revocation_endpoint": auth.revocation_endpoint(),
                "client_id": "test-client", "client_secret_env": "ACME_CLIENT_SECRET",
                "scopes": ["read"], "send_resource": true
            } }));
    }
    Spawn::default().catalog(catalog).var("ACME_CLIENT_SECRET", CLIENT_SECRET).start().await
}

struct Proxied {
    _auth: TestAuthServer,
    server: SdkMcpServer,
    app: TestApp,
    ref_id: String,
    /// The connection's upstream token, which only the SDK server may see.
    upstream: String,
    /// What the client is given.
    url: String,
    token: String,
}

async fn proxied(scenario: Scenario) -> Proxied {
    let auth = guarding_auth_server(TestAuthConfig::default()).await;
    let server = SdkMcpServer::start(&auth).await;
    let app = directory(&auth, &server).await;
    let name = if scenario == Scenario::Sse { "sdk-sse" } else { "sdk" };
    let ref_id = connect_oauth(&app, json!({"server_name": name})).await;
    let given: Value = app.get(&format!("/assets/connections/{ref_id}/credentials")).await.json().await.unwrap();
    let upstream = given["headers"]["Authorization"].as_str().unwrap().to_owned();
    let (url, token) = (given["proxy"]["url"].as_str().unwrap(), given["proxy"]["token"].as_str().unwrap());
    let (url, token) = (url.to_owned(), token.to_owned());
    server.forget_seen().await;
    Proxied { _auth: auth, server, app, ref_id, upstream, url, token }
}

/// `scenario` of `sdk`'s client passes through the proxy, and the server saw the connection's
/// token only: not the proxy token, nor the cookie and engine key the client also sent.
async fn passes(sdk: Sdk, scenario: Scenario) -> ClientRun {
    let p = proxied(scenario).await;
    let extra = [("Cookie", "browser=session-7"), ("X-End-User-Tracking", "u-1")];
    let run = run_client(sdk, scenario, &p.url, &p.token, &extra).await;
    assert!(run.passed(), "{}\nserver: {}", run.transcript(), p.server.stderr());
    let seen = p.server.seen().await;
    assert_eq!(seen["refusals"], json!([]), "{seen}");
    let sent = seen["authorization_headers"].as_array().unwrap();
    assert!(!sent.is_empty() && sent.iter().all(|h| *h == p.upstream), "the connection's token only: {seen}");
    assert_eq!((seen["cookies"].clone(), seen["engine_key_headers"].clone()), (json!([]), json!([])), "{seen}");
    assert!(!run.transcript().contains(p.upstream.trim_start_matches("Bearer ")), "the client never sees it");
    let _ = (&p.app, &p.ref_id);
    run
}

async fn streams_and_deletes_its_session(sdk: Sdk) {
    passes(sdk, Scenario::Streamable).await.shows_its_scenario();
}

async fn resumes_from_its_last_event_id(sdk: Sdk) {
    passes(sdk, Scenario::Resume).await.shows_its_scenario();
}

async fn speaks_legacy_sse(sdk: Sdk) {
    passes(sdk, Scenario::Sse).await.shows_its_scenario();
}

#[tokio::test]
async fn the_typescript_client_works_through_the_proxy_with_only_a_proxy_token() {
    streams_and_deletes_its_session(Sdk::TypeScript).await;
}

#[tokio::test]
async fn the_python_client_works_through_the_proxy_with_only_a_proxy_token() {
    streams_and_deletes_its_session(Sdk::Python).await;
}

#[tokio::test]
async fn the_typescript_client_resumes_a_dropped_stream_through_the_proxy() {
    resumes_from_its_last_event_id(Sdk::TypeScript).await;
}

#[tokio::test]
async fn the_python_client_resumes_a_dropped_stream_through_the_proxy() {
    resumes_from_its_last_event_id(Sdk::Python).await;
}

#[tokio::test]
async fn the_typescript_client_speaks_legacy_sse_through_the_proxy() {
    speaks_legacy_sse(Sdk::TypeScript).await;
}

#[tokio::test]
async fn the_python_client_speaks_legacy_sse_through_the_proxy() {
    speaks_legacy_sse(Sdk::Python).await;
}

/// `docs/examples/<name>`.
fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples").join(name)
}

/// Runs a documented example against a proxied connection; its one line of output.
async fn run_example(mut command: Command, p: &Proxied) -> Value {
    command.env("DIRECTORY", &p.app.address).env("ENGINE_KEY", ENGINE_KEY).env("REF_ID", &p.ref_id);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("the example starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("one JSON line: {stdout}"))
}

#[tokio::test]
async fn the_typescript_example_of_the_proxy_guide_runs_as_written() {
    let p = proxied(Scenario::Streamable).await;
    // An ES module finds its imports in a `node_modules` beside it: run a copy there.
    let modules = node_modules("@modelcontextprotocol/sdk");
    let copy = modules.parent().unwrap().join(format!("proxy_client-{}.mjs", std::process::id()));
    std::fs::copy(example("proxy_client.mjs"), &copy).unwrap();
    let mut node = Command::new("node");
    node.arg(&copy);
    let out = run_example(node, &p).await;
    let _ = std::fs::remove_file(&copy);
    assert_eq!(out["echo"], "hello");
    assert!(out["tools"].as_array().unwrap().contains(&json!("echo")), "{out}");
}

#[tokio::test]
async fn the_python_example_of_the_proxy_guide_runs_as_written() {
    let p = proxied(Scenario::Streamable).await;
    let mut python = Command::new(python());
    python.arg(example("proxy_client.py"));
    let out = run_example(python, &p).await;
    assert_eq!(out["echo"], "hello");
    let seen = p.server.seen().await;
    assert!(seen["authorization_headers"].as_array().unwrap().iter().all(|h| *h == p.upstream), "{seen}");
}
