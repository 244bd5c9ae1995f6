//! The scale scenario (issue 15): the service on PostgreSQL with many connections across many
//! users in 3 tenants, seeded in SQL with `generate_series` after the service's migrations (not
//! over HTTP), at growing sizes from 10,000 rows to `--scale-rows` (1,000,000 by default).
//!
//! At each size: one user's first page of connections and a credential of that user, under the
//! same load as the other scenarios (ratios to `pgbench -S` of the same run), and the refresh
//! scheduler's due-token scan finding nothing (`EXPLAIN ANALYZE`: its time and whether it scans
//! an index, the plan kept in `target/bench/`). At the largest size, complete OAuth flows too,
//! alternately with the same flows on a database of 100 rows (two rounds each, means compared),
//! so that the machine's drift over a run weighs on both sides of that comparison.

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::load::Request;
use super::report::{Row, SCALE_CONNECTIONS, SCALE_CREDENTIALS, SCALE_FLOWS, SCALE_FLOWS_BASE, SCALE_ROUND};
use super::{Run, pg, service};
use crate::shell;

/// Connections per user, so 1,000,000 rows are 100,000 users.
const PER_USER: u64 = 10;
/// The tenants the rows are spread over; the first is the bench's engine key's.
const TENANTS: [&str; 3] = ["default", "scale-b", "scale-c"];
/// The user whose page and credential are measured (tenant `default`: 3 % 3 == 0).
const USER: &str = "user-3";
/// The smallest size measured; each next one is ten times larger, up to the requested rows.
const FIRST_SIZE: u64 = 10_000;

/// `--scale-rows N`: 10,000 to 10,000,000 (default 1,000,000).
pub(crate) fn rows_of(value: &str) -> Result<u64> {
    value.parse().ok().filter(|n| (FIRST_SIZE..=10_000_000).contains(n)).context("--scale-rows: 10000 to 10000000")
}

/// The sizes measured: 10,000, 100,000, … and `rows` last.
fn sizes(rows: u64) -> Vec<u64> {
    let mut out: Vec<u64> =
        std::iter::successors(Some(FIRST_SIZE), |n| Some(n * 10)).take_while(|n| *n < rows).collect();
    out.push(rows);
    out
}

/// Rows of the baseline database the flows at scale are compared with.
const BASELINE_ROWS: u64 = 100;
/// Rounds of flows on each database, alternating.
const FLOW_ROUNDS: usize = 2;

/// Every row of the scenario, without their ceilings yet. `baseline_url` is a fresh database for
/// the flows' baseline.
pub(crate) fn measure(
    run: &Run,
    tools: &pg::Tools,
    (database_url, baseline_url): (&str, &str),
    rows: u64,
) -> Result<Vec<Row>> {
    // The service migrates the fresh database as it starts; the rows go in after.
    let mut service = service::start(run, "postgres", database_url)?;
    let ref_id = own_connection(run, &service)?;
    let mut out = Vec::new();
    let mut seeded = 0;
    for size in sizes(rows) {
        seed(tools, database_url, seeded, size)?;
        seeded = size;
        let reads = [
            (SCALE_CONNECTIONS, "/assets/connections".to_owned()),
            (SCALE_CREDENTIALS, format!("/assets/connections/{ref_id}/credentials")),
        ];
        for (scenario, path) in reads {
            let url = format!("{}{path}", service.base);
            let headers = [("X-Engine-Key", run.engine_key.as_str()), ("X-End-User-Id", USER)];
            let mut row = service::http_scenario(
                run,
                &mut service,
                scenario,
                &Request { url: &url, headers: &headers, body: None },
            )?;
            row.backend = format!("postgres, {size} rows");
            out.push(row);
        }
        out.push(refresh_round(run, tools, database_url, size)?);
    }
    let mut baseline = service::start(run, "postgres-baseline", baseline_url)?;
    seed(tools, baseline_url, 0, BASELINE_ROWS)?;
    let (mut large, mut small) = (Vec::new(), Vec::new());
    for _ in 0..FLOW_ROUNDS {
        small.push(service::flows(run, &mut baseline)?);
        large.push(service::flows(run, &mut service)?);
    }
    for (measured, scenario, size) in [(large, SCALE_FLOWS, rows), (small, SCALE_FLOWS_BASE, BASELINE_ROWS)] {
        let mut mean = measured.iter().skip(1).fold(measured[0].clone(), |sum, row| sum.mean(row));
        mean.scenario = scenario.into();
        mean.backend = format!("postgres, {size} rows");
        out.push(mean);
    }
    Ok(out)
}

