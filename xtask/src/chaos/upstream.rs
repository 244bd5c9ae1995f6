//! The MCP servers the proxy scenarios put behind the service: `chaos-upstream` (a small
//! actix-web program in `crates/bench-support`, so that xtask carries no HTTP server) as a
//! process of its own, killed and restarted on the same port; and a silent one, a listener that
//! accepts connections and never reads or answers.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::Run;
use super::http::{BodyLog, Client};
use super::procs::{Owned, free_port, kill_owned, spawn_listening};

/// `chaos-upstream` on a fixed port, which survives its restarts.
#[derive(Debug)]
pub(crate) struct Upstream {
    child: Option<Owned>,
    pub port: u16,
    binary: PathBuf,
    log: PathBuf,
    control: Client,
}

impl Upstream {
    /// Starts one on a free port; its standard error goes to `logs/<name>-upstream.txt`.
    pub(crate) fn start(run: &Run, name: &str) -> Result<Self> {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut upstream = Self {
            child: None,
            port,
            binary: run.binary("chaos-upstream"),
            log: run.dir.join("logs").join(format!("{name}-upstream.txt")),
            control: Client::new(&base, "", BodyLog::discard(), Duration::from_secs(5)),
        };
        upstream.restart()?;
        Ok(upstream)
    }

    /// The URL of its Streamable HTTP endpoint.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    pub(crate) fn restart(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)]);
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        eprintln!("$ {} --listen 127.0.0.1:{}", self.binary.display(), self.port);
        self.child = Some(spawn_listening(cmd, self.port, "the upstream", &self.log)?);
        Ok(())
    }

    /// SIGKILL, then reaps it: every connection to it ends as the kernel closes them.
    pub(crate) fn kill(&mut self) -> Result<()> {
        kill_owned(&mut self.child)
    }

    /// Has it answer `401` to `token` from now on.
    pub(crate) fn refuse(&self, token: &str) -> Result<()> {
        let reply = self.control.post("/control/refuse", &json!({ "token": token }));
        if reply.status != 204 {
            bail!("the upstream did not take the token to refuse ({})", reply.status);
        }
        Ok(())
    }

    /// `{"answered","refused","open_streams","streams"}` since it last started.
    pub(crate) fn stats(&self) -> Result<Value> {
        let reply = self.control.get("/control/stats");
        if reply.status != 200 {
            bail!("the upstream's stats did not answer ({})", reply.status);
        }
        Ok(reply.body)
    }
}

/// A listener that accepts connections and holds them without reading or writing a byte, for at
/// most five minutes; dropped, it closes them.
#[derive(Debug)]
pub(crate) struct Silent {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    pub(crate) fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let (accepted, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, stopped) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            let started = Instant::now();
            while !stopped.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(300) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        held.push(stream);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Self { port, accepted, stop, thread: Some(thread) })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Connections it accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
