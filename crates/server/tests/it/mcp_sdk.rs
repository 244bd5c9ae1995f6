//! The official MCP SDKs, which nobody here wrote, as child processes (issue 16, Proof): an MCP
//! server of the TypeScript SDK guarded by the in-repo authorization server through RFC 7662
//! introspection (`tests/fixtures/mcp/server.mjs`), and the TypeScript and Python SDK clients
//! (`client.mjs`, `client.py`) run through a scenario against any MCP URL with a bearer token and
//! extra headers: the SDK server itself, or the service's proxy in front of it.
//!
//! `cargo xtask test` installs the SDKs into `target/test-packages` and names them with
//! `AD_TEST_NODE_MODULES` and `AD_TEST_PYTHON`; without them these tests fail saying so, they never
//! skip. Everything here waits on the blocking pool, never on the test's runtime, so a service or
//! an authorization server started on that runtime keeps answering while a client runs.

mod straight;
mod through_proxy;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer, TestClient};

use crate::helpers::{node_modules, python};

/// The client the SDK server introspects tokens with at the authorization server.
pub const INTROSPECTION_CLIENT: (&str, &str) = ("sdk-mcp-server", "sdk-mcp-server-secret-5e1d");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp").join(name)
}

/// An authorization server configured as `config` says that also knows [`INTROSPECTION_CLIENT`],
/// so an [`SdkMcpServer`] it guards can ask it about tokens.
pub async fn guarding_auth_server(mut config: TestAuthConfig) -> TestAuthServer {
    let (id, secret) = INTROSPECTION_CLIENT;
    config.clients.push(TestClient::basic(id, secret));
    TestAuthServer::start(config).await
}

/// An access token `auth` issues to its default client `test-client` (Basic `test-secret`) by
/// the client credentials grant, with scope `read`.
pub async fn access_token(auth: &TestAuthServer) -> String {
    let response = reqwest::Client::new()
        .post(auth.token_endpoint())
        .basic_auth("test-client", Some("test-secret"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=read")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("no access token: {body}")).to_owned()
}

/// The TypeScript SDK's MCP server on a free loopback port; stopped on drop (and by itself when
/// this process goes: it exits when its standard input closes).
pub struct SdkMcpServer {
    child: Child,
    _stdin: ChildStdin,
    url: String,
    sse_url: String,
    stderr: tempfile::NamedTempFile,
}

impl SdkMcpServer {
    /// A server that takes the access tokens `auth` (made by [`guarding_auth_server`]) says are
    /// active, and names it in its protected resource metadata.
    pub async fn start(auth: &TestAuthServer) -> Self {
        Self::start_with(auth, &[]).await
    }

    /// [`SdkMcpServer::start`] with more of `server.mjs`'s variables, such as
    /// `INSUFFICIENT_SCOPE_TOKENS` (comma-separated tokens answered `403 insufficient_scope`).
    pub async fn start_with(auth: &TestAuthServer, vars: &[(&str, &str)]) -> Self {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new("node");
        command
            .arg(fixture("server.mjs"))
            .env("AD_TEST_NODE_MODULES", node_modules("@modelcontextprotocol/sdk"))
            .env("INTROSPECTION_URL", auth.introspection_endpoint())
            .env("INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT.0)
            .env("INTROSPECTION_CLIENT_SECRET", INTROSPECTION_CLIENT.1)
            .env("AUTHORIZATION_SERVERS", auth.issuer())
            .envs(vars.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap());
        let mut child = command.spawn().expect("node starts");
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let first = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next()).await.unwrap();
        let started = first.and_then(Result::ok).and_then(|line| serde_json::from_str::<Value>(&line).ok());
        let Some(started) = started else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server.mjs printed no URLs: {}", std::fs::read_to_string(stderr.path()).unwrap_or_default());
        };
        let url_of = |field: &str| started[field].as_str().expect("server.mjs names its URLs").to_owned();
        Self { url: url_of("url"), sse_url: url_of("sse_url"), child, _stdin: stdin, stderr }
    }

    /// Its Streamable HTTP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its legacy HTTP+SSE endpoint, `http://127.0.0.1:PORT/sse` (posts go to `/messages`).
    pub fn sse_url(&self) -> &str {
        &self.sse_url
    }

    /// The endpoint `scenario` starts at: [`SdkMcpServer::sse_url`] for [`Scenario::Sse`], else
    /// [`SdkMcpServer::url`].
    pub fn url_for(&self, scenario: Scenario) -> &str {
        if scenario == Scenario::Sse { self.sse_url() } else { self.url() }
    }

    /// What it saw since it started or [`SdkMcpServer::forget_seen`]: `{"requests",
    /// "authorization_headers", "cookies", "engine_key_headers", "refusals": [{"status","error"}]}`.
    pub async fn seen(&self) -> Value {
        let response = reqwest::get(self.seen_url()).await.unwrap();
        response.json().await.unwrap()
    }

    pub async fn forget_seen(&self) {
        reqwest::Client::new().delete(self.seen_url()).send().await.unwrap();
    }

    fn seen_url(&self) -> String {
        format!("{}/_seen", self.url.trim_end_matches("/mcp"))
    }

    /// What it wrote to standard error (its errors), for assertion messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}

impl Drop for SdkMcpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An official MCP SDK's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    TypeScript,
    Python,
}

/// What a client does (the fixtures' headers say it step by step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Streamable HTTP: initialize, tools, notifications on the POST and the GET streams, session
    /// delete (then `404` for the old session). The URL is a `…/mcp` endpoint.
    Streamable,
    /// Streamable HTTP: a notification stream dropped after 2 of 5, resumed with `Last-Event-ID`.
    Resume,
    /// The legacy HTTP+SSE transport: initialize, tools/list, tools/call. The URL is a `…/sse`
    /// endpoint.
    Sse,
}

