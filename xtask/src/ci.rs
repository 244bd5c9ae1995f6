//! `cargo xtask ci`: what CI checks, in the order that fails fastest (Schemathesis, which needs
//! Python and a venv, last).

use std::process::Command;

use anyhow::Result;

use crate::shell;

pub fn run() -> Result<()> {
    let cargo = || Command::new(env!("CARGO"));
    shell::run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    shell::run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    crate::deps::check()?;
    crate::test::run(&[])?;
    crate::chaos::schemathesis_for_ci()
}
