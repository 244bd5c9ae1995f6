//! Developer automation for the Asset Directory: `cargo xtask <command>` (see `help`).
//! Lean on purpose: each command echoes what it runs, so anyone can run the same by hand.

mod bench;
mod browser;
mod chaos;
mod ci;
mod db;
mod deps;
mod e2e;
mod node_packages;
mod python_packages;
mod shell;
mod test;
mod tidy;

use anyhow::{Result, bail};

const USAGE: &str = "\
  test [ARGS…]   every test of the workspace, PostgreSQL and headless Chromium included (ARGS go to cargo test)
  bench [--seconds N]
                 the service against ceilings of the same machine (oha, pgbench); writes docs/benchmarks.md
  bench scale [--scale-rows N]
                 only the scale scenario (default 1,000,000 connections); writes target/bench/scale-results.json
  bench proxy    only the MCP proxy's scenarios (tools/call, 5,000 held streams); writes target/bench/proxy-results.json
  browser        install headless Chromium and chromedriver (apt-get) if missing; `test` does it first
  ci             fmt --check, clippy -D warnings, deps, test, then schemathesis (few examples)
  deps           check the dependency rule of ARCHITECTURE.md
  e2e            the service against the MCP TypeScript SDK's OAuth example (npm install into target/e2e)
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("browser") => browser::ensure(),
        Some("ci") => ci::run(),
        Some("deps") => deps::check(),
        Some("e2e") => e2e::run_e2e(),
        Some("chaos") => chaos::run(&args[1..]),
        Some("db") => db::command(&args[1..]),
        Some("help") | None => {
            eprintln!("usage: cargo xtask <command>\n{USAGE}{}{}", chaos::USAGE, db::USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`; see `cargo xtask help`"),
    }
}
