//! The receivers of `docs/events.md` run as written: each verifies the service's deliveries with
//! the Standard Webhooks library and prints the events it took.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{connect_keyed, register, service};
use crate::backends::Backend;
use crate::helpers::{node_modules, python};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples").join(name)
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Registers the port the example will listen on, starts `command` there with the secret, makes
/// a connection, and answers the first event line the example printed.
async fn first_event_printed_by(mut command: Command) -> Value {
    let app = service(Backend::Sqlite, &[]).await;
    let port = free_port();
    let (_, secret) = register(&app, &format!("http://127.0.0.1:{port}/"), None).await;
    let mut child = command
        .env("PORT", port.to_string())
        .env("WEBHOOK_SECRET", &secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Listening once it says so on stderr; deliveries before that would be retried anyway.
    let listening = tokio::task::spawn_blocking(move || BufReader::new(stderr).lines().next()).await.unwrap();
    assert!(listening.is_some_and(|l| l.is_ok_and(|l| l.contains("listening"))), "the example did not start");
    let ref_id = connect_keyed(&app, None).await;
    let line = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next()).await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let event: Value = serde_json::from_str(&line.expect("a line").expect("text")).expect("a JSON event");
    assert_eq!(event["data"]["ref_id"], ref_id.as_str());
    event
}

#[tokio::test]
async fn the_python_receiver_of_the_events_guide_runs_as_written() {
    let mut command = Command::new(python());
    command.arg(example("webhook_receiver.py"));
    assert_eq!(first_event_printed_by(command).await["type"], "connection.connected");
}

#[tokio::test]
async fn the_typescript_receiver_of_the_events_guide_runs_as_written() {
    // An ES module finds its imports in a `node_modules` beside it: run a copy there.
    let modules = node_modules("standardwebhooks");
    let copy = modules.parent().unwrap().join(format!("webhook_receiver-{}.mjs", std::process::id()));
    std::fs::copy(example("webhook_receiver.mjs"), &copy).unwrap();
    let mut command = Command::new("node");
    command.arg(&copy);
    let event = first_event_printed_by(command).await;
    let _ = std::fs::remove_file(&copy);
    assert_eq!(event["type"], "connection.connected");
}
