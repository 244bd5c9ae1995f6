//! The processes a chaos run starts and hurts: the service (release build) and the test
//! authorization server, each a child process; signals by process id only; resource figures
//! from `/proc`.

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::http::{BodyLog, Client};
use crate::shell;

/// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to each process id, echoed like every command.
pub(crate) fn signal(signal: &str, pids: &[u32]) -> Result<()> {
    if pids.is_empty() {
        return Ok(());
    }
    shell::run(Command::new("kill").arg(format!("-{signal}")).args(pids.iter().map(u32::to_string)))
}

/// `pid` and every process below it (read from `/proc/*/stat`).
pub(crate) fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after the last `)`.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((child, ppid));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// Resident memory (MiB) and thread count of a process.
pub(crate) fn resources(pid: u32) -> Option<(f64, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    #[allow(clippy::cast_precision_loss, reason = "memory in MiB for a report")]
    let rss = field("VmRSS:")? as f64 / 1024.0;
    Some((rss, u32::try_from(field("Threads:")?).ok()?))
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `cmd` and waits (10 s at most) until something accepts connections on `port`;
/// `what` and its `log` name it in an error.
pub(crate) fn spawn_listening(mut cmd: Command, port: u16, what: &str, log: &Path) -> Result<Owned> {
    let binary = PathBuf::from(cmd.get_program());
    let mut child = Owned(cmd.spawn().with_context(|| format!("cannot start {}", binary.display()))?);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.0.try_wait()? {
            bail!("{what} exited at start-up ({status}); see {}", log.display());
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen within 10 s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}

/// SIGKILL to the process `child` holds, if any, then reaps it; `child` is left empty.
pub(crate) fn kill_owned(child: &mut Option<Owned>) -> Result<()> {
    if let Some(mut owned) = child.take() {
        signal("KILL", &[owned.0.id()])?;
        owned.0.wait()?;
    }
    Ok(())
}

/// A started process killed when dropped.
#[derive(Debug)]
pub(crate) struct Owned(pub Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How to start the service: its environment and where its logs go.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    pub binary: PathBuf,
    pub port: u16,
    pub vars: Vec<(String, String)>,
    pub log_dir: PathBuf,
    pub name: String,
    /// A network namespace (`ip netns`) to run in, where only loopback exists.
    pub netns: Option<String>,
}

impl ServiceSpec {
    #[must_use]
    pub(crate) fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value.into()));
        self
    }
}

/// A running service.
#[derive(Debug)]
pub(crate) struct Service {
    child: Owned,
    pub pid: u32,
}

impl Service {
    /// Starts the service and waits until it logs that it listens. Each start writes its own
    /// log file (`<name>-<n>.log`), all of which the leak scan reads.
    pub(crate) fn start(spec: &ServiceSpec) -> Result<Self> {
        std::fs::create_dir_all(&spec.log_dir)?;
        let log = numbered(&spec.log_dir, &spec.name);
        let out = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut cmd = match &spec.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(&spec.binary);
                cmd
            }
            None => Command::new(&spec.binary),
        };
        cmd.arg("serve").env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd.env("LISTEN_ADDR", format!("127.0.0.1:{}", spec.port));
        cmd.envs(spec.vars.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        eprintln!("$ {} serve  (port {}, log {})", spec.binary.display(), spec.port, log.display());
        let child = Owned(cmd.spawn().with_context(|| format!("cannot start {}", spec.binary.display()))?);
        let pid = child.0.id();
        let mut service = Self { child, pid };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = service.child.0.try_wait()? {
                bail!("the service exited at start-up ({status}); see {}", log.display());
            }
            if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("asset directory listening")) {
                return Ok(service);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        service.kill()?;
        bail!("the service did not listen within 60 s; see {}", log.display())
    }

    /// Whether it is still running (it has not exited).
    pub(crate) fn running(&mut self) -> Result<bool> {
        Ok(self.child.0.try_wait()?.is_none())
    }

    /// SIGKILL, then reaps the process.
    pub(crate) fn kill(&mut self) -> Result<()> {
        signal("KILL", &[self.pid])?;
        self.child.0.wait()?;
        Ok(())
    }

    /// SIGTERM (a graceful stop), then reaps the process.
    pub(crate) fn stop(mut self) -> Result<()> {
        signal("TERM", &[self.pid])?;
        self.child.0.wait()?;
        Ok(())
    }
}

fn numbered(dir: &Path, name: &str) -> PathBuf {
    (1..).map(|n| dir.join(format!("{name}-{n}.log"))).find(|p| !p.exists()).expect("some number is free")
}

