//! The leak scan: a full run on each backend with the run's distinctive secrets (every route,
//! both callbacks, a refresh, a disconnect, a connection made on the hosted connect page with
//! its session token and browser nonce, connections with no user whose clients prove themselves
//! with the service's signing key, a given client secret and a given private key, and calls
//! through the MCP proxy with the engine key and with proxy tokens, succeeding and failing, and a
//! webhook endpoint whose secret is rotated while every event is delivered to a receiver), then
//! a search of every log line of every service this chaos run started, every response body it
//! received (the answers that carry a secret by contract excepted; `/metrics` included), the
//! SQLite files and a `pg_dump` of every PostgreSQL database, for each secret in plaintext. The
//! proxy tokens and webhook signing secrets searched for are every one an answer handed out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aho_corasick::AhoCorasick;
use anyhow::{Context, Result, bail};
use serde_json::json;

use super::http::Client;
use super::procs::{Service, free_port};
use super::proxy::{self, UP_KEYED, UP_OAUTH, catalog_with};
use super::receiver::Receiver;
use super::upstream::Upstream;
use super::{Backend, Outcome, Run, flows, webhooks};

/// A catalog server behind the proxy with nothing listening at its address.
const UP_DEAD: &str = "up-dead";
/// How every proxy token begins (`app::PROXY_TOKEN_PREFIX`).
const PROXY_TOKEN_PREFIX: &str = "adp_";
/// How every webhook signing secret begins; standard base64 follows.
const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Exercises every route with secrets in play; the hosted page's secrets it made.
fn exercise(run: &Run, backend: Backend) -> Result<flows::PageSecrets> {
    let name = if backend == Backend::Postgres { "leaks-postgres" } else { "leaks-sqlite" };
    let mut up = Upstream::start(run, name)?;
    let (keyed_up, oauth_up) = ((UP_KEYED, flows::KEYED_SERVER, up.url()), (UP_OAUTH, flows::OAUTH_SERVER, up.url()));
    let dead_up = (UP_DEAD, flows::KEYED_SERVER, format!("http://127.0.0.1:{}/mcp", free_port()?));
    let catalog = catalog_with(run, name, flows::leaks_catalog(&run.auth.base), &[keyed_up, oauth_up, dead_up])?;
    let base = &run.auth.base;
    let spec = run
        .service(name, backend)?
        .var("CATALOG_PATH", catalog)
        .var("IDENTITY_PROVIDER_ISSUER", base.clone())
        .var("IDENTITY_PROVIDER_TOKEN_ENDPOINT", format!("{base}/token"))
        .var("IDENTITY_PROVIDER_CLIENT_ID", flows::TENANT_IDP_CLIENT)
        .var("IDENTITY_PROVIDER_CLIENT_SECRET", run.secrets.tenant_idp_client_secret.clone());
    let service = Service::start(&spec)?;
    let client = run.client(&spec, Duration::from_secs(15));
    // Every event of the exercise goes to a receiver, signed with a secret rotated half-way.
    let mut receiver = Receiver::new(run, name, 0)?;
    let (hook, secret) = webhooks::register(&client, &receiver.url())?;
    receiver.start(&secret)?;
    let keyed = flows::connect_with_key(&client, &format!("{}leak", run.secrets.api_key_prefix))?;
    let served = flows::credentials(&client, &keyed);
    run.auth.set_token_lifetime(30)?;
    let by_get = flows::connect_oauth(&client);
    run.auth.set_token_lifetime(3600)?;
    let by_get = by_get?;
    // The token has 30 s left: the credentials call refreshes it first.
    let refreshed = flows::credentials(&client, &by_get);
    let (by_post, callback) = flows::start_oauth(&client)?;
    let query: std::collections::BTreeMap<String, String> =
        url_query(&callback).into_iter().filter(|(k, _)| ["code", "state", "iss"].contains(&k.as_str())).collect();
    let posted = client.post("/assets/callback", &json!(query));
    let denied = client.browse(&format!("{}/assets/oauth/callback?error=access_denied&state=unknown", client.base));
    let on_page = flows::connect_on_page(&client);
    let machines = own_clients(run, &client)?;
    let proxied = through_proxy(run, &client, &up)?;
    let listed = client.get("/assets/connections");
    webhooks::rotate(&client, &hook)?;
    for ref_id in [&keyed, &by_get, &by_post].into_iter().chain(&machines).chain(&proxied) {
        client.get(&format!("/assets/connections/{ref_id}"));
        client.delete(&format!("/assets/connections/{ref_id}"));
    }
    let delivered = webhooks::all_delivered(&client, &receiver)?;
    for path in [
        "/assets/webhooks".to_owned(),
        format!("/assets/webhooks/{hook}"),
        format!("/assets/webhooks/{hook}/deliveries"),
    ] {
        client.get(&path);
    }
    let metrics = client.get("/metrics").status;
    service.stop()?;
    up.kill()?;
    receiver.kill()?;
    if !delivered.clean() || delivered.made == 0 {
        bail!("the webhook deliveries did not all arrive, verified and in order: {delivered}");
    }
    let statuses = [served.status, refreshed.status, posted.status, listed.status, metrics];
    if statuses != [200; 5] || denied.status != 400 {
        bail!("the run did not go through: {statuses:?}, denied callback {}", denied.status);
    }
    on_page
}

