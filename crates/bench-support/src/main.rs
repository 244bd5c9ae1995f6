//! Bench-only programs that `cargo xtask bench` starts, kept out of xtask so that xtask itself
//! stays quick to build and pulls in no HTTP stack:
//!
//! - `ceiling --listen ADDR`: the trivial actix-web handler whose throughput is the ceiling the
//!   service's cheapest route is compared with (same framework, same default worker count);
//! - `seed --base URL --server NAME --count N`: stores N API-key connections through the public API
//!   and prints the `ref_id` of the last one;
//! - `flows --base URL --server NAME --workers N --seconds S [--rate R]`: complete OAuth flows
//!   (connect, follow `auth_url` to the provider, callback, which makes the service exchange the code)
//!   by N concurrent workers for S seconds, at most R flow starts per second when given; prints one
//!   JSON object with the counts and latencies;
//! - `mcp-upstream --listen ADDR [--every-ms N]`: a trivial MCP server, the far end of the MCP
//!   proxy's scenarios and their ceiling (`tools/call` answered at once, event streams held open);
//! - `streams --url URL [--count N] [--opening N] [--hold S]`: N event streams held open at once
//!   through the proxy; prints one JSON line when they are open and one when they were held;
//! - `connects --base URL --server NAME --rate R --seconds S --log FILE [--workers N]`: API-key
//!   connects at R per second, each logged with when it was sent and answered and its `ref_id`
//!   (the lifecycle events' latency: each announces one event); prints one JSON object;
//! - `webhook-receiver --listen ADDR --log FILE [--secret S] [--delay-ms N]`: a trivial webhook
//!   receiver that logs each delivery (time, id, connection, type, signature verdict), answering
//!   N ms later when asked, for the lifecycle events' bench and chaos scenarios.
//!
//! The engine key comes from `BENCH_ENGINE_KEY` so that it never shows in an echoed command line.
//! Every loop here is bounded in count or time, and every address is the caller's (loopback).

mod ceiling;
mod connects;
mod flows;
mod mcp_upstream;
mod pace;
mod receiver;
mod seed;
mod streams;

use std::collections::HashMap;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args.split_first().context(
        "usage: bench-support <ceiling|seed|flows|connects|mcp-upstream|streams|webhook-receiver> [--name value]…",
    )?;
    let options = Options::parse(rest)?;
    match command.as_str() {
        "ceiling" => ceiling::serve(&options.get("listen")?),
        "seed" => runtime()?.block_on(seed::run(&options)),
        "flows" => runtime()?.block_on(flows::run(&options)),
        "connects" => runtime()?.block_on(connects::run(&options)),
        "mcp-upstream" => mcp_upstream::serve(&options),
        "streams" => runtime()?.block_on(streams::run(&options)),
        "webhook-receiver" => receiver::serve(&options),
        other => bail!("unknown command `{other}`"),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// `--name value` pairs.
#[derive(Debug)]
pub(crate) struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut map = HashMap::new();
        for pair in args.chunks(2) {
            let [name, value] = pair else { bail!("`{}` has no value", pair[0]) };
            let name = name.strip_prefix("--").with_context(|| format!("`{name}` is not an option"))?;
            map.insert(name.to_owned(), value.clone());
        }
        Ok(Self(map))
    }

    pub(crate) fn get(&self, name: &str) -> Result<String> {
        self.0.get(name).cloned().with_context(|| format!("--{name} is required"))
    }

    pub(crate) fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.0.get(name).map(|v| v.parse().map_err(|_| anyhow::anyhow!("--{name} must be a number"))).transpose()
    }

    /// The engine key, from the environment.
    pub(crate) fn engine_key() -> Result<String> {
        std::env::var("BENCH_ENGINE_KEY").context("BENCH_ENGINE_KEY is not set")
    }
}

/// The service a driver calls: a client, its base URL, the catalog server to connect to, and
/// the engine key.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) server: String,
    pub(crate) key: String,
}

impl Target {
    /// `--base` and `--server`, with a client keeping up to `pool` idle connections.
    pub(crate) fn from_options(options: &Options, pool: usize) -> Result<Self> {
        Ok(Self {
            client: client(pool)?,
            base: options.get("base")?,
            server: options.get("server")?,
            key: Options::engine_key()?,
        })
    }
}

/// A client for loopback calls that never follows redirects (the flow follows them by hand).
pub(crate) fn client(pool: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(pool)
        .timeout(std::time::Duration::from_secs(10))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_are_read_as_name_value_pairs() {
        let options = Options::parse(&args(&["--base", "http://127.0.0.1:1", "--count", "7"])).unwrap();
        assert_eq!(options.get("base").unwrap(), "http://127.0.0.1:1");
        assert_eq!(options.number::<u32>("count").unwrap(), Some(7));
        assert_eq!(options.number::<u32>("absent").unwrap(), None);
        assert!(options.get("absent").is_err());
    }

    #[test]
    fn a_name_without_value_or_dashes_and_a_value_that_is_no_number_are_refused() {
        assert!(Options::parse(&args(&["--base"])).is_err());
        assert!(Options::parse(&args(&["base", "x"])).is_err());
        let options = Options::parse(&args(&["--count", "many"])).unwrap();
        assert!(options.number::<u32>("count").is_err());
    }
}
