//! Developer automation for the Asset Directory: `cargo xtask <command>` (see `help`).

mod db;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("db") => db::command(&args[1..]),
        Some("help") | None => {
            eprintln!("usage: cargo xtask <command>\n{}", db::USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`; see `cargo xtask help`"),
    }
}
