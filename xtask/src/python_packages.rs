//! The PyPI packages the tests run (software nobody here wrote), installed by name and exact
//! version into a virtual environment at `target/test-packages/python`, so a fresh clone's
//! `cargo xtask test` has them. The tests find its interpreter through `AD_TEST_PYTHON`, which
//! `cargo xtask test` sets.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::shell;

/// Each package and its pinned version.
const PACKAGES: &[(&str, &str)] = &[
    // The official MCP Python SDK: a client of the proxy's tests (issue 16). 2.x has another API.
    ("mcp", "1.30.0"),
    // The Standard Webhooks reference library: the Python webhook receiver of the lifecycle
    // events' tests and docs example (issue 17).
    ("standardwebhooks", "1.3.0"),
];

/// Makes the virtual environment if it is missing and installs every package that is missing or
/// at another version; returns the environment's `python`.
pub(crate) fn ensure() -> Result<PathBuf> {
    let venv = shell::test_packages().join("python");
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = shell::run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        if made.is_err() {
            // A half-made environment (no pip) would be taken for a good one next time.
            let _ = std::fs::remove_dir_all(&venv);
        }
        made.context(
            "creating a Python virtual environment for the tests (needs python3 with ensurepip: on \
             Debian, `apt-get install python3-venv`)",
        )?;
    }
    let missing: Vec<String> = PACKAGES
        .iter()
        .filter(|(name, version)| installed_version(&python, name).as_deref() != Some(*version))
        .map(|(name, version)| format!("{name}=={version}"))
        .collect();
    if !missing.is_empty() {
        shell::run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .args(&missing),
        )
        .context("installing the PyPI packages the tests run (needs the PyPI registry)")?;
    }
    Ok(python)
}

/// The installed version of `name`, read from its metadata without importing it.
fn installed_version(python: &Path, name: &str) -> Option<String> {
    let script = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))";
    let out = shell::output(Command::new(python).args(["-c", script, name])).ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
