//! Lifecycle events' webhooks under faults (issue 17), on PostgreSQL, against
//! `bench-support webhook-receiver`: the service killed with SIGKILL while deliveries are in
//! flight, the receiver down for a minute while events are made, and two replicas dispatching
//! from one database. Events come from API-key connections, each made and at once disconnected
//! (`connection.connected`, then `connection.disconnected`, which must not overtake it); the
//! feed (`GET /assets/events`) says which events were made, the receiver's log what arrived.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;

use super::http::Client;
use super::procs::{Service, free_port};
use super::proxy::within;
use super::receiver::{Made, Receiver, Tally};
use super::{Backend, Outcome, Run, flows};

/// Threads that make events at once.
const THREADS: usize = 8;
/// How long every event made may take to arrive once nothing stands in its way.
const ARRIVAL_BOUND: Duration = Duration::from_secs(180);

/// Registers an endpoint at `url` for every event type: its id and its signing secret.
pub(crate) fn register(client: &Client, url: &str) -> Result<(String, String)> {
    let reply = client.post("/assets/webhooks", &json!({ "url": url }));
    let field = |name: &str| reply.body[name].as_str().map(str::to_owned);
    match (reply.status, field("id"), field("secret")) {
        (201, Some(id), Some(secret)) => Ok((id, secret)),
        _ => bail!("registering a webhook answered {} {}", reply.status, reply.body),
    }
}

/// Rotates the signing secret of endpoint `id`: the new secret.
pub(crate) fn rotate(client: &Client, id: &str) -> Result<String> {
    let reply = client.post(&format!("/assets/webhooks/{id}/rotate-secret"), &json!({}));
    match (reply.status, reply.body["secret"].as_str()) {
        (200, Some(secret)) => Ok(secret.to_owned()),
        _ => bail!("rotating a webhook's secret answered {} {}", reply.status, reply.body),
    }
}

/// Every event of the tenant, in the feed's order.
pub(crate) fn feed(client: &Client) -> Result<Vec<Made>> {
    let (mut events, mut after) = (Vec::new(), String::new());
    // Bounded: 200 pages of 500 are far more than any scenario makes.
    for _ in 0..200 {
        let mut path = "/assets/events?limit=500".to_owned();
        if !after.is_empty() {
            path.push_str("&after=");
            path.extend(url::form_urlencoded::byte_serialize(after.as_bytes()));
        }
        let reply = client.get(&path);
        let page = reply.body["events"].as_array().with_context(|| format!("the feed answered {}", reply.status))?;
        if page.is_empty() {
            return Ok(events);
        }
        for event in page {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            let data = &event["data"];
            events.push(Made { id: text(&event["id"]), ref_id: text(&data["ref_id"]), kind: text(&event["type"]) });
        }
        after = reply.body["next_cursor"].as_str().context("no next_cursor")?.to_owned();
    }
    bail!("the feed did not end within 200 pages")
}

