//! Schemathesis (PyPI, installed into a venv under `target/`) against the service's own
//! `/openapi.json`, every check on, with the engine key set: zero server errors and zero answers
//! that break the document are the pass mark.
//!
//! Generated input can name any URL as a custom MCP server, which the service would then probe.
//! So where it can (as root), the service and Schemathesis run in a network namespace of their
//! own that has only loopback: nothing generated can reach another machine. PostgreSQL is then
//! reached over the chaos cluster's Unix socket.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::procs::Service;
use super::{Backend, Outcome, Run};
use crate::shell;

/// The release the pass mark was set with (`SCHEMATHESIS_VERSION` overrides).
const VERSION: &str = "4.32.5";
/// Per-operation settings, each with its reason.
const CONFIG: &str = include_str!("schemathesis.toml");

/// Installs Schemathesis into `target/schemathesis` unless it is there; returns the program.
fn installed(target: &Path) -> Result<PathBuf> {
    let venv = target.join("schemathesis");
    let program = venv.join("bin/schemathesis");
    let version = std::env::var("SCHEMATHESIS_VERSION").unwrap_or_else(|_| VERSION.to_owned());
    let current = shell::read(Command::new(&program).arg("--version")).unwrap_or_default();
    if !current.ends_with(&version) {
        shell::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        shell::run(
            Command::new(venv.join("bin/pip")).args(["install", "--quiet"]).arg(format!("schemathesis=={version}")),
        )?;
    }
    Ok(program)
}

/// A network namespace with only loopback, deleted when dropped.
struct Netns(String);

impl Netns {
    /// `None` where namespaces cannot be made (not root, no `ip`).
    fn create(name: &str) -> Option<Self> {
        let name = format!("ad-{name}-{}", std::process::id());
        if !shell::succeeds(Command::new("ip").args(["netns", "add", &name])) {
            return None;
        }
        let ns = Self(name);
        shell::succeeds(Command::new("ip").args(["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"]))
            .then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        shell::succeeds(Command::new("ip").args(["netns", "delete", &self.0]));
    }
}

/// `tests="…" failures="…" errors="…"` of a JUnit report, summed over its suites.
fn junit_counts(xml: &str) -> (u64, u64, u64) {
    let attr = |tag: &str, name: &str| -> u64 {
        tag.split(&format!(" {name}=\"")).nth(1).and_then(|v| v.split('"').next()?.parse().ok()).unwrap_or(0)
    };
    xml.split("<testsuite ").skip(1).map(|t| t.split('>').next().unwrap_or("")).fold((0, 0, 0), |acc, tag| {
        (acc.0 + attr(tag, "tests"), acc.1 + attr(tag, "failures"), acc.2 + attr(tag, "errors"))
    })
}

pub(crate) fn scenario(run: &Run, backend: Backend) -> Result<Outcome> {
    let name = if backend == Backend::Postgres { "schemathesis-postgres" } else { "schemathesis-sqlite" };
    let program = installed(run.dir.parent().context("target directory")?)?;
    let netns = Netns::create(name);
    let mut spec = run.service(name, backend)?;
    if let Some(ns) = &netns {
        spec.netns = Some(ns.0.clone());
        if backend == Backend::Postgres {
            spec = spec.var("DATABASE_URL", run.pg().socket_url(&format!("chaos_{}", name.replace('-', "_"))));
        }
    } else {
        eprintln!("xtask chaos: no network namespace (not root?): outbound calls are not contained");
    }
    let service = Service::start(&spec)?;
    let report = run.dir.join(name);
    let config = run.dir.join("schemathesis.toml");
    std::fs::write(&config, CONFIG)?;
    let mut cmd = match &netns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &ns.0]).arg(&program);
            cmd
        }
        None => Command::new(&program),
    };
    cmd.arg("--config-file")
        .arg(&config)
        .args(["run", "--checks", "all", "--no-color", "--wait-for-schema", "30"])
        .args(["--max-examples", &run.examples.to_string(), "--seed", "8"])
        .args(["--header", &format!("X-Engine-Key: {}", run.secrets.engine_key)])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .arg(format!("http://127.0.0.1:{}/openapi.json", spec.port));
    let out = shell::output(&mut cmd)?;
    service.stop()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let log = run.dir.join(format!("{name}.txt"));
    std::fs::write(&log, &text)?;
    let junit = std::fs::read_dir(&report)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("junit"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    let (tests, failures, errors) = junit_counts(&junit);
    let server_errors = text.matches("Server error").count();
    let pass = out.status.success() && failures == 0 && errors == 0 && tests > 0;
    let tail: String = if pass { String::new() } else { format!("; see {}", log.display()) };
    Ok(Outcome::new(
        pass,
        format!(
            "{tests} operations × up to {} examples, all checks{}: {failures} failing, {errors} errors, \
             {server_errors} server-error reports{tail}",
            run.examples,
            if netns.is_some() { ", in a loopback-only network namespace" } else { "" }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::junit_counts;

    #[test]
    fn junit_counts_add_up_every_suite() {
        let xml = r#"<testsuites><testsuite name="a" tests="3" failures="1" errors="0"><testcase/></testsuite>
            <testsuite name="b" errors="2" tests="4" failures="0"></testsuite></testsuites>"#;
        assert_eq!(junit_counts(xml), (7, 1, 2));
    }
}
