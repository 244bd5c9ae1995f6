//! `cargo xtask test`: every test of the workspace, PostgreSQL included.

use std::process::Command;

use anyhow::Result;

use crate::{db, shell};

/// Provides PostgreSQL (see `db`), then runs the whole workspace's tests against it. The
/// database xtask started is stopped afterwards, whether the tests pass or not.
pub fn run(extra: &[String]) -> Result<()> {
    let database = db::ensure_database()?;
    let cargo = || {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.env("AD_TEST_DATABASE_URL", &database.url);
        cmd
    };
    shell::run(cargo().args(["test", "--workspace", "--all-targets", "--no-fail-fast"]).args(extra))?;
    shell::run(cargo().args(["test", "--workspace", "--doc"]))?;
    database.stop()
}
