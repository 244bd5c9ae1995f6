//! The load generator: `oha`, installed by cargo into `target/bench-tools/` on first use, or
//! `wrk` from the system when oha cannot be installed (wrk has no rate limit, so with it the
//! latency at half the peak is not measured).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::shell;

/// The oha release the bench was written against (`BENCH_OHA_VERSION` overrides).
const OHA_VERSION: &str = "1.16.0";

/// Concurrent connections of every HTTP measurement.
pub(crate) const CONNECTIONS: u32 = 32;

#[derive(Debug)]
pub(crate) enum Tool {
    Oha(PathBuf),
    Wrk,
}

/// One measurement: throughput and latency of the successful requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One request to repeat: a `GET`, or a `POST` of `body` when there is one.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

impl Tool {
    /// oha from `target/bench-tools`, installing it first if needed; else wrk when on `PATH`.
    pub(crate) fn find(root: &Path) -> Result<Self> {
        let tools = root.join("target/bench-tools");
        let oha = tools.join("bin/oha");
        if !oha.exists() {
            let version = std::env::var("BENCH_OHA_VERSION").unwrap_or_else(|_| OHA_VERSION.to_owned());
            let installed = shell::run(
                Command::new(env!("CARGO"))
                    .args(["install", "oha", "--locked", "--version", &version, "--root"])
                    .arg(&tools),
            );
            if let Err(e) = installed {
                eprintln!("bench: oha could not be installed ({e:#}); looking for wrk");
                if shell::succeeds(Command::new("which").arg("wrk")) {
                    return Ok(Self::Wrk);
                }
                bail!("neither oha (cargo install failed) nor wrk (`apt-get install -y wrk`) is available");
            }
        }
        Ok(Self::Oha(oha))
    }

    /// How the table names the tool.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Oha(path) => {
                let version = shell::read(Command::new(path).arg("--version")).unwrap_or_default();
                if version.is_empty() { "oha".to_owned() } else { version }
            }
            Self::Wrk => "wrk".to_owned(),
        }
    }

    /// Whether `measure` honours a rate.
    pub(crate) fn limits_rate(&self) -> bool {
        matches!(self, Self::Oha(_))
    }

    /// `seconds` of load on `request` over [`CONNECTIONS`] connections, as fast as possible or
    /// at `rate` requests per second. Fails when any response is not a success: a benchmark of
    /// errors measures nothing.
    pub(crate) fn measure(&self, request: &Request<'_>, seconds: u32, rate: Option<f64>) -> Result<Measured> {
        match self {
            Self::Oha(path) => oha(path, request, seconds, rate),
            Self::Wrk => wrk(request, seconds),
        }
    }
}

fn oha(path: &Path, request: &Request<'_>, seconds: u32, rate: Option<f64>) -> Result<Measured> {
    let mut cmd = Command::new(path);
    cmd.args(["--no-tui", "--output-format", "json", "-z", &format!("{seconds}s")]);
    cmd.args(["-c", &CONNECTIONS.to_string()]);
    if let Some(rate) = rate {
        // Latency from the scheduled start, so a stall is not hidden (coordinated omission).
        cmd.args(["-q", &format!("{:.0}", rate.max(1.0)), "--latency-correction"]);
    }
    for (name, value) in request.headers {
        cmd.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some(body) = request.body {
        cmd.args(["-m", "POST", "-d", body]);
    }
    let out = shell::read(cmd.arg(request.url))?;
    let report: Value = serde_json::from_str(&out).context("oha printed no JSON")?;
    let failures: u64 = report["statusCodeDistribution"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(code, _)| !code.starts_with('2'))
        .filter_map(|(_, n)| n.as_u64())
        .sum::<u64>()
        + report["errorDistribution"]
            .as_object()
            .into_iter()
            .flatten()
            // Requests cut off by the end of the run are not the server's failures.
            .filter(|(error, _)| !error.contains("deadline"))
            .filter_map(|(_, n)| n.as_u64())
            .sum::<u64>();
    if failures > 0 {
        bail!(
            "{failures} requests to {} failed: {} {}",
            request.url,
            report["statusCodeDistribution"],
            report["errorDistribution"]
        );
    }
    let seconds_to_ms = |v: &Value| v.as_f64().map(|s| s * 1000.0).context("oha reported no latency");
    Ok(Measured {
        rps: report["summary"]["requestsPerSec"].as_f64().context("oha reported no requests per second")?,
        p50_ms: seconds_to_ms(&report["latencyPercentiles"]["p50"])?,
        p99_ms: seconds_to_ms(&report["latencyPercentiles"]["p99"])?,
    })
}

fn wrk(request: &Request<'_>, seconds: u32) -> Result<Measured> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "2", "-c", &CONNECTIONS.to_string(), "-d", &format!("{seconds}s"), "--latency"]);
    for (name, value) in request.headers {
        cmd.args(["-H", &format!("{name}: {value}")]);
    }
    let script = request.body.map(wrk_post_script).transpose()?;
    if let Some(script) = &script {
        cmd.arg("-s").arg(script);
    }
    let out = shell::read(cmd.arg(request.url))?;
    if let Some(line) = out.lines().find(|l| l.contains("Non-2xx")) {
        bail!("requests to {} failed: {}", request.url, line.trim());
    }
    let value_after = |label: &str| -> Result<String> {
        let line =
            out.lines().map(str::trim).find(|l| l.starts_with(label)).with_context(|| format!("no `{label}`"))?;
        Ok(line[label.len()..].trim().to_owned())
    };
    Ok(Measured {
        rps: value_after("Requests/sec:")?.parse()?,
        p50_ms: wrk_duration_ms(&value_after("50%")?)?,
        p99_ms: wrk_duration_ms(&value_after("99%")?)?,
    })
}

/// A wrk script that makes every request a `POST` of `body` (wrk takes a method and a body only
/// from a script), written under the system's temporary directory.
fn wrk_post_script(body: &str) -> Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("xtask-bench-post-{}.lua", std::process::id()));
    let quoted = serde_json::to_string(body)?;
    std::fs::write(&path, format!("wrk.method = \"POST\"\nwrk.body = {quoted}\n"))?;
    Ok(path)
}

/// wrk's `635.91us`, `1.04ms`, `2.00s` in milliseconds.
fn wrk_duration_ms(text: &str) -> Result<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).with_context(|| format!("no unit in `{text}`"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        other => bail!("unknown unit `{other}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::wrk_duration_ms;

    #[test]
    fn wrk_durations_are_read_in_every_unit_it_prints() {
        assert_eq!(wrk_duration_ms("500.00us").unwrap(), 0.5);
        assert_eq!(wrk_duration_ms("1.50ms").unwrap(), 1.5);
        assert_eq!(wrk_duration_ms("2.00s").unwrap(), 2000.0);
        assert!(wrk_duration_ms("12").is_err());
    }
}
