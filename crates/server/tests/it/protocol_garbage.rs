//! Protocol-level garbage is the client's fault: the built binary, its logs going to a pipe as
//! in a container, is sent bytes no HTTP library would send. Nothing is logged at ERROR, no log
//! line carries an ANSI colour code, and every answer the service itself gives is the contract's
//! JSON (a request actix-http cannot parse is answered by actix-http, before any of our code).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::helpers::{ENCRYPTION_KEY, ENGINE_KEY};
use crate::raw_http::{RawAnswer, exchange};

/// The binary serving on a free port, its standard output read line by line.
struct Served {
    child: Child,
    address: String,
    /// What it logged before it was listening.
    early: Vec<String>,
    lines: Receiver<String>,
    _data: tempfile::TempDir,
}

impl Served {
    fn start() -> Self {
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
        let mut seen = Vec::new();
        let port = loop {
            let line = lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no start: {seen:?}"));
            let text = without_escapes(&line);
            let port = text.split("port=").nth(1).filter(|_| text.contains("asset directory listening"));
            let port = port.map(|p| p.split_whitespace().next().unwrap_or_default().to_owned());
            seen.push(line);
            if let Some(port) = port {
                break port;
            }
        };
        Self { child, address: format!("127.0.0.1:{port}"), early: seen, lines, _data: data }
    }

    /// Stops the binary and returns everything it logged.
    fn stop(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::take(&mut self.early).into_iter().chain(self.lines.iter()).collect()
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
fn without_escapes(line: &str) -> String {
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

fn assert_contract_json(answer: &RawAnswer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("application/json"), "{answer:?}");
    assert_eq!(answer.json()["error"], code, "{answer:?}");
}

/// Requests actix-http refuses while parsing the head: it answers `400` itself.
const UNPARSABLE: &[&[u8]] = &[
    b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\x01b\r\n\r\n",
    b"GET /assets/\xff\xfe HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"POST /assets/connect HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
      Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
];

#[tokio::test]
async fn protocol_garbage_is_logged_below_error_without_colour_codes_and_answered_in_the_contract_where_we_can() {
    let served = Served::start();
    for request in UNPARSABLE {
        let answer = exchange(&served.address, request.to_vec()).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    }
    // What parses as HTTP reaches the service, which answers in the contract's format.
    let close = "Host: localhost\r\nConnection: close";
    let not_utf8_path =
        format!("GET /assets/connections/%FF%FE HTTP/1.1\r\n{close}\r\nX-Engine-Key: {ENGINE_KEY}\r\n\r\n");
    let answer = exchange(&served.address, not_utf8_path.into_bytes()).await;
    assert_contract_json(&answer, 404, "CONNECTION_NOT_FOUND");
    let answer = exchange(&served.address, format!("GET /%FF%FE HTTP/1.1\r\n{close}\r\n\r\n").into_bytes()).await;
    assert_contract_json(&answer, 404, "NOT_FOUND");
    let mut not_utf8_key = format!("GET /assets/servers HTTP/1.1\r\n{close}\r\nX-Engine-Key: ").into_bytes();
    not_utf8_key.extend_from_slice(b"\xff\xfe\r\n\r\n");
    assert_contract_json(&exchange(&served.address, not_utf8_key).await, 401, "INVALID_KEY");

    let logged = served.stop();
    let coloured: Vec<_> = logged.iter().filter(|l| l.contains('\u{1b}')).collect();
    assert!(coloured.is_empty(), "colour codes in logs written to a pipe: {coloured:?}");
    let logged: Vec<String> = logged.iter().map(|l| without_escapes(l)).collect();
    let errors: Vec<_> = logged.iter().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "a client's garbage logged as the service's error: {errors:?}");
    let warned = logged.iter().filter(|l| l.contains(" WARN ") && l.contains("protocol error")).count();
    assert_eq!(warned, UNPARSABLE.len(), "each unparsable request is logged once, at WARN: {logged:#?}");
}
