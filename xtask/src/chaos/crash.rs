//! The service killed with SIGKILL while callbacks are in flight and the refresh scheduler
//! refreshes every token every second, then started again on the same database: every
//! connection must end in a state it can leave (pending flows complete or expire; connected
//! ones serve credentials), and no refresh token may be lost (none expired, none reused). On
//! PostgreSQL and on SQLite, where a kill lands in the middle of the writer's batches.

use std::time::Duration;

use anyhow::{Result, bail};

use super::http::Reply;
use super::procs::Service;
use super::{Backend, Outcome, Run, flows};

const ROUNDS: u64 = 5;
const FLOWS_PER_ROUND: usize = 12;
/// How long the authorization server takes over each token request: callbacks and refreshes
/// are in flight that long, so the kills find some half done.
const TOKEN_DELAY_MS: u64 = 150;
const CONNECTED: usize = 10;
/// `OAUTH_FLOW_TTL_SECONDS` here: a pending flow left behind fails after this.
const FLOW_TTL_SECONDS: u64 = 8;

pub(crate) fn service_killed(run: &Run, backend: Backend) -> Result<Outcome> {
    // Tokens live 120 s and are due 3600 s ahead: the scheduler refreshes each one every round.
    let name = match backend {
        Backend::Postgres => "service-kill",
        Backend::Sqlite => "service-kill-sqlite",
    };
    let spec = run
        .service(name, backend)?
        .var("REFRESH_INTERVAL_SECONDS", "1")
        .var("REFRESH_AHEAD_SECONDS", "3600")
        .var("OAUTH_FLOW_TTL_SECONDS", FLOW_TTL_SECONDS.to_string());
    run.auth.set_slow_tokens(120, TOKEN_DELAY_MS)?;
    let outcome = rounds(run, &spec);
    run.auth.set_slow_tokens(3600, 0)?;
    outcome
}

fn rounds(run: &Run, spec: &super::procs::ServiceSpec) -> Result<Outcome> {
    let mut service = Service::start(spec)?;
    let client = run.client(spec, Duration::from_secs(15));
    let mut all: Vec<String> = (0..CONNECTED).map(|_| flows::connect_oauth(&client)).collect::<Result<_>>()?;
    let refreshes_before = run.auth.counter("refreshes")?;
    let (mut completed, mut interrupted, mut retried_ok, mut retried_refused) = (0, 0, 0, 0);
    for round in 0..ROUNDS {
        let pending: Vec<(String, String)> =
            (0..FLOWS_PER_ROUND).map(|_| flows::start_oauth(&client)).collect::<Result<_>>()?;
        all.extend(pending.iter().map(|(r, _)| r.clone()));
        // Let the scheduler get into a round, then send every callback and kill mid-way.
        std::thread::sleep(Duration::from_millis(700));
        let threads: Vec<_> = pending
            .iter()
            .map(|(_, callback)| {
                let (client, callback) = (client.clone(), callback.clone());
                std::thread::spawn(move || client.browse(&callback))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10 + TOKEN_DELAY_MS * round / 3));
        service.kill()?;
        let replies: Vec<Reply> = threads.into_iter().filter_map(|t| t.join().ok()).collect();
        service = Service::start(spec)?;
        for ((_, callback), reply) in pending.iter().zip(&replies) {
            if reply.status == 200 {
                completed += 1;
                continue;
            }
            interrupted += 1;
            // The browser retries once: the flow completes, or its state was spent.
            match client.browse(callback) {
                r if r.status == 200 => retried_ok += 1,
                r if r.status == 400 && r.code() == "INVALID_STATE" => retried_refused += 1,
                r => bail!("a retried callback answered {} {}", r.status, r.body),
            }
        }
    }
    // Past twice the flow TTL (when a flow interrupted after its state was spent gives up) and
    // a few sweeps and scheduler rounds: leftovers must have failed, tokens been refreshed.
    std::thread::sleep(Duration::from_secs(2 * FLOW_TTL_SECONDS + 4));
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    let mut unserved = 0;
    for ref_id in &all {
        let status = flows::status(&client, ref_id)?.unwrap_or_else(|| "gone".into());
        if status == "connected" && flows::credentials(&client, ref_id).status != 200 {
            unserved += 1;
        }
        *by_status.entry(status).or_default() += 1;
    }
    service.stop()?;
    let refreshes = run.auth.counter("refreshes")? - refreshes_before;
    let reuses = run.auth.counter("refresh_reuses")?;
    let stuck =
        by_status.iter().filter(|(s, _)| !matches!(s.as_str(), "connected" | "failed")).map(|(_, n)| n).sum::<usize>();
    let pass = stuck == 0 && unserved == 0 && reuses == 0 && refreshes > 0;
    Ok(Outcome::new(
        pass,
        format!(
            "{ROUNDS} SIGKILLs, {} connections ({CONNECTED} connected first, {FLOWS_PER_ROUND} callbacks per round): \
             {completed} callbacks answered before the kill, {interrupted} interrupted (retried: {retried_ok} completed, \
             {retried_refused} state already spent); final statuses {by_status:?}; {stuck} stuck, {unserved} connected \
             without credentials; {refreshes} refreshes across the kills, {reuses} refresh token(s) reused",
            all.len()
        ),
    ))
}
