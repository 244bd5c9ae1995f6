//! Lifecycle events end to end (issue 17): webhooks verified by a receiver that nobody here wrote
//! (the Standard Webhooks reference library from PyPI, `tests/fixtures/webhooks/receiver.py`),
//! the feed, and the docs' receiver examples, on the real service.

mod examples;
mod feed;
mod flows;
mod isolation;
mod webhooks;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backends::Backend;
use crate::helpers::{Spawn, TestApp, python};
use crate::postgres::fresh_database_url;

/// Settings that make deliveries quick to watch: the dispatcher looks every 50 ms and retries
/// after about a second.
pub const QUICK: &[(&str, &str)] =
    &[("WEBHOOK_POLL_MS", "50"), ("WEBHOOK_BACKOFF_BASE_SECONDS", "1"), ("WEBHOOK_BACKOFF_MAX_SECONDS", "2")];

/// The service on `backend` with [`QUICK`] settings and `vars` on top.
pub async fn service(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    let mut spawn = QUICK.iter().chain(vars).fold(Spawn::default(), |spawn, (name, value)| spawn.var(name, value));
    if let Backend::Postgres = backend {
        spawn = spawn.var("DATABASE_URL", &fresh_database_url().await);
    }
    spawn.start().await
}

/// Registers an endpoint at `url` taking `events` (all when `None`); its id and secret.
pub async fn register(app: &TestApp, url: &str, events: Option<&[&str]>) -> (String, String) {
    let response = app.post_json("/assets/webhooks", &json!({"url": url, "events": events})).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// Connects the API-key server `keyed` for `user` (the default user when `None`); its ref id.
pub async fn connect_keyed(app: &TestApp, user: Option<&str>) -> String {
    let mut request = app.client.post(app.url("/assets/connect")).header("X-Engine-Key", &app.key);
    if let Some(user) = user {
        request = request.header("X-End-User-Id", user);
    }
    let body = json!({"server_name": "keyed", "server_config": {"api_key": "sk-live-Distinctive-4242"}});
    let response = request.json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["ref_id"].as_str().unwrap().to_owned()
}

/// Disconnects `ref_id` of `user`.
pub async fn disconnect(app: &TestApp, ref_id: &str, user: Option<&str>) {
    let mut request =
        app.client.delete(app.url(&format!("/assets/connections/{ref_id}"))).header("X-Engine-Key", &app.key);
    if let Some(user) = user {
        request = request.header("X-End-User-Id", user);
    }
    assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
}

/// Waits until `done` holds, looking every 100 ms; panics naming `what` after `limit` (a bound
/// on a hang, never a measure of speed).
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks/receiver.py")
}

/// The scripted receiver (`receiver.py`) on a free loopback port; stopped on drop.
pub struct Receiver {
    child: Child,
    _stdin: ChildStdin,
    pub url: String,
    admin: String,
    client: reqwest::Client,
}

impl Receiver {
    pub async fn start() -> Self {
        let mut child = Command::new(python())
            .arg(fixture())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let first = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next()).await.unwrap();
        let started: Value =
            first.and_then(Result::ok).and_then(|l| serde_json::from_str(&l).ok()).expect("receiver.py names its URLs");
        Self {
            url: started["url"].as_str().unwrap().to_owned(),
            admin: started["admin"].as_str().unwrap().to_owned(),
            child,
            _stdin: stdin,
            client: reqwest::Client::new(),
        }
    }

    async fn put(&self, what: &str, value: Value) {
        let response = self.client.put(format!("{}/{what}", self.admin)).json(&value).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// The secrets it verifies with (any one may match).
    pub async fn trust(&self, secrets: &[&str]) {
        self.put("secrets", json!(secrets)).await;
    }

    /// The statuses it answers next, in order, before its default.
    pub async fn script(&self, statuses: &[u16]) {
        self.put("script", json!(statuses)).await;
    }

    /// Seconds it thinks before each answer.
    pub async fn delay(&self, seconds: u64) {
        self.put("delay", json!(seconds)).await;
    }

    /// How many requests it has answered (a slow one counts once its answer is sent).
    pub async fn answered(&self) -> u64 {
        self.client.get(format!("{}/answered", self.admin)).send().await.unwrap().json().await.unwrap()
    }

    /// Every request so far: `{"id","timestamp","signature","verified","error","event","answered"}`.
    pub async fn received(&self) -> Vec<Value> {
        self.client.get(format!("{}/received", self.admin)).send().await.unwrap().json().await.unwrap()
    }

    /// The events it took (answered `2xx` and verified), in arrival order.
    pub async fn taken(&self) -> Vec<Value> {
        let received = self.received().await;
        received
            .into_iter()
            .filter(|r| r["verified"] == true && r["answered"].as_u64().is_some_and(|s| (200..300).contains(&s)))
            .map(|r| r["event"].clone())
            .collect()
    }

    /// Waits until it took `n` events; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        wait_until(Duration::from_secs(30), &format!("{n} verified deliveries"), || async {
            self.taken().await.len() >= n
        })
        .await;
        self.taken().await
    }

    /// Verifies received request `index` again with `secret`, its clock moved `shift_seconds`:
    /// the library's verdict, `Ok` or its error.
    pub async fn check(&self, index: usize, secret: &str, shift_seconds: i64) -> Result<(), String> {
        let asked = json!({"index": index, "secret": secret, "shift_seconds": shift_seconds});
        let verdict: Value =
            self.client.post(format!("{}/check", self.admin)).json(&asked).send().await.unwrap().json().await.unwrap();
        match verdict["ok"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(verdict["error"].as_str().unwrap_or_default().to_owned()),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(type, ref_id)` of each event.
pub fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["data"]["ref_id"].as_str().unwrap().to_owned()))
        .collect()
}
