//! Complete OAuth flows against the service and its authorization server, as fast as a bounded
//! number of workers can, or at a fixed rate of flow starts. A flow is three dependent requests:
//! `POST /assets/connect`, `GET auth_url` (the provider consents and redirects), and the callback
//! `GET`, during which the service exchanges the code at the provider's token endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::{Options, Target, pace};

/// `flows --base URL --server NAME [--workers N] [--seconds S] [--rate R]`.
pub(crate) async fn run(options: &Options) -> Result<()> {
    let workers: usize = options.number("workers")?.unwrap_or(16).clamp(1, 256);
    let seconds: f64 = options.number("seconds")?.unwrap_or(8.0_f64).clamp(0.5, 60.0);
    let rate: Option<f64> = options.number("rate")?;
    let target = Arc::new(Target::from_options(options, workers)?);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let (outcomes, late) = match rate {
        None => closed_loop(&target, workers, deadline).await?,
        Some(rate) => {
            pace::open_loop(workers, deadline, rate.clamp(0.1, 100_000.0), || {
                let target = Arc::clone(&target);
                async move { timed(&target).await }
            })
            .await?
        }
    };
    pace::report(outcomes, late, started.elapsed())
}

/// `workers` tasks, each starting its next flow when the previous one ends, until the deadline.
async fn closed_loop(target: &Arc<Target>, workers: usize, deadline: Instant) -> Result<(Vec<Outcome>, u64)> {
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let target = Arc::clone(target);
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            while Instant::now() < deadline {
                outcomes.push(timed(&target).await);
            }
            outcomes
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done?);
    }
    Ok((all, 0))
}

type Outcome = Result<Duration, String>;

async fn timed(target: &Target) -> Outcome {
    let start = Instant::now();
    match flow(target).await {
        Ok(()) => Ok(start.elapsed()),
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn flow(t: &Target) -> Result<()> {
    let created = t
        .client
        .post(format!("{}/assets/connect", t.base))
        .header("X-Engine-Key", &t.key)
        .json(&json!({"server_name": t.server}))
        .send()
        .await
        .context("connect")?;
    let created = expect_json(created, StatusCode::OK, "connect").await?;
    let auth_url = created["auth_url"].as_str().context("connect answered no auth_url")?;
    let consent = t.client.get(auth_url).send().await.context("authorize")?;
    if consent.status() != StatusCode::FOUND {
        bail!("the provider answered {} to the authorization request", consent.status());
    }
    let callback = consent.headers().get(header::LOCATION).context("the provider redirected nowhere")?;
    let done = t
        .client
        .get(callback.to_str().context("a redirect that is no text")?)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .context("callback")?;
    let done = expect_json(done, StatusCode::OK, "callback").await?;
    if done["status"] != "connected" {
        bail!("the callback left the connection {}", done["status"]);
    }
    Ok(())
}

async fn expect_json(response: reqwest::Response, expected: StatusCode, step: &str) -> Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{step} answered no JSON ({status})"))?;
    if status != expected {
        bail!("{step} answered {status} {}", body["error"]);
    }
    Ok(body)
}
