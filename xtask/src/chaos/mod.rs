//! `cargo xtask chaos [SCENARIO…]`: the service (release build) against faults and hostile
//! input, each scenario printing PASS or FAIL with its counts; the command fails on any FAIL.
//!
//! One run builds the service, the test authorization server, the MCP server the proxy
//! scenarios hurt (`chaos-upstream`, in `crates/bench-support`) and the webhook receiver the
//! events' scenarios deliver to (`bench-support webhook-receiver`), starts a PostgreSQL cluster of
//! its own in `target/chaos-pg/` (durable, so a crash loses only what was never acknowledged;
//! never the `db up` cluster, which other work may be using), and runs the scenarios one after
//! another, each on a fresh database and a service of its own. Everything is on loopback and
//! every loop is bounded in count and time. Secrets are random and distinctive per run so that
//! the leak scan can look for them in every log line, response body and database file.
//! Results go to standard output and `target/chaos/results.json`; `docs/reliability.md` says
//! what each scenario proves.

mod contention;
mod crash;
mod flows;
mod http;
mod leaks;
mod load;
mod outage;
mod procs;
mod proxy;
mod proxy_streams;
mod receiver;
pub(crate) mod schemathesis;
mod tenants;
mod upstream;
mod webhooks;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::json;

use crate::db::local::Cluster;
use crate::shell;
use http::{BodyLog, Client};
use procs::{AuthServer, ServiceSpec};

/// What `cargo xtask help` prints about `chaos`.
pub const USAGE: &str = "\
  chaos [NAME…]  faults, races, leaks and schemathesis against the release build (docs/reliability.md)
  chaos --ci     what `ci` runs of it: schemathesis on both backends, few examples, debug build
";

/// A scenario's verdict and what it counted.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub pass: bool,
    pub summary: String,
}

impl Outcome {
    pub(crate) fn new(pass: bool, summary: impl Into<String>) -> Self {
        Self { pass, summary: summary.into() }
    }
}

type Scenario = fn(&Run) -> Result<Outcome>;

/// Every scenario, in the order a full run takes them.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("pg-kill", outage::database_killed),
    ("pg-freeze", outage::database_frozen),
    ("pool-exhaustion", contention::pool_exhaustion),
    ("races-postgres", |run| contention::races(run, Backend::Postgres)),
    ("races-sqlite", |run| contention::races(run, Backend::Sqlite)),
    ("service-kill", |run| crash::service_killed(run, Backend::Postgres)),
    ("service-kill-sqlite", |run| crash::service_killed(run, Backend::Sqlite)),
    ("tenant-race", tenants::cross_tenant_race),
    ("schemathesis-sqlite", |run| schemathesis::scenario(run, Backend::Sqlite)),
    ("schemathesis-postgres", |run| schemathesis::scenario(run, Backend::Postgres)),
    ("proxy-streams", proxy_streams::upstream_killed),
    ("proxy-silent", proxy::silent_upstream),
    ("proxy-401", proxy::refused_at_once),
    ("webhooks-kill", webhooks::service_killed),
    ("webhooks-down", webhooks::receiver_down),
    ("webhooks-replicas", webhooks::two_replicas),
    ("leaks", leaks::scan),
];

/// Where a service keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

/// Distinctive secrets of one run: random, alphanumeric, so that no encoding changes them.
#[derive(Debug)]
pub(crate) struct Secrets {
    pub engine_key: String,
    pub encryption_key: String,
    pub client_secret: String,
    /// Every API key the run stores starts with this.
    pub api_key_prefix: String,
    /// The secret of a client given with a custom server's connect.
    pub given_client_secret: String,
    /// The service's client secret at the identity provider of an identity assertion, given with
    /// a connect, and the one tenant `default`'s configured provider holds.
    pub idp_client_secret: String,
    pub tenant_idp_client_secret: String,
    /// The service's signing key (`AD_SIGNING_KEY`) and a custom server's own client's private
    /// key, both PEM, made by the test authorization server, which knows their public halves.
    pub signing_key: String,
    pub own_client_key: String,
}

