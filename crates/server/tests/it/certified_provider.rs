//! Interoperability with an authorization server nobody here wrote (issue 18 §3, Proof): the
//! certified OpenID provider `oidc-provider` from npm (`tests/fixtures/oidc_provider.mjs`), whose
//! own checks verify the service's client assertions (`private_key_jwt`: signature, `iss`, `sub`,
//! `aud`, `exp`, a `jti` used once), client secrets and resource indicators, on the client
//! credentials grant and on revocation. `cargo xtask test` installs it into
//! `target/test-packages/node`; without it these tests fail saying so, they never skip.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use test_oauth_server::{ResourceConfig, TestAuthConfig, TestAuthServer, TestResourceServer};

use crate::helpers::{Spawn, TestApp, assert_error, bearer_of, captured_logs, node_modules, test_catalog};

const SECRET: &str = "certified-secret-8c2f71";

/// `oidc-provider` on a free loopback port, with the clients `config` names; stopped on drop
/// (and by itself when this process goes: it exits when its standard input closes).
struct CertifiedProvider {
    child: Child,
    _stdin: ChildStdin,
    issuer: String,
    events: Arc<Mutex<Vec<Value>>>,
    _config: tempfile::NamedTempFile,
}

impl CertifiedProvider {
    fn start(config: &Value) -> Self {
        let modules = node_modules("oidc-provider");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(config.to_string().as_bytes()).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc_provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(file.path())
            .env("OIDC_PROVIDER_MODULES", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (first, events) = (mpsc::channel(), Arc::new(Mutex::new(Vec::new())));
        let seen = events.clone();
        std::thread::spawn(move || {
            let mut lines = lines.map_while(Result::ok);
            let _ = first.0.send(lines.next());
            for line in lines {
                seen.lock().unwrap().push(serde_json::from_str(&line).unwrap_or(Value::String(line)));
            }
        });
        let started = first.1.recv_timeout(Duration::from_secs(60)).expect("oidc-provider answers");
        let issuer = started
            .and_then(|line| serde_json::from_str::<Value>(&line).ok())
            .and_then(|v| v["issuer"].as_str().map(str::to_owned))
            .expect("oidc-provider printed its issuer (a client's metadata it refused ends it)");
        Self { child, _stdin: stdin, issuer, events, _config: file }
    }

    /// The events it reported so far named `event` (`grant.success`, `grant.error`, …).
    fn events(&self, event: &str) -> Vec<Value> {
        self.events.lock().unwrap().iter().filter(|e| e["event"] == event).cloned().collect()
    }

    /// Waits (a bounded time) until it has reported `n` events named `event`.
    async fn wait_for(&self, event: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.events(event).len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.events(event)
    }
}

impl Drop for CertifiedProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the client credentials grant alone, authenticating as `auth` says.
fn machine_client(client_id: &str, auth: Value) -> Value {
    let mut client = json!({"client_id": client_id, "grant_types": ["client_credentials"], "response_types": []});
    client.as_object_mut().unwrap().extend(auth.as_object().unwrap().clone());
    client
}

/// An MCP server (the in-repo resource) whose protected resource metadata names `issuer`.
async fn resource_naming(issuer: &str) -> (TestAuthServer, TestResourceServer) {
    let unused = TestAuthServer::start(TestAuthConfig::default()).await;
    let config = ResourceConfig { authorization_servers_override: Some(vec![issuer.to_owned()]), ..Default::default() };
    let resource = unused.start_resource(config);
    (unused, resource)
}

fn rsa_key() -> (String, Value) {
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap().serialize_pem();
    let jwk = Jwk::from_encoding_key(&EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), Algorithm::RS256).unwrap();
    (pem, json!({"keys": [jwk]}))
}