impl Scenario {
    fn arg(self) -> &'static str {
        match self {
            Self::Streamable => "streamable",
            Self::Resume => "resume",
            Self::Sse => "sse",
        }
    }
}

/// How a client run went: its exit status and its JSON lines, one per step.
#[derive(Debug)]
pub struct ClientRun {
    pub scenario: Scenario,
    pub status: ExitStatus,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl ClientRun {
    /// It exited with success after its last step, `done`.
    pub fn passed(&self) -> bool {
        self.status.success() && self.lines.last().is_some_and(|l| l["step"] == "done" && l["ok"] == true)
    }

    /// The line of step `name` (`initialize`, `tools/call notify`, `resumed`, …), if it got there.
    pub fn step(&self, name: &str) -> Option<&Value> {
        self.lines.iter().find(|l| l["step"] == name)
    }

    /// Why it failed, as the client reported it.
    pub fn error(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l["error"].as_str())
    }

    /// Everything it printed, for assertion messages.
    pub fn transcript(&self) -> String {
        let lines: Vec<String> = self.lines.iter().map(Value::to_string).collect();
        format!("{}\n{}\nstderr: {}", self.status, lines.join("\n"), self.stderr)
    }
}

impl ClientRun {
    /// The line of step `name`, which the run must have reached.
    fn must_step(&self, name: &str) -> &Value {
        self.step(name).unwrap_or_else(|| panic!("no step {name}: {}", self.transcript()))
    }

    /// What its scenario must show: for Streamable HTTP, notifications on the POST and on the
    /// GET stream and the session deleted; for a resume, two notifications of five, the stream
    /// dropped, the other three after `Last-Event-ID`; for legacy SSE, the echo.
    pub fn shows_its_scenario(&self) {
        match self.scenario {
            Scenario::Streamable => {
                assert_eq!(self.must_step("tools/call notify")["notifications"], json!([1, 2, 3]));
                assert_eq!(self.must_step("standalone GET stream")["notifications"], json!([1, 2]));
                assert_eq!(self.must_step("terminateSession")["status_after"], 404);
            }
            Scenario::Resume => {
                assert_eq!(self.must_step("disconnect")["received"], json!([1, 2]));
                assert_eq!(self.must_step("resumed")["received"], json!([1, 2, 3, 4, 5]));
            }
            Scenario::Sse => assert_eq!(self.must_step("tools/call echo")["text"], "hello"),
        }
    }
}

/// Runs `sdk`'s client through `scenario` against `url` (a `…/mcp` or, for [`Scenario::Sse`], a
/// `…/sse` endpoint: the SDK server's or the proxy's), sending `Authorization: Bearer {bearer}` and
/// `extra_headers` with every request; waits (on the blocking pool) until it exits, at most 30 s.
pub async fn run_client(
    sdk: Sdk,
    scenario: Scenario,
    url: &str,
    bearer: &str,
    extra_headers: &[(&str, &str)],
) -> ClientRun {
    let extra: serde_json::Map<String, Value> =
        extra_headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let mut command = match sdk {
        Sdk::TypeScript => {
            let mut node = Command::new("node");
            node.arg(fixture("client.mjs")).env("AD_TEST_NODE_MODULES", node_modules("@modelcontextprotocol/sdk"));
            node
        }
        Sdk::Python => {
            let mut python = Command::new(python());
            python.arg(fixture("client.py"));
            python
        }
    };
    command.args([url, bearer, scenario.arg()]).env("EXTRA_HEADERS", Value::Object(extra).to_string());
    let output = tokio::task::spawn_blocking(move || command.stdin(Stdio::null()).output())
        .await
        .unwrap()
        .expect("the client starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    ClientRun {
        scenario,
        status: output.status,
        lines: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.to_owned())))
            .collect(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
