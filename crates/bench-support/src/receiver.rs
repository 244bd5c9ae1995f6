//! `webhook-receiver --listen ADDR --log FILE [--secret whsec_…] [--delay-ms N]`: a trivial
//! webhook receiver for the lifecycle events' bench and chaos scenarios. It answers every `POST`
//! with `204` and appends one line per request to FILE, flushed at once so a reader sees progress:
//! `<unix ms received> <webhook-id> <ref_id> <type> <ok|bad|unsigned>`, the last word saying
//! whether a signature verified with the secret (`unsigned` without `--secret`). With
//! `--delay-ms` it answers that long after logging, so a sender killed meanwhile has deliveries
//! the receiver logged and the sender never saw answered (chaos `webhooks-kill`).

use std::fs::{File, OpenOptions};
use std::io::{LineWriter, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, Result};
use serde_json::Value;

use crate::Options;

struct Receiver {
    log: Mutex<LineWriter<File>>,
    secret: Option<String>,
    delay: Duration,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-")
}

async fn receive(req: HttpRequest, body: web::Bytes, receiver: web::Data<Receiver>) -> HttpResponse {
    let received = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let (id, timestamp) = (header(&req, "webhook-id"), header(&req, "webhook-timestamp"));
    let verdict = match &receiver.secret {
        None => "unsigned",
        Some(secret) => {
            let expected = timestamp.parse().ok().and_then(|t| oauth_adapter::sign(secret, id, t, &body));
            let sent = header(&req, "webhook-signature");
            if expected.is_some_and(|e| sent.split(' ').any(|s| s == e)) { "ok" } else { "bad" }
        }
    };
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let word = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let line = format!("{received} {id} {} {} {verdict}\n", word(&event["data"]["ref_id"]), word(&event["type"]));
    let written = receiver.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).write_all(line.as_bytes());
    if written.is_err() {
        return HttpResponse::InternalServerError().finish();
    }
    tokio::time::sleep(receiver.delay).await;
    HttpResponse::NoContent().finish()
}

/// Serves on `--listen` until the process is killed.
pub(crate) fn serve(options: &Options) -> Result<()> {
    let listen = options.get("listen")?;
    let path = options.get("log")?;
    let file = OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {path}"))?;
    let delay = Duration::from_millis(options.number("delay-ms")?.unwrap_or(0));
    let receiver =
        web::Data::new(Receiver { log: Mutex::new(LineWriter::new(file)), secret: options.get("secret").ok(), delay });
    let server =
        HttpServer::new(move || App::new().app_data(receiver.clone()).default_service(web::post().to(receive)))
            .bind(&listen)
            .with_context(|| format!("cannot listen on {listen}"))?
            .run();
    crate::runtime()?.block_on(server)?;
    Ok(())
}
