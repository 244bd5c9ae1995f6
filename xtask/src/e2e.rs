//! `cargo xtask e2e`: the service against a real, independently written MCP server that uses
//! OAuth — the official TypeScript SDK's `simpleStreamableHttp.js --oauth --oauth-strict` example
//! and its demo authorization server, installed with npm into `target/e2e/`.
//!
//! It starts the SDK server and the service (`AD_ALLOW_PRIVATE_NETWORKS=true`, a throwaway data
//! directory), connects to the SDK server as a custom server (probe, metadata, dynamic
//! registration), follows the authorization URL (the demo server consents at once), completes the
//! callback, then calls the MCP endpoint with the credential the service hands out: `initialize`
//! over streamable HTTP must answer. Every HTTP call is a `curl` command, echoed like the rest.
//! Prints PASS or FAIL and exits non-zero on failure. Needs the npm registry; not part of `test`.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::shell::{read, run, workspace_root};

/// The SDK release the test was written against (`E2E_SDK_VERSION` overrides).
const SDK_VERSION: &str = "1.32.2";
const ENGINE_KEY: &str = "e2e-engine-key-not-secret";
const EXAMPLE: &str = "node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js";

/// Children killed when the run ends, however it ends.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn run_e2e() -> Result<()> {
    let outcome = scenario();
    let verdict = match &outcome {
        Ok(()) => "e2e: PASS".to_owned(),
        Err(e) => format!("e2e: FAIL: {e:#}"),
    };
    // The verdict is what the command is for: standard output, after the echoed commands.
    writeln!(std::io::stdout(), "{verdict}")?;
    outcome
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{what} did not listen on port {port} within 60 s")
}

/// `curl` with the status code on the last line and the redirect target on the one before.
fn curl(args: &[&str]) -> Result<(u16, String, Value)> {
    let out = read(Command::new("curl").args(["-sS", "-w", "\n%{redirect_url}\n%{http_code}"]).args(args))?;
    let mut lines: Vec<&str> = out.lines().collect();
    let status = lines.pop().unwrap_or_default().parse().context("curl printed no status")?;
    let location = lines.pop().unwrap_or_default().to_owned();
    let body = lines.join("\n");
    Ok((status, location, serde_json::from_str(&body).unwrap_or(Value::String(body))))
}

fn scenario() -> Result<()> {
    let root = workspace_root();
    let dir = root.join("target/e2e");
    std::fs::create_dir_all(&dir)?;
    let version = std::env::var("E2E_SDK_VERSION").unwrap_or_else(|_| SDK_VERSION.to_owned());
    if !dir.join(EXAMPLE).exists() || std::env::var_os("E2E_REINSTALL").is_some() {
        let package = format!("@modelcontextprotocol/sdk@{version}");
        run(Command::new("npm").args(["install", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).arg(package))?;
    }
    run(Command::new("cargo").args(["build", "-p", "server"]).current_dir(&root))?;

    let (mcp_port, auth_port, service_port) = (free_port()?, free_port()?, free_port()?);
    let mut children = Children(Vec::new());
    children.0.push(spawn_sdk_server(&dir, mcp_port, auth_port)?);
    wait_for_port(mcp_port, "the SDK's MCP server")?;
    wait_for_port(auth_port, "the SDK's authorization server")?;
    children.0.push(spawn_service(&root, &dir, service_port)?);
    wait_for_port(service_port, "the asset directory")?;

    let base = format!("http://127.0.0.1:{service_port}");
    let mcp_url = format!("http://localhost:{mcp_port}/mcp");
    let connect = json!({"server_name": "sdk-demo", "server_config": {"url": mcp_url, "display_name": "SDK demo"}});
    let (status, _, created) = curl(&[
        "-X",
        "POST",
        &format!("{base}/assets/connect"),
        "-H",
        &format!("X-Engine-Key: {ENGINE_KEY}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        &connect.to_string(),
    ])?;
    if status != 200 || created["status"] != "pending_oauth" {
        bail!("connect answered {status}: {created}");
    }
    let auth_url = created["auth_url"].as_str().context("no auth_url")?;
    let (status, callback, _) = curl(&[auth_url])?;
    if status != 302 || !callback.starts_with(&format!("{base}/assets/oauth/callback")) {
        bail!("the demo authorization server answered {status} (redirect to `{callback}`)");
    }
    let (status, _, done) = curl(&[&callback])?;
    if status != 200 || done["status"] != "connected" {
        bail!("the callback answered {status}: {done}");
    }
    let ref_id = done["ref_id"].as_str().context("no ref_id")?;
    let credentials_url = format!("{base}/assets/connections/{ref_id}/credentials");
    let (status, _, credentials) = curl(&[&credentials_url, "-H", &format!("X-Engine-Key: {ENGINE_KEY}")])?;
    let bearer = credentials["headers"]["Authorization"].as_str().filter(|_| status == 200);
    let bearer = bearer.with_context(|| format!("credentials answered {status} without a bearer header"))?;
    eprintln!("connected {ref_id}; calling {mcp_url} with the credential the service returned");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "xtask-e2e", "version": "1"}}});
    let (status, _, answer) = curl(&[
        "-X",
        "POST",
        &mcp_url,
        "-H",
        &format!("Authorization: {bearer}"),
        "-H",
        "Content-Type: application/json",
        "-H",
        "Accept: application/json, text/event-stream",
        "--data",
        &initialize.to_string(),
    ])?;
    if status != 200 || !answer.to_string().contains("serverInfo") {
        bail!("the MCP server answered {status}: {answer}");
    }
    eprintln!("the MCP server answered initialize with its serverInfo");
    Ok(())
}

fn spawn_sdk_server(dir: &Path, mcp_port: u16, auth_port: u16) -> Result<Child> {
    let mut cmd = Command::new("node");
    cmd.arg(EXAMPLE)
        .args(["--oauth", "--oauth-strict"])
        .env("MCP_PORT", mcp_port.to_string())
        .env("MCP_AUTH_PORT", auth_port.to_string())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::io::stderr());
    eprintln!("$ MCP_PORT={mcp_port} MCP_AUTH_PORT={auth_port} node {EXAMPLE} --oauth --oauth-strict");
    cmd.spawn().context("cannot start node")
}

fn spawn_service(root: &Path, dir: &Path, port: u16) -> Result<Child> {
    let data = dir.join(format!("service-{port}"));
    std::fs::create_dir_all(&data)?;
    let vars = [
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", format!("sqlite://{}", data.join("ad.db").display())),
        ("AD_DATA_DIR", data.display().to_string()),
        ("ENGINE_API_KEY", ENGINE_KEY.to_owned()),
        ("OAUTH_REDIRECT_BASE_URL", format!("http://127.0.0.1:{port}")),
        ("AD_ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
        ("LOG_FORMAT", "pretty".to_owned()),
    ];
    let binary = root.join("target/debug/asset-directory");
    let line: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!("$ {} {}", line.join(" "), binary.display());
    let mut cmd = Command::new(binary);
    cmd.envs(vars).current_dir(root).stdin(Stdio::null()).stdout(std::io::stderr());
    cmd.spawn().context("cannot start the asset directory")
}