/// Makes `connections` API-key connections (keys `{prefix}…`) and disconnects each at once,
/// `THREADS` at a time: thread `t` connects through `clients[t % n]` and disconnects through the
/// next client. Two events per connection.
fn churn(clients: &[Client], connections: usize, prefix: &str) -> Result<()> {
    let per = connections.div_ceil(THREADS);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (maker, remover) = (clients[t % clients.len()].clone(), clients[(t + 1) % clients.len()].clone());
            let (prefix, count) = (format!("{prefix}t{t}n"), per.min(connections.saturating_sub(t * per)));
            std::thread::spawn(move || -> Result<()> {
                for n in 0..count {
                    let ref_id = flows::connect_with_key(&maker, &format!("{prefix}{n}"))?;
                    let gone = remover.delete(&format!("/assets/connections/{ref_id}"));
                    if gone.status != 200 {
                        bail!("a disconnect answered {} {}", gone.status, gone.body);
                    }
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| anyhow!("a thread making events panicked"))??;
    }
    Ok(())
}

/// `ad_webhook_attempts_total{outcome}` of a service's `/metrics`.
fn attempts(client: &Client, outcome: &str) -> u64 {
    let line = format!("ad_webhook_attempts_total{{outcome=\"{outcome}\"}} ");
    let reply = client.get("/metrics");
    reply.body.as_str().and_then(|m| m.lines().find_map(|l| l.strip_prefix(&line)?.trim().parse().ok())).unwrap_or(0)
}

/// Waits until the receiver holds `expected` distinct ids (at most [`ARRIVAL_BOUND`]), then
/// reads the feed: how long it took (`None`: not all came), and the events made.
fn arrival(client: &Client, receiver: &Receiver, expected: usize) -> Result<(Option<Duration>, Vec<Made>)> {
    let took = within(ARRIVAL_BOUND, || receiver.distinct() >= expected);
    // The feed lists an event once every older transaction of the cluster has ended.
    let mut events = Vec::new();
    let listed = within(Duration::from_secs(10), || {
        events = feed(client).unwrap_or_default();
        events.len() >= expected
    });
    if listed.is_none() {
        bail!("the feed lists {} events, {expected} were made", events.len());
    }
    Ok((took, events))
}

/// Waits (a minute at most) until the receiver holds as many ids as the feed lists events; what
/// its log says of them.
pub(crate) fn all_delivered(client: &Client, receiver: &Receiver) -> Result<Tally> {
    within(Duration::from_secs(60), || feed(client).is_ok_and(|events| receiver.distinct() >= events.len()));
    Ok(Tally::of(&feed(client)?, &receiver.received()))
}

/// Deliveries one replica sends at once in `webhooks-kill` (`WEBHOOK_CONCURRENCY`).
const KILL_CONCURRENCY: u32 = 16;
/// How long the receiver of `webhooks-kill` takes to answer: every delivery is in flight that
/// long, so a kill always finds some the receiver has and the service never saw answered.
const KILL_ANSWER_MS: u64 = 500;
/// Connections of `webhooks-kill` and `webhooks-replicas` (two events each).
const MANY: usize = 500;

pub(crate) fn service_killed(run: &Run) -> Result<Outcome> {
    let name = "webhooks-kill";
    let spec = run.service(name, Backend::Postgres)?.var("WEBHOOK_CONCURRENCY", KILL_CONCURRENCY.to_string());
    let mut service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(15));
    let mut receiver = Receiver::new(run, name, KILL_ANSWER_MS)?;
    let (_, secret) = register(&client, &receiver.url())?;
    receiver.start(&secret)?;
    churn(std::slice::from_ref(&client), MANY, &format!("{}whkill", run.secrets.api_key_prefix))?;
    let expected = 2 * MANY;
    // Mid-delivery: some arrived (at least a tenth), not all.
    within(Duration::from_secs(60), || receiver.distinct() >= expected / 10);
    service.kill()?;
    let (at_kill, requests_at_kill) = (receiver.distinct(), receiver.received().len());
    let service = Service::start(&spec)?;
    let (took, events) = arrival(&client, &receiver, expected)?;
    service.stop()?;
    receiver.kill()?;
    let tally = Tally::of(&events, &receiver.received());
    let mid = at_kill > 0 && at_kill < expected;
    let pass = mid && took.is_some() && events.len() == expected && tally.clean();
    Ok(Outcome::new(
        pass,
        format!(
            "{MANY} API-key connections made and disconnected; SIGKILL with {at_kill}/{expected} events received \
             ({requests_at_kill} requests; up to {KILL_CONCURRENCY} in flight, each answered {KILL_ANSWER_MS} ms \
             after it arrived), restarted on the same database: {}; {tally}",
            arrived_after(took, "the restart"),
        ),
    ))
}

/// How long the receiver was down while events were made.
const DOWN_FOR: Duration = Duration::from_secs(60);
/// Batches of connections made while it was down, one every `DOWN_FOR / DOWN_BATCHES`.
const DOWN_BATCHES: u32 = 6;
const DOWN_BATCH: usize = 25;
/// Connections made (and their events seen to arrive) before the receiver goes down.
const BEFORE_DOWN: usize = 10;

