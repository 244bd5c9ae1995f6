//! Many clients at once: a pool of two connections under 64 clients, and 50 identical requests
//! that may each have only one effect (a callback, a disconnect, a refresh), counted at the test
//! authorization server.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use anyhow::Result;

use super::http::{Client, Reply};
use super::load::{Load, quantile_ms, statuses, tally};
use super::procs::Service;
use super::{Backend, Outcome, Run, flows};

const CLIENTS: usize = 64;
const SAME_REQUESTS: usize = 50;

pub(crate) fn pool_exhaustion(run: &Run) -> Result<Outcome> {
    // Every wait for a connection, and every statement, is cut at 25 ms.
    let timeout = Duration::from_millis(25);
    let spec = run
        .service("pool-exhaustion", Backend::Postgres)?
        .var("DATABASE_POOL_SIZE", "2")
        .var("DATABASE_TIMEOUT_MS", timeout.as_millis().to_string());
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(30));
    let prefix = format!("{}pool", run.secrets.api_key_prefix);
    let targets =
        (0..20).map(|i| flows::connect_with_key(&client, &format!("{prefix}{i}"))).collect::<Result<Vec<_>>>()?;
    let load = Load::start(&client, &targets, CLIENTS, 0, &prefix, Duration::ZERO, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    // The two connections alone serve 64 clients without a wait (a statement takes well under a
    // millisecond), so the pool is run dry on purpose: for 3 s, a session outside the service
    // locks the table, every statement on it waits, and the pool has nothing to lend.
    let database = format!("chaos_{}", "pool-exhaustion".replace('-', "_"));
    let mut lock = run.pg().hold_lock(&database, "connections", 3)?;
    std::thread::sleep(Duration::from_secs(6));
    let samples = load.finish();
    lock.wait()?;
    service.stop()?;

    let (ok, down, other) = tally(&samples);
    let without_retry_after = samples.iter().filter(|s| s.reply.status == 503 && s.reply.retry_after.is_none()).count();
    let all: Vec<_> = samples.iter().collect();
    let (p50, p99, max) = (quantile_ms(&all, 0.5), quantile_ms(&all, 0.99), quantile_ms(&all, 1.0));
    // No request may queue for long: a pool wait is cut at the timeout, the rest is CPU time of
    // 64 clients and one service sharing two cores.
    let bound_ms = 1000.0;
    let pass = other == 0 && down > 0 && without_retry_after == 0 && max <= bound_ms;
    Ok(Outcome::new(
        pass,
        format!(
            "pool 2, timeout {} ms, {CLIENTS} clients: {} requests: {ok} × 200, {down} × 503 \
             ({without_retry_after} without Retry-After), {other} other [{}]; latency p50 {p50:.0} ms, \
             p99 {p99:.0} ms, max {max:.0} ms (bound {bound_ms:.0} ms)",
            timeout.as_millis(),
            samples.len(),
            statuses(&samples),
        ),
    ))
}

/// Sends `call` from `SAME_REQUESTS` threads released together.
fn at_once(client: &Client, call: impl Fn(&Client) -> Reply + Send + Sync + 'static) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(SAME_REQUESTS));
    let call = Arc::new(call);
    let threads: Vec<_> = (0..SAME_REQUESTS)
        .map(|_| {
            let (client, barrier, call) = (client.clone(), barrier.clone(), call.clone());
            std::thread::spawn(move || {
                barrier.wait();
                call(&client)
            })
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().ok()).collect()
}

fn count(replies: &[Reply], status: u16, code: &str) -> usize {
    replies.iter().filter(|r| r.status == status && (code.is_empty() || r.code() == code)).count()
}

pub(crate) fn races(run: &Run, backend: Backend) -> Result<Outcome> {
    let name = if backend == Backend::Postgres { "races-postgres" } else { "races-sqlite" };
    // The scheduler leaves alone a token that has 30 s left, so the credentials calls refresh it.
    let spec = run.service(name, backend)?.var("REFRESH_AHEAD_SECONDS", "1");
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(30));
    let auth = &run.auth;

    let (ref_id, callback) = flows::start_oauth(&client)?;
    let exchanges = auth.counter("code_exchanges")?;
    let replies = at_once(&client, move |c| c.browse(&callback));
    let exchanges = auth.counter("code_exchanges")? - exchanges;
    let (won, refused) = (count(&replies, 200, ""), count(&replies, 400, "INVALID_STATE"));
    let connected = flows::status(&client, &ref_id)?.as_deref() == Some("connected");
    let callbacks_ok = won == 1 && refused == SAME_REQUESTS - 1 && exchanges == 1 && connected;

    let victim = flows::connect_oauth(&client)?;
    let revocations = auth.counter("revocations")?;
    let path = format!("/assets/connections/{victim}");
    let replies = at_once(&client, move |c| c.delete(&path));
    let revocations = auth.counter("revocations")? - revocations;
    let (deleted, missing) = (count(&replies, 200, ""), count(&replies, 404, "CONNECTION_NOT_FOUND"));
    let gone = flows::status(&client, &victim)?.is_none();
    // One disconnect revokes the refresh token, then the access token.
    let disconnects_ok = deleted == 1 && missing == SAME_REQUESTS - 1 && revocations == 2 && gone;

    auth.set_token_lifetime(30)?;
    let expiring = flows::connect_oauth(&client);
    auth.set_token_lifetime(3600)?;
    let expiring = expiring?;
    let refreshes = auth.counter("refreshes")?;
    let replies = at_once(&client, move |c| flows::credentials(c, &expiring));
    let refreshes = auth.counter("refreshes")? - refreshes;
    let served = count(&replies, 200, "");
    let tokens: BTreeSet<&str> = replies.iter().filter_map(flows::authorization).collect();
    let refresh_ok = served == SAME_REQUESTS && tokens.len() == 1 && refreshes == 1;
    service.stop()?;

    Ok(Outcome::new(
        callbacks_ok && disconnects_ok && refresh_ok,
        format!(
            "{SAME_REQUESTS} identical callbacks: {won} × 200, {refused} × INVALID_STATE, {exchanges} code exchange(s); \
             {SAME_REQUESTS} disconnects: {deleted} × 200, {missing} × CONNECTION_NOT_FOUND, {revocations} revocation \
             request(s) (2 = refresh + access of one disconnect); {SAME_REQUESTS} credentials on an expiring token: \
             {served} × 200, {} distinct token(s), {refreshes} refresh(es)",
            tokens.len()
        ),
    ))
}