impl Secrets {
    fn generate() -> Result<Self> {
        let mut bytes = [0u8; 128];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        Ok(Self {
            engine_key: format!("chaosEngineKey{}", hex(&bytes[0..16])),
            encryption_key: base64::engine::general_purpose::URL_SAFE.encode(&bytes[16..48]),
            client_secret: format!("chaosClientSecret{}", hex(&bytes[48..64])),
            api_key_prefix: format!("chaosApiKey{}", hex(&bytes[64..80])),
            given_client_secret: format!("chaosGivenSecret{}", hex(&bytes[80..96])),
            idp_client_secret: format!("chaosIdpSecret{}", hex(&bytes[96..112])),
            tenant_idp_client_secret: format!("chaosTenantIdpSecret{}", hex(&bytes[112..128])),
            signing_key: String::new(),
            own_client_key: String::new(),
        })
    }

    /// The fixed secrets (API keys are found by their prefix).
    pub(crate) fn all(&self) -> Vec<(&'static str, String)> {
        vec![
            ("engine key", self.engine_key.clone()),
            ("encryption key", self.encryption_key.clone()),
            ("client secret", self.client_secret.clone()),
            ("API key", self.api_key_prefix.clone()),
            ("given client secret", self.given_client_secret.clone()),
            ("identity provider client secret", self.idp_client_secret.clone()),
            ("tenant identity provider client secret", self.tenant_idp_client_secret.clone()),
            ("service signing key", pem_body(&self.signing_key)),
            ("own client's private key", pem_body(&self.own_client_key)),
        ]
    }
}

/// The first base64 line of a PEM: what any copy of the key, however escaped, contains.
fn pem_body(pem: &str) -> String {
    pem.lines().find(|l| !l.starts_with("-----")).unwrap_or(pem).to_owned()
}

/// What every scenario shares: the directories, the secrets, the authorization server and the
/// PostgreSQL cluster (stopped when the run ends, however it ends).
#[derive(Debug)]
pub(crate) struct Run {
    pub dir: PathBuf,
    pub secrets: Secrets,
    pub bodies: BodyLog,
    pub auth: AuthServer,
    /// Examples per operation for Schemathesis.
    pub examples: u32,
    binaries: PathBuf,
    pg: Option<Cluster>,
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(cluster) = self.pg.take()
            && let Err(e) = cluster.stop()
        {
            eprintln!("xtask: could not stop the chaos PostgreSQL: {e:#}");
        }
    }
}

impl Run {
    pub(crate) fn pg(&self) -> &Cluster {
        self.pg.as_ref().expect("the cluster lives as long as the run")
    }

    pub(crate) fn binary(&self, name: &str) -> PathBuf {
        self.binaries.join(name)
    }

    /// A service on a fresh database named after the scenario, on a free port, logging at
    /// debug level as JSON into `target/chaos/logs/`.
    pub(crate) fn service(&self, name: &str, backend: Backend) -> Result<ServiceSpec> {
        let data = self.dir.join(name);
        if data.exists() {
            std::fs::remove_dir_all(&data)?;
        }
        std::fs::create_dir_all(&data)?;
        let url = match backend {
            Backend::Postgres => self.pg().recreate_database(&format!("chaos_{}", name.replace('-', "_")))?,
            Backend::Sqlite => format!("sqlite://{}", data.join("ad.db").display()),
        };
        let port = procs::free_port()?;
        let s = &self.secrets;
        let vars = [
            ("DATABASE_URL", url),
            ("DATABASE_TIMEOUT_MS", "1000".to_owned()),
            ("AD_DATA_DIR", data.display().to_string()),
            ("ENGINE_API_KEY", s.engine_key.clone()),
            ("AD_ENCRYPTION_KEY", s.encryption_key.clone()),
            ("AD_SIGNING_KEY", s.signing_key.clone()),
            ("CATALOG_PATH", self.dir.join("catalog.json").display().to_string()),
            ("OAUTH_REDIRECT_BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AD_ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
            ("OUTBOUND_TIMEOUT_MS", "3000".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
            (flows::CLIENT_SECRET_ENV, s.client_secret.clone()),
        ];
        Ok(ServiceSpec {
            binary: self.binary("asset-directory"),
            port,
            vars: vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            log_dir: self.dir.join("logs"),
            name: name.to_owned(),
            netns: None,
        })
    }

    /// A client of the service `spec` starts, with the run's engine key.
    pub(crate) fn client(&self, spec: &ServiceSpec, timeout: Duration) -> Client {
        Client::new(&format!("http://127.0.0.1:{}", spec.port), &self.secrets.engine_key, self.bodies.clone(), timeout)
    }
}

/// Runs the scenarios named in `args` (all when none is named) against the release build.
pub fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--ci") {
        return schemathesis_for_ci();
    }
    let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
    if let Some(unknown) = args.iter().find(|a| !names.contains(&a.as_str())) {
        bail!("unknown scenario `{unknown}`; the scenarios are: {}", names.join(", "));
    }
    let packages = ["-p", "server", "-p", "test-oauth-server", "-p", "bench-support"];
    shell::run(Command::new(env!("CARGO")).args(["build", "--release"]).args(packages))?;
    let examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    execute(&prepare("chaos", "release", examples)?, args)
}

