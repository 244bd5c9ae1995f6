//! `cargo xtask deps`: the dependency rule of ARCHITECTURE.md, checked on `cargo metadata`.
//!
//! - `domain` depends on nothing that does I/O, async or serialization;
//! - `ports` depends only on `domain` and a few vocabulary crates;
//! - `app` depends on no adapter and no framework;
//! - no adapter depends on another adapter; only `server` (and tests) see them all;
//! - `diesel-store` (what the two stores share) depends on no driver and no runtime, and only
//!   the stores depend on it.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Normal (non-dev) dependencies each layer may have; anything else fails the check.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &["thiserror"]),
    // `bytes` and `futures-core`: the MCP proxy's bodies (`ports::McpUpstream`), vocabulary
    // crates with no I/O and no runtime.
    ("ports", &["domain", "async-trait", "secrecy", "thiserror", "mockall", "bytes", "futures-core"]),
    // `serde`, `serde_json` and `time`: the one JSON form of a lifecycle event (`app::events::payload`),
    // which the feed and the webhook bodies share.
    (
        "app",
        &[
            "domain",
            "ports",
            "secrecy",
            "thiserror",
            "tracing",
            "url",
            "sha2",
            "hex",
            "base64",
            "tokio",
            "bytes",
            "serde",
            "serde_json",
            "time",
        ],
    ),
    ("diesel-store", &["domain", "ports", "diesel"]),
];

/// The crates that may depend on `diesel-store`: it is the stores' shared part, no layer of its own.
const STORES: &[&str] = &["sqlite-adapter", "postgres-adapter"];

const ADAPTERS: &[&str] = &["sqlite-adapter", "postgres-adapter", "oauth-adapter", "crypto-adapter", "actix-api"];

pub fn check() -> Result<()> {
    let deps = workspace_dependencies()?;
    let problems = violations(&deps);
    if problems.is_empty() {
        eprintln!("deps: the dependency rule holds for {} crates", deps.len());
        Ok(())
    } else {
        for p in &problems {
            eprintln!("deps: {p}");
        }
        bail!("{} dependency rule violation(s)", problems.len())
    }
}

/// Package name → names of its normal dependencies, for every workspace member.
fn workspace_dependencies() -> Result<BTreeMap<String, Vec<String>>> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["metadata", "--format-version", "1", "--no-deps"]);
    let output = crate::shell::read(&mut cmd)?;
    let meta: Value = serde_json::from_str(&output).context("cargo metadata printed invalid JSON")?;
    let mut out = BTreeMap::new();
    for package in meta["packages"].as_array().context("no packages in cargo metadata")? {
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        let deps = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        out.insert(name, deps);
    }
    Ok(out)
}

fn violations(deps: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (krate, allowed) in ALLOWED {
        for dep in deps.get(*krate).into_iter().flatten() {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!("`{krate}` must not depend on `{dep}` (allowed: {})", allowed.join(", ")));
            }
        }
    }
    for adapter in ADAPTERS {
        for dep in deps.get(*adapter).into_iter().flatten() {
            if ADAPTERS.contains(&dep.as_str()) {
                problems.push(format!("adapter `{adapter}` must not depend on adapter `{dep}`"));
            }
        }
    }
    for (krate, krate_deps) in deps {
        if krate_deps.iter().any(|d| d == "diesel-store") && !STORES.contains(&krate.as_str()) {
            problems.push(format!("`{krate}` must not depend on `diesel-store` (only {} do)", STORES.join(" and ")));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect()
    }

    #[test]
    fn the_workspace_as_it_is_obeys_the_rule() {
        assert_eq!(violations(&workspace_dependencies().unwrap()), Vec::<String>::new());
    }

    #[test]
    fn a_domain_that_gains_serde_is_caught() {
        let found = violations(&graph(&[("domain", &["thiserror", "serde"])]));
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("`domain` must not depend on `serde`"));
    }

    #[test]
    fn an_adapter_depending_on_another_is_caught() {
        let found = violations(&graph(&[("actix-api", &["sqlite-adapter"]), ("app", &["diesel"])]));
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn a_crate_other_than_a_store_using_the_shared_store_code_is_caught() {
        let found = violations(&graph(&[("app", &["diesel-store"]), ("sqlite-adapter", &["diesel-store"])]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|p| p.contains("`app` must not depend on `diesel-store`")), "{found:?}");
    }

    #[test]
    fn a_shared_store_crate_that_gains_a_driver_is_caught() {
        let found = violations(&graph(&[("diesel-store", &["diesel", "diesel-async"])]));
        assert_eq!(found, vec!["`diesel-store` must not depend on `diesel-async` (allowed: domain, ports, diesel)"]);
    }
}