/// The test authorization server (`test-oauth-server`), with its side door for counters.
#[derive(Debug)]
pub(crate) struct AuthServer {
    _child: Owned,
    pub base: String,
    admin: Client,
}

impl AuthServer {
    pub(crate) fn start(binary: &Path, client_secret: &str) -> Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.env("TEST_OAUTH_CLIENT_SECRET", client_secret).env("TEST_OAUTH_ADMIN_ADDR", "127.0.0.1:0");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        eprintln!("$ {}  (TEST_OAUTH_ADMIN_ADDR=127.0.0.1:0)", binary.display());
        let mut child = Owned(cmd.spawn().with_context(|| format!("cannot start {}", binary.display()))?);
        let stderr = child.0.stderr.take().context("no standard error")?;
        let mut lines = BufReader::new(stderr).lines();
        let (mut base, mut admin) = (None, None);
        while base.is_none() || admin.is_none() {
            let line = lines.next().context("the test authorization server ended early")??;
            if let Some(rest) = line.strip_prefix("test authorization server at ") {
                base = rest.split_whitespace().next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("admin at ") {
                admin = Some(rest.trim().to_owned());
            }
        }
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let admin = Client::new(&admin.unwrap_or_default(), "", BodyLog::discard(), Duration::from_secs(10));
        Ok(Self { _child: child, base: base.unwrap_or_default(), admin })
    }

    /// `{"token_requests","code_exchanges","refreshes","refresh_reuses","revocations"}`.
    pub(crate) fn counters(&self) -> Result<Value> {
        let reply = self.admin.get("/counters");
        if reply.status != 200 {
            bail!("the test authorization server's counters did not answer ({})", reply.status);
        }
        Ok(reply.body)
    }

    pub(crate) fn counter(&self, name: &str) -> Result<u64> {
        self.counters()?[name].as_u64().with_context(|| format!("no counter {name}"))
    }

    /// Every code and token it issued.
    pub(crate) fn issued(&self) -> Result<Vec<String>> {
        let body = self.admin.get("/issued").body;
        let lists = ["codes", "access_tokens", "refresh_tokens", "id_tokens", "client_assertions", "id_jags"];
        let all = lists.iter().flat_map(|l| body[l].as_array().cloned().unwrap_or_default());
        Ok(all.filter_map(|v| v.as_str().map(str::to_owned)).collect())
    }

    /// Adds a `client_secret_basic` client.
    pub(crate) fn add_client(&self, client_id: &str, secret: &str) -> Result<()> {
        self.clients(&json!({"client_id": client_id, "client_secret": secret})).map(drop)
    }

    /// Adds a `private_key_jwt` client with a new ES256 key; the private key, in PEM.
    pub(crate) fn add_keyed_client(&self, client_id: &str) -> Result<String> {
        let reply = self.clients(&json!({"client_id": client_id, "generate_key": "ES256"}))?;
        reply["private_key_pem"].as_str().map(str::to_owned).context("no private key in the answer")
    }

    /// Makes the server its own enterprise identity provider, whose ID-JAGs name `client_id`.
    pub(crate) fn be_identity_provider(&self, client_id: &str) -> Result<()> {
        let reply = self.admin.post("/identity", &json!({"id_jag_client_id": client_id}));
        if reply.status != 204 {
            bail!("the test authorization server did not become an identity provider ({})", reply.status);
        }
        Ok(())
    }

    /// An ID token for `subject`, issued to `client_id`.
    pub(crate) fn sign_in(&self, subject: &str, client_id: &str) -> Result<String> {
        let reply = self.admin.post("/sign-in", &json!({"subject": subject, "client_id": client_id}));
        reply.body["id_token"].as_str().map(str::to_owned).context("no ID token in the answer")
    }

    fn clients(&self, body: &Value) -> Result<Value> {
        let reply = self.admin.post("/clients", body);
        if reply.status != 201 {
            bail!("the test authorization server did not add the client ({})", reply.status);
        }
        Ok(reply.body)
    }

    /// Access tokens issued from now on live this long.
    pub(crate) fn set_token_lifetime(&self, seconds: u64) -> Result<()> {
        self.configure(&json!({"access_token_lifetime_seconds": seconds}))
    }

    /// Token lifetime and how long `/token` waits before answering.
    pub(crate) fn set_slow_tokens(&self, lifetime_seconds: u64, delay_ms: u64) -> Result<()> {
        self.configure(&json!({"access_token_lifetime_seconds": lifetime_seconds, "token_delay_ms": delay_ms}))
    }

    fn configure(&self, body: &Value) -> Result<()> {
        let reply = self.admin.post("/configure", body);
        if reply.status != 204 {
            bail!("the test authorization server refused the new token lifetime ({})", reply.status);
        }
        Ok(())
    }
}
