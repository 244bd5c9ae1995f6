//! `cargo xtask test`: every test of the workspace, PostgreSQL and the browser tests included.

use std::process::Command;

use anyhow::Result;

use crate::{browser, db, node_packages, python_packages, shell};

/// Installs headless Chromium if it is missing (see `browser`) and the npm and PyPI packages the
/// tests run (see `node_packages`, `python_packages`), provides PostgreSQL (see `db`), then runs
/// the whole workspace's tests against it. The database xtask started is stopped
/// afterwards, whether the tests pass or not.
pub fn run(extra: &[String]) -> Result<()> {
    browser::ensure()?;
    let node_modules = node_packages::ensure()?;
    let python = python_packages::ensure()?;
    let database = db::ensure_database()?;
    let cargo = || {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.env("AD_TEST_DATABASE_URL", &database.url)
            .env("AD_TEST_NODE_MODULES", &node_modules)
            .env("AD_TEST_PYTHON", &python);
        cmd
    };
    shell::run(cargo().args(["test", "--workspace", "--all-targets", "--no-fail-fast"]).args(extra))?;
    shell::run(cargo().args(["test", "--workspace", "--doc"]))?;
    database.stop()
}