/// For `cargo xtask ci`: Schemathesis on both backends with a few examples per operation,
/// against the debug build (results in `target/chaos-ci/`).
pub fn schemathesis_for_ci() -> Result<()> {
    shell::run(Command::new(env!("CARGO")).args(["build", "-p", "server", "-p", "test-oauth-server"]))?;
    let only = ["schemathesis-sqlite".to_owned(), "schemathesis-postgres".to_owned()];
    execute(&prepare("chaos-ci", "debug", 20)?, &only)
}

fn execute(run: &Run, args: &[String]) -> Result<()> {
    let mut results = Vec::new();
    let mut failed = 0;
    for (name, scenario) in SCENARIOS.iter().filter(|(n, _)| args.is_empty() || args.iter().any(|a| a == n)) {
        eprintln!("xtask chaos: {name}");
        let started = Instant::now();
        let outcome = scenario(run).unwrap_or_else(|e| Outcome::new(false, format!("could not run: {e:#}")));
        let seconds = started.elapsed().as_secs_f64();
        let verdict = if outcome.pass { "PASS" } else { "FAIL" };
        failed += usize::from(!outcome.pass);
        writeln!(std::io::stdout(), "{verdict} {name} ({seconds:.1} s): {}", outcome.summary)?;
        results.push(json!({"scenario": name, "pass": outcome.pass, "seconds": seconds, "summary": outcome.summary}));
    }
    let file = run.dir.join("results.json");
    std::fs::write(&file, serde_json::to_string_pretty(&results)?)?;
    writeln!(std::io::stdout(), "{} passed, {failed} failed", results.len() - failed)?;
    if failed > 0 {
        bail!("{failed} chaos scenario(s) failed; see {}", file.display());
    }
    Ok(())
}

fn prepare(dir: &str, profile: &str, examples: u32) -> Result<Run> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| shell::workspace_root().join("target"), PathBuf::from);
    let dir = target.join(dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("logs"))?;
    shell::survive_ctrl_c();
    let (cluster, _) = Cluster::ensure_in("chaos-pg", true)?;
    let binaries = target.join(profile);
    let rest = (|| {
        let mut secrets = Secrets::generate()?;
        let bodies = BodyLog::create(&dir.join("bodies.txt"), &dir.join("credentials.txt"))?;
        let auth = AuthServer::start(&binaries.join("test-oauth-server"), &secrets.client_secret)?;
        secrets.signing_key = auth.add_keyed_client(flows::SIGNED_CLIENT)?;
        secrets.own_client_key = auth.add_keyed_client(flows::OWN_KEY_CLIENT)?;
        auth.add_client(flows::GIVEN_CLIENT, &secrets.given_client_secret)?;
        auth.add_client(flows::IDP_CLIENT, &secrets.idp_client_secret)?;
        auth.add_client(flows::TENANT_IDP_CLIENT, &secrets.tenant_idp_client_secret)?;
        auth.be_identity_provider(flows::GIVEN_CLIENT)?;
        write_catalog(&dir, &auth.base)?;
        Ok((secrets, bodies, auth))
    })();
    match rest {
        Ok((secrets, bodies, auth)) => Ok(Run { dir, secrets, bodies, auth, examples, binaries, pg: Some(cluster) }),
        Err(e) => {
            // Nothing else holds the cluster yet: stop it here rather than leave it running.
            if let Err(stop) = cluster.stop() {
                eprintln!("xtask: could not stop the chaos PostgreSQL: {stop:#}");
            }
            Err(e)
        }
    }
}

fn write_catalog(dir: &Path, auth_base: &str) -> Result<()> {
    std::fs::write(dir.join("catalog.json"), flows::catalog(auth_base).to_string())?;
    Ok(())
}