/// Connections with no browser whose clients hold secrets: the catalog's, signing with the
/// service key; a custom server's (the authorization server's own origin) with a given secret and
/// with a given private key; and one made with a user's ID token (the server being its own
/// identity provider), whose ID token, ID-JAGs and identity provider secret are in play; each
/// read once.
fn own_clients(run: &Run, client: &Client) -> Result<Vec<String>> {
    let custom = |client_id: &str, credential: serde_json::Value| {
        let mut config = json!({"url": format!("{}/mcp", run.auth.base), "grant_type": "client_credentials", "client_id": client_id});
        if let (Some(config), Some(credential)) = (config.as_object_mut(), credential.as_object()) {
            config.extend(credential.clone());
        }
        json!({"server_name": "chaos-custom", "server_config": config})
    };
    let base = &run.auth.base;
    let assertion = json!({
        "id_token": run.auth.sign_in("chaos-user", flows::IDP_CLIENT)?, "idp_issuer": base,
        "idp_token_endpoint": format!("{base}/token"), "idp_client_id": flows::IDP_CLIENT,
        "idp_client_secret": run.secrets.idp_client_secret,
    });
    let mut enterprise = custom(flows::GIVEN_CLIENT, json!({"client_secret": run.secrets.given_client_secret}));
    enterprise["server_config"]["grant_type"] = json!("identity_assertion");
    enterprise["server_config"]["identity_assertion"] = assertion;
    // Naming no provider: tenant `default`'s configured one.
    let mut tenants = enterprise.clone();
    let id_token = run.auth.sign_in("chaos-tenant-user", flows::TENANT_IDP_CLIENT)?;
    tenants["server_config"]["identity_assertion"] = json!({"id_token": id_token});
    let bodies = [
        json!({"server_name": flows::MACHINE_SERVER}),
        custom(flows::GIVEN_CLIENT, json!({"client_secret": run.secrets.given_client_secret})),
        custom(
            flows::OWN_KEY_CLIENT,
            json!({"private_key_pem": run.secrets.own_client_key, "signing_algorithm": "ES256"}),
        ),
        enterprise,
        tenants,
    ];
    let mut made = Vec::new();
    for body in bodies {
        let reply = client.post("/assets/connect", &body);
        let ref_id = match (reply.status, reply.body["ref_id"].as_str()) {
            (200, Some(ref_id)) if reply.body["status"] == "connected" => ref_id.to_owned(),
            _ => bail!("a connection with its own client did not connect: {} {}", reply.status, reply.body),
        };
        let served = flows::credentials(client, &ref_id);
        if served.status != 200 {
            bail!("its credentials answered {}", served.status);
        }
        made.push(ref_id);
    }
    Ok(made)
}

/// Calls through the MCP proxy with secrets in play, succeeding and failing: an API-key server's
/// and an OAuth server's connections, each called with the engine key and with its proxy token
/// (and that token on the other's route), an event stream read and dropped, the OAuth server
/// refusing the current access token (a refresh and a retry), a server that is down. The
/// connections it made.
fn through_proxy(run: &Run, client: &Client, up: &Upstream) -> Result<Vec<String>> {
    let key = format!("{}proxied", run.secrets.api_key_prefix);
    let keyed = flows::connect_keyed_to(client, UP_KEYED, &key)?;
    let oauth = flows::connect_oauth_to(client, UP_OAUTH)?;
    let dead = flows::connect_keyed_to(client, UP_DEAD, &key)?;
    let mut statuses = Vec::new();
    for (ref_id, other) in [(&keyed, &oauth), (&oauth, &keyed)] {
        let served = flows::credentials(client, ref_id);
        let token = served.body["proxy"]["token"].as_str().context("no proxy token in the credentials")?;
        statuses.push((200, proxy::call(client, ref_id, 1).status));
        statuses.push((200, client.post_as(&proxy::mcp_path(ref_id), token, &proxy::tool_call(2)).status));
        statuses.push((401, client.post_as(&proxy::mcp_path(other), token, &proxy::tool_call(3)).status));
    }
    let mut stream = client
        .open_stream(&proxy::mcp_path(&keyed), Duration::from_secs(10))
        .map_err(|r| anyhow::anyhow!("the stream answered {}", r.status))?;
    std::io::Read::read(&mut stream, &mut [0u8; 512])?;
    drop(stream);
    let access = flows::authorization(&flows::credentials(client, &oauth))
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_owned();
    up.refuse(&access)?;
    statuses.push((200, proxy::call(client, &oauth, 4).status));
    statuses.push((502, proxy::call(client, &dead, 5).status));
    if statuses.iter().any(|(expected, got)| expected != got) {
        bail!("the proxy calls did not go as planned: (expected, got) {statuses:?}");
    }
    Ok(vec![keyed, oauth, dead])
}