pub(crate) fn receiver_down(run: &Run) -> Result<Outcome> {
    let name = "webhooks-down";
    // Retries come at most 10 s apart (after 1, 2, 4, 8 s), so one comes soon after it is back.
    let spec = run
        .service(name, Backend::Postgres)?
        .var("WEBHOOK_BACKOFF_BASE_SECONDS", "1")
        .var("WEBHOOK_BACKOFF_MAX_SECONDS", "10");
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(15));
    let mut receiver = Receiver::new(run, name, 0)?;
    let (_, secret) = register(&client, &receiver.url())?;
    receiver.start(&secret)?;
    let prefix = format!("{}whdown", run.secrets.api_key_prefix);
    churn(std::slice::from_ref(&client), BEFORE_DOWN, &format!("{prefix}up"))?;
    if within(Duration::from_secs(30), || receiver.distinct() >= 2 * BEFORE_DOWN).is_none() {
        bail!("the first {} events did not arrive while the receiver was up", 2 * BEFORE_DOWN);
    }
    receiver.kill()?;
    let down = Instant::now();
    for batch in 1..=DOWN_BATCHES {
        churn(std::slice::from_ref(&client), DOWN_BATCH, &format!("{prefix}b{batch}"))?;
        std::thread::sleep((DOWN_FOR * batch / DOWN_BATCHES).saturating_sub(down.elapsed()));
    }
    let (retried, postponed) = (attempts(&client, "retry"), attempts(&client, "postponed"));
    receiver.restart()?;
    let down_for = down.elapsed();
    let expected = 2 * (BEFORE_DOWN + DOWN_BATCH * DOWN_BATCHES as usize);
    let (took, events) = arrival(&client, &receiver, expected)?;
    let failed = attempts(&client, "failed");
    service.stop()?;
    receiver.kill()?;
    let tally = Tally::of(&events, &receiver.received());
    let pass = took.is_some() && events.len() == expected && tally.clean() && retried > 0 && failed == 0;
    Ok(Outcome::new(
        pass,
        format!(
            "{} events delivered with the receiver up, then the receiver down {:.0} s (connection refused) while {} more were made; \
             {retried} attempts refused and retried, {postponed} held back by the circuit breaker, {failed} given \
             up; back: {}; {tally} (WEBHOOK_BACKOFF_BASE_SECONDS=1, WEBHOOK_BACKOFF_MAX_SECONDS=10)",
            2 * BEFORE_DOWN,
            down_for.as_secs_f64(),
            2 * DOWN_BATCH * DOWN_BATCHES as usize,
            arrived_after(took, "the receiver's restart"),
        ),
    ))
}

pub(crate) fn two_replicas(run: &Run) -> Result<Outcome> {
    let name = "webhooks-replicas";
    // Small batches polled often: both replicas claim again and again while events are made.
    let first = run.service(name, Backend::Postgres)?.var("WEBHOOK_CONCURRENCY", "16").var("WEBHOOK_POLL_MS", "20");
    let port = free_port()?;
    let mut second = first.clone().var("OAUTH_REDIRECT_BASE_URL", format!("http://127.0.0.1:{port}"));
    (second.port, second.name) = (port, format!("{name}-second"));
    let replicas = [Service::start(&first)?, Service::start(&second)?];
    let clients = [run.client(&first, Duration::from_secs(15)), run.client(&second, Duration::from_secs(15))];
    let mut receiver = Receiver::new(run, name, 0)?;
    let (_, secret) = register(&clients[0], &receiver.url())?;
    receiver.start(&secret)?;
    churn(&clients, MANY, &format!("{}whreplicas", run.secrets.api_key_prefix))?;
    let expected = 2 * MANY;
    let (took, events) = arrival(&clients[0], &receiver, expected)?;
    // Room for a second sending of any attempt to show up.
    std::thread::sleep(Duration::from_secs(3));
    let sent = clients.each_ref().map(|c| attempts(c, "delivered"));
    for replica in replicas {
        replica.stop()?;
    }
    receiver.kill()?;
    let tally = Tally::of(&events, &receiver.received());
    let once = tally.requests == expected && tally.duplicates == 0;
    let pass = took.is_some() && events.len() == expected && tally.clean() && once && sent.iter().all(|n| *n > 0);
    Ok(Outcome::new(
        pass,
        format!(
            "two replicas on one database, {MANY} connections made through one and disconnected through the other: \
             {}; delivered by each replica {sent:?}; {tally}",
            arrived_after(took, "the last event made"),
        ),
    ))
}

fn arrived_after(took: Option<Duration>, since: &str) -> String {
    match took {
        Some(took) => format!("all arrived within {:.1} s of {since}", took.as_secs_f64()),
        None => format!("not all arrived within {} s of {since}", ARRIVAL_BOUND.as_secs()),
    }
}
