//! The processes a bench run starts (the service, the test authorization server, the ceiling
//! handler, the trivial MCP server, the stream holder, the webhook receivers), their ports,
//! readiness, memory and open-file limits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A child process killed (and reaped) when dropped, however the run ends.
#[derive(Debug)]
pub(crate) struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    /// Starts `cmd` with its output appended to `log` (echoed first, with the variables set).
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let vars: Vec<String> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
            .filter(|line| !line.starts_with("ENGINE_API_KEY=") && !line.starts_with("BENCH_ENGINE_KEY="))
            .collect();
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        eprintln!(
            "$ {} {} {} > {}",
            vars.join(" "),
            cmd.get_program().to_string_lossy(),
            args.join(" "),
            log.display()
        );
        let out = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self { name, child })
    }

    /// Starts `cmd` with its standard error appended to `log` and its standard output read line
    /// by line (for a program that reports as it goes).
    pub(crate) fn spawn_reading(
        name: &'static str,
        cmd: &mut Command,
        log: &Path,
    ) -> Result<(Self, mpsc::Receiver<String>)> {
        let err = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        eprintln!("$ {:?} (its output read as it comes; errors in {})", cmd.get_program(), log.display());
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let lines = lines_of(child.stdout.take().context("no standard output")?);
        Ok((Self { name, child }, lines))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has already exited (it then printed why in its log).
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); see its log in target/bench/", self.name);
        }
        Ok(())
    }

    /// Waits until `GET path` on `port` answers 200, for at most 60 s.
    pub(crate) fn wait_ready(&mut self, port: u16, path: &str) -> Result<()> {
        self.wait_until(&format!("answer GET {path} on port {port}"), || {
            http_status(port, path).is_ok_and(|status| status == 200)
        })
    }

    /// Waits until `port` accepts connections, for at most 60 s (a server with no `GET` route).
    pub(crate) fn wait_listening(&mut self, port: u16) -> Result<()> {
        self.wait_until(&format!("listen on port {port}"), || {
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok()
        })
    }

    fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            self.check_alive()?;
            if ready() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("{} did not {what} within 60 s", self.name)
    }

    /// Resident memory now (`VmRSS`) or at its highest since the last reset (`VmHWM`), in MiB.
    pub(crate) fn memory_mib(&self, field: &str) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field}"))?;
        let kib: f64 = line.split_whitespace().nth(1).context("no value")?.parse()?;
        Ok(kib / 1024.0)
    }

    /// The soft limit of the files the process may have open (`ulimit -n`), sockets included.
    pub(crate) fn open_files_limit(&self) -> Result<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid()))?;
        let line = limits.lines().find(|l| l.starts_with("Max open files")).context("no open-files limit")?;
        let soft = line["Max open files".len()..].split_whitespace().next().context("no value")?;
        Ok(if soft == "unlimited" { u64::MAX } else { soft.parse()? })
    }

    /// Resets the high-water mark `VmHWM` to the current resident size (Linux's `clear_refs`
    /// value 5), so the next reading is the peak of what follows. Returns whether it worked.
    pub(crate) fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").context("no free loopback port")?.local_addr()?.port())
}

/// The status of `GET path` on `127.0.0.1:port`, over a bare HTTP/1.1 connection.
fn http_status(port: u16, path: &str) -> Result<u16> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head)?;
    let line = String::from_utf8_lossy(&head);
    Ok(line.split_whitespace().nth(1).context("no status")?.parse()?)
}

/// The lines `from` gives, read on a thread of their own until it ends, so a pipe never fills.
fn lines_of(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Raises this process's soft limit of open files to its hard limit, which the processes it
/// starts inherit: the proxy's stream scenario holds two sockets per stream in the service.
/// Returns the limit now in force.
pub(crate) fn raise_open_files() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current != maximum {
        if let Err(e) = setrlimit(Resource::Nofile, Rlimit { current: maximum, maximum }) {
            eprintln!("bench: cannot raise the open-files limit to the hard limit: {e}");
            return current.unwrap_or(u64::MAX);
        }
    }
    maximum.unwrap_or(u64::MAX)
}

/// Starts the test authorization server (it binds a free port itself) and returns it with its
/// base URL, read from the line it prints at start.
pub(crate) fn auth_server(binary: &Path) -> Result<(Proc, String)> {
    eprintln!("$ {} 2>&1 (base URL read from its first line)", binary.display());
    let mut child = Command::new(binary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the test authorization server")?;
    let stderr = child.stderr.take().context("no standard error")?;
    let proc = Proc { name: "the test authorization server", child };
    // The first line is the one wanted; the rest is drained so the pipe never fills.
    let rx = lines_of(stderr);
    let first = rx.recv_timeout(Duration::from_secs(30)).context("the test authorization server printed nothing")?;
    let url = first
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:"))
        .with_context(|| format!("no base URL in `{first}`"))?;
    Ok((proc, url.to_owned()))
}
