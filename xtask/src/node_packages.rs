//! The npm packages the tests run (software nobody here wrote), installed by name and exact
//! version into `target/test-packages/node`, so a fresh clone's `cargo xtask test` has them. The
//! tests find them through `AD_TEST_NODE_MODULES`, which `cargo xtask test` sets.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::shell;

/// Each package and its pinned version.
const PACKAGES: &[(&str, &str)] = &[
    // The certified OpenID provider the OAuth client's interoperability tests run against.
    ("oidc-provider", "9.13.3"),
    // The official MCP TypeScript SDK: the MCP server and client of the proxy's tests (issue 16),
    // and the schema library its tools are declared with.
    ("@modelcontextprotocol/sdk", "1.32.2"),
    ("zod", "4.6.7"),
    // The Standard Webhooks reference library: the TypeScript webhook receiver of the lifecycle
    // events' tests and docs example (issue 17).
    ("standardwebhooks", "1.3.0"),
];

/// Where they are installed (`…/node_modules` is what the tests are given).
pub(crate) fn prefix() -> PathBuf {
    shell::test_packages().join("node")
}

/// Installs every package that is missing or at another version; returns the `node_modules`
/// folder that holds them.
pub(crate) fn ensure() -> Result<PathBuf> {
    let prefix = prefix();
    let modules = prefix.join("node_modules");
    let missing: Vec<String> = PACKAGES
        .iter()
        .filter(|(name, version)| installed_version(&modules, name).as_deref() != Some(*version))
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    if !missing.is_empty() {
        std::fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
        shell::run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--save-exact", "--prefix"])
                .arg(&prefix)
                .args(&missing),
        )
        .context("installing the npm packages the tests run (needs node, npm and the npm registry)")?;
    }
    Ok(modules)
}

fn installed_version(modules: &std::path::Path, name: &str) -> Option<String> {
    let manifest = std::fs::read_to_string(modules.join(name).join("package.json")).ok()?;
    let parsed: serde_json::Value = serde_json::from_str(&manifest).ok()?;
    parsed["version"].as_str().map(str::to_owned)
}
