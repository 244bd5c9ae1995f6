//! Stores API-key connections through the public API, as an engine would.

use anyhow::{Context, Result, bail};
use reqwest::Client;
use serde_json::{Value, json};

use crate::Options;

/// `seed --base URL --server NAME --count N`: N sequential connects; prints the last `ref_id`.
pub(crate) async fn run(options: &Options) -> Result<()> {
    let base = options.get("base")?;
    let server = options.get("server")?;
    let count: usize = options.number("count")?.unwrap_or(100);
    let key = Options::engine_key()?;
    let client = crate::client(1)?;
    let mut last = String::new();
    for i in 0..count {
        last = connect(&client, &base, &key, &server, i).await.with_context(|| format!("connect {i}"))?;
    }
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{last}\n").as_bytes())?;
    Ok(())
}

/// One API-key connection to `server` (its key numbered `i`); its `ref_id`.
pub(crate) async fn connect(client: &Client, base: &str, key: &str, server: &str, i: usize) -> Result<String> {
    let body = json!({"server_name": server, "server_config": {"api_key": format!("bench-api-key-{i:04}")}});
    let response = client.post(format!("{base}/assets/connect")).header("X-Engine-Key", key).json(&body).send().await?;
    let status = response.status();
    let answer: Value = response.json().await.context("connect answered no JSON")?;
    if !status.is_success() || answer["status"] != "connected" {
        bail!("connect answered {status}: {}", answer["error"]);
    }
    Ok(answer["ref_id"].as_str().context("connect answered no ref_id")?.to_owned())
}
