//! `cargo xtask deps`: the dependency rule of ARCHITECTURE.md, checked on `cargo metadata`.
//!
//! - `domain` depends on nothing that does I/O, async or serialization;
//! - `ports` depends only on `domain` and a few vocabulary crates;
//! - `app` depends on no adapter and no framework;
//! - no adapter depends on another adapter; only `server` (and tests) see them all.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Normal (non-dev) dependencies each layer may have; anything else fails the check.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &["thiserror"]),
    ("ports", &["domain", "async-trait", "secrecy", "thiserror", "mockall"]),
    ("app", &["domain", "ports", "secrecy", "thiserror", "tracing", "url", "sha2", "hex", "base64", "tokio"]),
];

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
}