/// Every token in `text` that begins with `prefix` and goes on with characters `more` takes.
fn tokens(text: &str, prefix: &str, more: impl Fn(char) -> bool) -> BTreeSet<String> {
    let token = |at: usize| {
        let rest = text[at + prefix.len()..].chars().take_while(|c| more(*c));
        prefix.chars().chain(rest).collect::<String>()
    };
    text.match_indices(prefix).map(|(at, _)| token(at)).collect()
}

/// The query parameters of a URL.
fn url_query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default()
}

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

pub(crate) fn scan(run: &Run) -> Result<Outcome> {
    let on_pages = [exercise(run, Backend::Sqlite)?, exercise(run, Backend::Postgres)?];
    let (bodies, credentials) = run.bodies.finish();

    let mut secrets: Vec<(&str, String)> = run.secrets.all();
    for page in on_pages {
        secrets.push(("connect session token", page.session_token));
        secrets.push(("browser nonce", page.browser_nonce));
    }
    let handed_out = std::fs::read_to_string(run.dir.join("credentials.txt"))?;
    let proxy_tokens = tokens(&handed_out, PROXY_TOKEN_PREFIX, |c| c.is_ascii_alphanumeric() || "-_".contains(c));
    // The key itself, the base64 after the prefix (its padding aside), however it is framed.
    let webhook_secrets: BTreeSet<String> =
        tokens(&handed_out, WEBHOOK_SECRET_PREFIX, |c| c.is_ascii_alphanumeric() || "+/=".contains(c))
            .iter()
            .map(|s| s[WEBHOOK_SECRET_PREFIX.len()..].trim_end_matches('=').to_owned())
            .collect();
    if proxy_tokens.is_empty() || webhook_secrets.len() < 4 {
        bail!("{} proxy tokens and {} webhook secrets handed out, too few", proxy_tokens.len(), webhook_secrets.len());
    }
    secrets.extend(proxy_tokens.iter().map(|t| ("proxy token", t.clone())));
    secrets.extend(webhook_secrets.iter().map(|s| ("webhook signing secret", s.clone())));
    let issued = run.auth.issued()?;
    secrets.extend(issued.iter().map(|t| {
        let kind = match t.split('-').next() {
            Some("at") => "access token",
            Some("rt") => "refresh token",
            _ if t.starts_with("ey") => "id token or client assertion",
            _ => "authorization code",
        };
        (kind, t.clone())
    }));
    let matcher = AhoCorasick::new(secrets.iter().map(|(_, s)| s.as_str())).context("cannot build the matcher")?;

    let mut logs = Vec::new();
    files_under(&run.dir.join("logs"), &|p| p.extension().is_some_and(|e| e == "log"), &mut logs);
    let mut sqlite = Vec::new();
    files_under(&run.dir, &|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".db")), &mut sqlite);
    let databases = run.pg().databases_like("chaos_")?;

    let mut hits = std::collections::BTreeMap::<String, usize>::new();
    let mut bytes = 0usize;
    let mut search = |source: &str, text: &[u8]| {
        bytes += text.len();
        for m in matcher.find_iter(text) {
            *hits.entry(format!("{} in {source}", secrets[m.pattern().as_usize()].0)).or_default() += 1;
        }
    };
    let mut lines = 0;
    for file in &logs {
        let text = std::fs::read(file)?;
        lines += text.iter().filter(|b| **b == b'\n').count();
        search(&file.display().to_string(), &text);
    }
    search("response bodies", &std::fs::read(run.dir.join("bodies.txt"))?);
    // The control: credentials answers carry API keys and access tokens by contract, in the
    // encoding they would leak in. A scan that finds none there would find none anywhere.
    let found: Vec<_> = matcher.find_iter(&std::fs::read(run.dir.join("credentials.txt"))?).collect();
    let control = found.len();
    let control_of = |kind: &str| found.iter().filter(|m| secrets[m.pattern().as_usize()].0 == kind).count();
    let (control_proxy, control_webhooks) = (control_of("proxy token"), control_of("webhook signing secret"));
    for file in &sqlite {
        search(&file.display().to_string(), &std::fs::read(file)?);
    }
    for database in &databases {
        search(&format!("pg_dump {database}"), run.pg().dump(database)?.as_bytes());
    }
    let total: usize = hits.values().sum();
    Ok(Outcome::new(
        total == 0 && control > 0 && control_proxy > 0 && control_webhooks >= webhook_secrets.len(),
        format!(
            "{} secrets ({} issued by the authorization server, {} proxy tokens, {} webhook signing secrets, API \
             keys by prefix) searched in {lines} log lines ({} files), {bodies} response bodies (proxy answers, its \
             errors, webhook reads and /metrics among them), {} SQLite files, {} pg_dumps ({:.1} MiB in all): \
             {total} hits{}; control: {control} found in {credentials} answers that carry a secret by contract, \
             {control_proxy} of them proxy tokens, {control_webhooks} webhook signing secrets",
            secrets.len(),
            issued.len(),
            proxy_tokens.len(),
            webhook_secrets.len(),
            logs.len(),
            sqlite.len(),
            databases.len(),
            bytes as f64 / 1_048_576.0,
            if hits.is_empty() { String::new() } else { format!(" {hits:?}") }
        ),
    ))
}
