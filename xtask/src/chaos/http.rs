//! The harness's HTTP client: blocking (one thread per simulated client), no redirects followed,
//! a bound on every call, and every response body kept for the leak scan. The credentials
//! answers, the answer that opens a connect session and those that register a webhook endpoint
//! or rotate its secret, the responses that carry a secret by contract, are kept apart: the
//! scan's control, where it must find secrets.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;
use ureq::Agent;

/// One answer, or why there was none.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// `0` when no HTTP answer came (refused, reset, timed out).
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    /// The `Set-Cookie` lines (the hosted connect page's).
    pub set_cookies: Vec<String>,
    pub elapsed: Duration,
}

impl Reply {
    /// The `error` code of a contract error body.
    pub(crate) fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// The value of the cookie `name` the answer sets.
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        let pairs = self.set_cookies.iter().filter_map(|line| line.split(';').next()?.split_once('='));
        pairs.filter(|(n, _)| *n == name).map(|(_, v)| v).next()
    }
}

/// Where bodies are appended: every other body, the credentials answers, and how many of each.
#[derive(Debug)]
struct Sinks {
    bodies: BufWriter<File>,
    credentials: BufWriter<File>,
    counts: (u64, u64),
}

type Sink = Arc<Mutex<Sinks>>;

/// Where response bodies go (shared by every client of a run), or nowhere.
#[derive(Debug, Clone)]
pub(crate) struct BodyLog(Option<Sink>);

impl BodyLog {
    /// Keeps bodies in `bodies`, credentials answers in `credentials`.
    pub(crate) fn create(bodies: &Path, credentials: &Path) -> Result<Self> {
        let open =
            |p: &Path| File::create(p).map(BufWriter::new).with_context(|| format!("cannot create {}", p.display()));
        let sinks = Sinks { bodies: open(bodies)?, credentials: open(credentials)?, counts: (0, 0) };
        Ok(Self(Some(Arc::new(Mutex::new(sinks)))))
    }

    /// Keeps nothing (for the test authorization server's side door, which lists tokens).
    pub(crate) fn discard() -> Self {
        Self(None)
    }

    fn keep(&self, body: &str, credentials: bool) {
        let Some(log) = &self.0 else { return };
        let mut sinks = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A full disk would show up as a scan of fewer bytes, not as a failed request.
        if credentials {
            let _ = writeln!(sinks.credentials, "{body}");
            sinks.counts.1 += 1;
        } else {
            let _ = writeln!(sinks.bodies, "{body}");
            sinks.counts.0 += 1;
        }
    }

    /// Flushes and returns how many bodies were kept: others, credentials answers.
    pub(crate) fn finish(&self) -> (u64, u64) {
        let Some(log) = &self.0 else { return (0, 0) };
        let mut sinks = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = sinks.bodies.flush();
        let _ = sinks.credentials.flush();
        sinks.counts
    }
}

/// A client of one service (base URL and engine key).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    agent: Agent,
    pub base: String,
    key: String,
    bodies: BodyLog,
}

impl Client {
    pub(crate) fn new(base: &str, key: &str, bodies: BodyLog, timeout: Duration) -> Self {
        let config =
            Agent::config_builder().http_status_as_error(false).max_redirects(0).timeout_global(Some(timeout)).build();
        Self { agent: config.into(), base: base.to_owned(), key: key.to_owned(), bodies }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.send("GET", &self.url(path), None)
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", &self.url(path), Some(body))
    }

    pub(crate) fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", &self.url(path), None)
    }

    /// A POST of a JSON body with `Authorization: Bearer {token}` instead of the engine key (an
    /// MCP client given a proxy token).
    pub(crate) fn post_as(&self, path: &str, token: &str, body: &Value) -> Reply {
        let (started, url) = (Instant::now(), self.url(path));
        let request = self.agent.post(&url).header("Authorization", format!("Bearer {token}"));
        let outcome = request.content_type("application/json").send(body.to_string());
        self.reply(&url, started, outcome)
    }

    /// A GET of an event stream with the engine key, bounded by `limit` in all: a `200`'s body to
    /// read as it comes, or the answer (kept like any other) when it is not a `200`.
    pub(crate) fn open_stream(&self, path: &str, limit: Duration) -> Result<ureq::BodyReader<'static>, Box<Reply>> {
        let (started, url) = (Instant::now(), self.url(path));
        let request = self.agent.get(&url).header("X-Engine-Key", &self.key).header("Accept", "text/event-stream");
        match request.config().timeout_global(Some(limit)).build().call() {
            Ok(response) if response.status() == 200 => Ok(response.into_body().into_reader()),
            outcome => Err(Box::new(self.reply(&url, started, outcome))),
        }
    }

    /// A GET of an absolute URL without the engine key (a browser following a redirect).
    pub(crate) fn browse(&self, url: &str) -> Reply {
        let started = Instant::now();
        let outcome = self.agent.get(url).call();
        self.reply(url, started, outcome)
    }

    /// A browser's GET of an absolute URL, sending `cookie` (a `Cookie` header's value).
    pub(crate) fn browse_with(&self, url: &str, cookie: &str) -> Reply {
        let started = Instant::now();
        let outcome = self.agent.get(url).header("Cookie", cookie).call();
        self.reply(url, started, outcome)
    }

    /// A browser's form post to `path`, sending `cookie`.
    pub(crate) fn post_form(&self, path: &str, cookie: &str, form: &str) -> Reply {
        let (started, url) = (Instant::now(), self.url(path));
        let request = self.agent.post(&url).header("Cookie", cookie);
        let outcome = request.content_type("application/x-www-form-urlencoded").send(form.to_owned());
        self.reply(&url, started, outcome)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Reply {
        let started = Instant::now();
        let key = self.key.as_str();
        let outcome = match (method, body) {
            ("POST", Some(b)) => {
                self.agent.post(url).header("X-Engine-Key", key).content_type("application/json").send(b.to_string())
            }
            ("DELETE", _) => self.agent.delete(url).header("X-Engine-Key", key).call(),
            _ => self.agent.get(url).header("X-Engine-Key", key).call(),
        };
        self.reply(url, started, outcome)
    }

    fn reply(
        &self,
        url: &str,
        started: Instant,
        outcome: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Reply {
        let Ok(mut response) = outcome else {
            return Reply {
                status: 0,
                body: Value::Null,
                location: None,
                retry_after: None,
                set_cookies: Vec::new(),
                elapsed: started.elapsed(),
            };
        };
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (location, retry_after) = (header("location"), header("retry-after"));
        let set_cookies = response.headers().get_all("set-cookie").iter();
        let set_cookies = set_cookies.filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let by_contract = match status {
            200 => ["/credentials", "/assets/connect-sessions", "/rotate-secret"].iter().any(|end| url.ends_with(end)),
            201 => url.ends_with("/assets/webhooks"),
            _ => false,
        };
        self.bodies.keep(&text, by_contract);
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, location, retry_after, set_cookies, elapsed: started.elapsed() }
    }
}
