//! Logging: pretty lines in development, JSON in production, filtered by `RUST_LOG`. Colour
//! only on a terminal: a file, a pipe or a log collector gets plain text.
//!
//! actix-http logs at ERROR every connection that ended on a protocol error: a request it could
//! not parse (a bad header byte, a non-UTF-8 path, two `Content-Length`s, answered with its own
//! bare `400` before any of our code runs) or a client that went away mid-request. Those are the
//! client's doing, not the service's, so [`ClientFaults`] logs them again at WARN and drops the
//! original: ERROR stays for what an operator must look at.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

/// Where the process writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// Installs the global subscriber, writing to `output`, in colour when that is a terminal and
/// `NO_COLOR` is not set. Call once per process.
pub fn init_to(config: &LogConfig, output: Output) -> Result<(), String> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    match output {
        Output::Stdout => init(config, std::io::stdout, std::io::stdout().is_terminal() && !no_color),
        Output::Stderr => init(config, std::io::stderr, std::io::stderr().is_terminal() && !no_color),
    }
}

/// Installs the global subscriber, writing to `writer`, with ANSI colour codes only when
/// `colour` (and never in JSON). Call once per process.
pub fn init<W>(config: &LogConfig, writer: W, colour: bool) -> Result<(), String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.filter).map_err(|e| format!("RUST_LOG: {e}"))?;
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(colour && !config.json);
    let result = if config.json {
        builder.json().flatten_event(true).finish().with(ClientFaults).try_init()
    } else {
        builder.finish().with(ClientFaults).try_init()
    };
    result.map_err(|e| e.to_string())
}

/// Turns actix-http's ERROR about a connection that ended on a protocol error into a WARN.
struct ClientFaults;

/// The one actix-http event that reports how a connection ended: `stream error: {DispatchError}`.
const ACTIX_DISPATCHER: &str = "actix_http::h1::dispatcher";
const STREAM_ERROR: &str = "stream error: ";

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || meta.target() != ACTIX_DISPATCHER {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let Some(cause) = message.0.strip_prefix(STREAM_ERROR) else { return true };
        // actix-http's descriptions name the fault ("invalid Header provided"), never the bytes.
        tracing::warn!(
            error = cause,
            "a connection ended on a protocol error (a malformed request, or the client left)"
        );
        false
    }
}

/// An event's `message`, as text.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }
}
