//! Headless Chromium for the browser tests (`crates/server/tests/it/browser.rs`): Debian's
//! `chromium` and `chromium-driver`, installed with apt-get when either program is missing, so
//! `cargo xtask test` works on a fresh machine.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::shell;

/// Where the tests look for them (Debian's paths).
const PROGRAMS: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];

/// Installs Chromium and its driver unless both are there already.
pub(crate) fn ensure() -> Result<()> {
    if PROGRAMS.iter().all(|program| Path::new(program).exists()) {
        return Ok(());
    }
    let apt = || {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let why = "installing headless Chromium for the browser tests (as root; or install the Debian \
               packages chromium and chromium-driver by hand)";
    shell::run(apt().arg("update")).context(why)?;
    shell::run(apt().args(["install", "-y", "chromium", "chromium-driver"])).context(why)
}