async fn disconnect(app: &TestApp, ref_id: &str) {
    assert_eq!(app.delete(&format!("/assets/connections/{ref_id}")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_certified_provider_accepts_the_assertions_the_service_key_signs_for_a_catalog_client() {
    let pem = oauth_adapter::SigningKeys::generate();
    let published = oauth_adapter::SigningKeys::new(Some(&pem), &[]).unwrap().jwks();
    let client =
        machine_client("directory", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": published}));
    // Tokens that live 30 s: inside the credentials route's margin, so each read renews.
    let provider =
        CertifiedProvider::start(&json!({"scopes": ["read", "write"], "clients": [client], "access_token_ttl": 30}));
    let mut catalog = test_catalog();
    catalog["servers"].as_array_mut().unwrap().push(json!({
        "server_name": "machine", "display_name": "Machine", "transport": "streamable_http",
        "url": "http://127.0.0.1:9/mcp", "auth_method": "oauth_client_credentials",
        "oauth": {"discovery": false, "issuer": provider.issuer, "token_endpoint": format!("{}/token", provider.issuer),
                  "revocation_endpoint": format!("{}/token/revocation", provider.issuer), "client_id": "directory",
                  "token_endpoint_auth_method": "private_key_jwt", "scopes": ["read"], "send_resource": true}
    }));
    let app = Spawn::default().var("AD_SIGNING_KEY", pem.expose_secret()).catalog(catalog).start().await;
    let served: Value = app.client.get(app.url("/oauth/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, published, "the provider was given exactly what the service publishes");

    let created = app.connect(json!({"server_name": "machine"})).await;
    assert_eq!(created["status"], "connected", "{created}: {:?}", provider.events("grant.error"));
    let granted = provider.wait_for("grant.success", 1).await;
    assert_eq!(
        (granted[0]["client_id"].as_str(), granted[0]["client_auth_used"].as_str()),
        (Some("directory"), Some("private_key_jwt"))
    );
    let ref_id = created["ref_id"].as_str().unwrap();
    // Renewed twice (a new assertion each time: the provider refuses a jti it has seen), revoked.
    let (first, second) = (bearer_of(&app, ref_id).await, bearer_of(&app, ref_id).await);
    assert_ne!(first, second, "each read minted a new token");
    assert_eq!(provider.wait_for("grant.success", 3).await.len(), 3);
    disconnect(&app, ref_id).await;
    let revoked = provider.wait_for("revocation.success", 1).await;
    assert_eq!(revoked[0]["client_auth_used"], "private_key_jwt", "{revoked:?}");
    assert!(provider.events("grant.error").is_empty() && provider.events("revocation.error").is_empty());
}

#[tokio::test]
async fn a_certified_provider_found_through_discovery_accepts_a_custom_servers_own_key_and_secret() {
    let (pem, jwks) = rsa_key();
    let clients = [
        machine_client("own-key", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})),
        machine_client(
            "own-secret",
            json!({"token_endpoint_auth_method": "client_secret_basic", "client_secret": SECRET}),
        ),
    ];
    let provider =
        CertifiedProvider::start(&json!({"scopes": ["read", "write"], "clients": clients, "require_resource": true}));
    let (_unused, resource) = resource_naming(&provider.issuer).await;
    let app = Spawn::default().start().await;
    let connect = |client: Value| {
        let mut config = json!({"url": resource.mcp_url(), "grant_type": "client_credentials"});
        config.as_object_mut().unwrap().extend(client.as_object().unwrap().clone());
        json!({"server_name": "certified", "server_config": config})
    };

    let keyed = app
        .connect(connect(json!({"client_id": "own-key", "private_key_pem": pem, "signing_algorithm": "RS256"})))
        .await;
    assert_eq!(keyed["status"], "connected", "{keyed}: {:?}", provider.events("grant.error"));
    let secret = app.connect(connect(json!({"client_id": "own-secret", "client_secret": SECRET}))).await;
    assert_eq!(secret["status"], "connected", "{secret}: {:?}", provider.events("grant.error"));
    let used: Vec<(String, String)> = provider
        .wait_for("grant.success", 2)
        .await
        .iter()
        .map(|e| (e["client_id"].as_str().unwrap().to_owned(), e["client_auth_used"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        used,
        [("own-key".into(), "private_key_jwt".into()), ("own-secret".into(), "client_secret_basic".into())]
    );

    // A key the provider does not know: refused by its checks, and nothing is kept.
    let (stranger, _) = rsa_key();
    let refused = app
        .post_json(
            "/assets/connect",
            &connect(json!({"client_id": "own-key", "private_key_pem": stranger, "signing_algorithm": "RS256"})),
        )
        .await;
    assert_error(refused, StatusCode::BAD_GATEWAY, "MCP_CONNECTION_FAILED").await;
    assert_eq!(provider.wait_for("grant.error", 1).await[0]["error"], "invalid_client");
    let listed: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");

    disconnect(&app, keyed["ref_id"].as_str().unwrap()).await;
    let revoked = provider.wait_for("revocation.success", 1).await;
    assert_eq!(
        (revoked[0]["client_id"].as_str(), revoked[0]["client_auth_used"].as_str()),
        (Some("own-key"), Some("private_key_jwt"))
    );
    let logs = captured_logs();
    assert!(!logs.contains(SECRET) && !logs.contains(pem.lines().nth(1).unwrap()), "no secret reaches a log line");
}