/// An API-key connection of [`USER`] made over HTTP, so that its key is sealed as the service
/// seals (the seeded rows' secrets are filler nobody opens).
fn own_connection(run: &Run, service: &service::Service) -> Result<String> {
    let body = json!({"server_name": "keyed", "server_config": {"api_key": "bench-scale-key"}}).to_string();
    let out = shell::read(
        Command::new("curl")
            .args(["-sS", "-X", "POST", "-H", "Content-Type: application/json"])
            .args(["-H", &format!("X-Engine-Key: {}", run.engine_key), "-H", &format!("X-End-User-Id: {USER}")])
            .args(["--data", &body, &format!("{}/assets/connect", service.base)]),
    )?;
    let reply: serde_json::Value = serde_json::from_str(&out).with_context(|| format!("connect answered {out}"))?;
    reply["ref_id"].as_str().map(str::to_owned).with_context(|| format!("connect answered {reply}"))
}

/// Rows `from + 1 ..= to`: user `i % (to / 10)` of tenant `user % 3`; nine in ten API-key
/// connections, one in ten an OAuth connection whose token expires in a day (never due in the
/// run), in one statement.
fn seed(tools: &pg::Tools, url: &str, from: u64, to: u64) -> Result<()> {
    let users = (to / PER_USER).max(1);
    let sql = format!(
        "INSERT INTO connections (ref_id, server_name, transport, auth_method, status, scopes, expires_at, \
           created_at, updated_at, api_key, access_token, refresh_token, tenant_id, user_id) \
         SELECT 'conn-' || translate(lpad(to_hex(i), 26, '0'), '0123456789', 'klmnopqrst'), \
           CASE WHEN i % 10 = 0 THEN 'acme' ELSE 'keyed' END, 'streamable_http', \
           CASE WHEN i % 10 = 0 THEN 'oauth' ELSE 'api_key' END, 'connected', '', \
           CASE WHEN i % 10 = 0 THEN now_s + 86400 END, now_s - i, now_s - i, \
           CASE WHEN i % 10 <> 0 THEN '\\x00'::bytea END, \
           CASE WHEN i % 10 = 0 THEN '\\x00'::bytea END, CASE WHEN i % 10 = 0 THEN '\\x00'::bytea END, \
           (ARRAY['{}', '{}', '{}'])[(i % {users}) % 3 + 1], 'user-' || (i % {users}) \
         FROM generate_series({}, {to}) AS i, (SELECT extract(epoch FROM now())::bigint AS now_s) AS t; \
         ANALYZE connections",
        TENANTS[0],
        TENANTS[1],
        TENANTS[2],
        from + 1,
    );
    eprintln!("bench: seeding connections {} to {to}", from + 1);
    tools.query(url, &sql).map(drop)
}

/// The scheduler's due-token scan (`diesel_store::refresh::due_candidates`, written out: the
/// same predicate, order and limit) under `EXPLAIN ANALYZE`, with a window in which nothing is
/// due: its execution time, and whether the plan scans an index.
fn refresh_round(run: &Run, tools: &pg::Tools, url: &str, size: u64) -> Result<Row> {
    let sql = "EXPLAIN (ANALYZE, BUFFERS) \
        SELECT ref_id FROM connections, (SELECT extract(epoch FROM now())::bigint AS now_s) AS t \
        WHERE (status = 'connected' AND auth_method = 'oauth' AND COALESCE(expires_at, -1) <= now_s + 300) \
          AND (((refresh_token IS NOT NULL OR grant_type = 'client_credentials') AND (expires_at <= now_s + 300 \
                OR (expires_at IS NULL AND updated_at <= now_s - 300))) \
               OR (refresh_token IS NULL AND grant_type <> 'client_credentials' AND expires_at <= now_s)) \
          AND (lease_until IS NULL OR lease_until <= now_s) \
          AND (next_attempt_at IS NULL OR next_attempt_at <= now_s) \
        ORDER BY expires_at IS NULL, expires_at, ref_id LIMIT 50";
    // Once to warm the cache as a running scheduler's rounds keep it, then the measured one.
    tools.query(url, sql)?;
    let plan = tools.query(url, sql)?;
    std::fs::write(run.out.join(format!("scale-refresh-round-{size}.txt")), &plan)?;
    let ms = plan
        .lines()
        .find_map(|l| l.trim().strip_prefix("Execution Time: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    let Some(ms) = ms else { bail!("EXPLAIN ANALYZE printed no execution time:\n{plan}") };
    let index = plan.contains("Index Scan") || plan.contains("Index Only Scan");
    Ok(Row {
        scenario: SCALE_ROUND.into(),
        backend: format!("postgres, {size} rows"),
        p50_ms: Some(ms),
        note: Some(if index { "index scan".into() } else { "no index scan".into() }),
        ..Row::default()
    })
}

#[cfg(test)]
mod tests {
    use super::{rows_of, sizes};

    #[test]
    fn sizes_grow_tenfold_from_ten_thousand_to_the_rows_asked() {
        assert_eq!(sizes(1_000_000), [10_000, 100_000, 1_000_000]);
        assert_eq!(sizes(50_000), [10_000, 50_000]);
        assert_eq!(sizes(10_000), [10_000]);
    }

    #[test]
    fn scale_rows_outside_the_range_are_refused() {
        assert_eq!(rows_of("100000").unwrap(), 100_000);
        assert!(rows_of("9999").is_err() && rows_of("1e6").is_err());
    }
}
