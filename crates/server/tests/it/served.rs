//! The built binary serving on a free port, as in a container: its log going to a pipe, read
//! line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::helpers::{ENCRYPTION_KEY, ENGINE_KEY};

/// How long to wait for a line the binary is expected to log (a wait, not an assertion on time).
const PATIENCE: Duration = Duration::from_secs(60);

pub struct Served {
    child: Child,
    pub address: String,
    /// What it logged so far that was read.
    seen: Vec<String>,
    lines: Receiver<String>,
    _data: tempfile::TempDir,
}

impl Served {
    /// Starts the binary with the test keys, a database of its own and `extra` variables.
    pub fn start(extra: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", data.path().join("ad.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_asset-directory"))
            .env_clear()
            .envs([
                ("LISTEN_ADDR", "127.0.0.1:0"),
                ("DATABASE_URL", db.as_str()),
                ("AD_DATA_DIR", &data.path().display().to_string()),
                ("ENGINE_API_KEY", ENGINE_KEY),
                ("AD_ENCRYPTION_KEY", ENCRYPTION_KEY),
                ("LOG_FORMAT", "pretty"),
                ("RUST_LOG", "info"),
            ])
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let mut served = Self { child, address: String::new(), seen: Vec::new(), lines, _data: data };
        let listening = served.wait_for("asset directory listening");
        let port = listening.split("port=").nth(1).and_then(|p| p.split_whitespace().next()).unwrap_or_default();
        served.address = format!("127.0.0.1:{port}");
        served
    }

    /// Reads the log until a line (without its escapes) contains `needle`, and returns that line.
    pub fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let Ok(line) = self.lines.recv_timeout(PATIENCE) else {
                panic!("the binary never logged {needle:?}: {:#?}", self.seen);
            };
            let text = without_escapes(&line);
            self.seen.push(line);
            if text.contains(needle) {
                return text;
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the binary and returns everything it logged.
    pub fn stop(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::take(&mut self.seen).into_iter().chain(self.lines.iter()).collect()
    }
}

/// A test that fails half-way leaves no service running.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line as a terminal would show it: without escape sequences.
pub fn without_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            out.push(c);
        }
    }
    out
}
