//! `spawn_app()`: the real service on a free port, with its own data directory and catalog.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use server::config::{Config, LogConfig};
use server::startup::Application;

/// Every log line any test in this binary produced (debug level), for the leak checks.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = CaptureWriter(Arc::clone(&buffer));
        let config = LogConfig { json: true, filter: "debug".into() };
        server::telemetry::init(&config, move || writer.clone(), false).expect("the first subscriber installs");
        buffer
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get().expect("logs captured").lock().unwrap()).into_owned()
}

/// The `node_modules` of the npm packages `cargo xtask test` installs (`AD_TEST_NODE_MODULES`, or
/// where it installs them by default), checked to hold `package`.
pub fn node_modules(package: &str) -> PathBuf {
    let modules = std::env::var_os("AD_TEST_NODE_MODULES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-packages/node/node_modules"),
        PathBuf::from,
    );
    assert!(
        modules.join(package).exists(),
        "{} has no {package}: `cargo xtask test` installs it (npm install into target/test-packages/node)",
        modules.display()
    );
    modules
}

/// The Python of the virtual environment `cargo xtask test` makes for the PyPI packages the tests
/// run (`AD_TEST_PYTHON`, or where it makes it by default).
pub fn python() -> PathBuf {
    let python = std::env::var_os("AD_TEST_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-packages/python/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "no {}: `cargo xtask test` makes it (a virtual environment in target/test-packages/python)",
        python.display()
    );
    python
}

pub const ENGINE_KEY: &str = "engine-key-for-tests-7Yq2";
pub const ENCRYPTION_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

/// The catalog every test server starts with: one server per auth method.
pub fn test_catalog() -> Value {
    json!({ "servers": [
        { "server_name": "keyed", "display_name": "Keyed", "transport": "streamable_http",
          "url": "https://keyed.example/mcp", "auth_method": "api_key",
          "api_key": { "header": "X-Api-Key", "scheme": null } },
        { "server_name": "bearer", "display_name": "Bearer", "transport": "sse",
          "url": "https://bearer.example/sse", "auth_method": "api_key",
          "api_key": { "header": "Authorization", "scheme": "Bearer" } },
        { "server_name": "open", "display_name": "Open", "transport": "streamable_http",
          "url": "https://open.example/mcp", "auth_method": "none" }
    ]})
}

/// A running service and what a test needs to talk to it. Clones talk to the same service.
#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub key: String,
    pub data_dir: Arc<tempfile::TempDir>,
    /// What `SIGHUP` calls: reads `ENGINE_KEYS_FILE` again.
    pub keys: server::engine_keys::KeysReloader,
    handle: actix_web::dev::ServerHandle,
}

/// How to start a test service.
pub struct Spawn {
    vars: HashMap<String, String>,
    data_dir: Option<Arc<tempfile::TempDir>>,
    catalog: Value,
}

impl Default for Spawn {
    fn default() -> Self {
        Self { vars: HashMap::new(), data_dir: None, catalog: test_catalog() }
    }
}

impl Spawn {
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Reuses the data directory (database, dev keys) of an earlier service.
    pub fn data_dir(mut self, dir: Arc<tempfile::TempDir>) -> Self {
        self.data_dir = Some(dir);
        self
    }

    pub fn catalog(mut self, catalog: Value) -> Self {
        self.catalog = catalog;
        self
    }

    pub async fn start(self) -> TestApp {
        init_logs();
        let data_dir = self.data_dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().unwrap()));
        let catalog_path = data_dir.path().join("catalog.json");
        std::fs::write(&catalog_path, self.catalog.to_string()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", format!("sqlite://{}", data_dir.path().join("ad.db").display())),
            ("AD_DATA_DIR", data_dir.path().display().to_string()),
            ("ENGINE_API_KEY", ENGINE_KEY.to_owned()),
            ("AD_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
            ("CATALOG_PATH", catalog_path.display().to_string()),
            ("OAUTH_REDIRECT_BASE_URL", address.clone()),
            ("RETURN_URL_ALLOWLIST", "https://app.example".to_owned()),
            ("AD_ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        vars.extend(self.vars);
        let key = vars.get("ENGINE_API_KEY").cloned().unwrap_or_default();
        let config = Config::from_map(vars).expect("test configuration is valid");
        let app = Application::build_on(config, listener).await.expect("the service starts");
        let (handle, keys) = (app.handle(), app.keys_reloader());
        tokio::spawn(app.run_until_stopped());
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { address, client, key, data_dir, keys, handle }
    }
}

pub async fn spawn_app() -> TestApp {
    Spawn::default().start().await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).header("X-Engine-Key", &self.key).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).header("X-Engine-Key", &self.key).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).header("X-Engine-Key", &self.key).json(body).send().await.unwrap()
    }

    pub async fn connect(&self, body: Value) -> Value {
        let response = self.post_json("/assets/connect", &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Stops the service gracefully, releasing its database.
    pub async fn stop(self) -> Arc<tempfile::TempDir> {
        self.handle.stop(true).await;
        self.data_dir
    }
}

/// Asserts an error answer: its status and stable code, in the contract's shape.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {code}");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}

/// An MCP `initialize` at `url` with `bearer` as its `Authorization`; the answer's status.
pub async fn call_mcp(url: &str, bearer: &str) -> StatusCode {
    Client::new()
        .post(url)
        .header("Authorization", bearer)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
        .send()
        .await
        .unwrap()
        .status()
}

/// The bearer credential of `ref_id` (asserting the credentials answer is `200`).
pub async fn bearer_of(app: &TestApp, ref_id: &str) -> String {
    let response = app.get(&format!("/assets/connections/{ref_id}/credentials")).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["headers"]["Authorization"].as_str().expect("a bearer credential").to_owned()
}
