//! Two tenants at once (issue 15): the default tenant and a tenant of a keys file, the same end
//! user in both, each completing OAuth callbacks and disconnecting its connections while the
//! other relays its callbacks and deletes its ref ids, all interleaved. Nothing may cross: the
//! other tenant's every attempt is answered as for something that never existed, every flow
//! completes for its own tenant (none stays pending), every disconnect happens exactly once.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::http::{Client, Reply};
use super::{Backend, Outcome, Run, flows};

/// Flows and connected connections each tenant brings to the race.
const EACH: usize = 8;

/// What one tenant brings: its client, flows waiting for their callback, connections to drop.
struct Side {
    client: Client,
    flows: Vec<(String, String)>,
    connected: Vec<String>,
}

impl Side {
    fn prepare(client: Client) -> Result<Self> {
        let flows = (0..EACH).map(|_| flows::start_oauth(&client)).collect::<Result<Vec<_>>>()?;
        let connected = (0..EACH).map(|_| flows::connect_oauth(&client)).collect::<Result<Vec<_>>>()?;
        Ok(Self { client, flows, connected })
    }

    /// Every ref id this tenant listed.
    fn listed(&self) -> Result<BTreeSet<String>> {
        let reply = self.client.get("/assets/connections");
        let Value::Array(items) = &reply.body else { bail!("the list answered {} {}", reply.status, reply.body) };
        Ok(items.iter().filter_map(|c| c["ref_id"].as_str().map(str::to_owned)).collect())
    }
}

/// The keyed callback body of a browser callback URL (its `state`, `code` and `iss`).
fn relay_of(callback: &str) -> Result<Value> {
    let url = url::Url::parse(callback).context("a callback URL")?;
    let mut body = json!({});
    for (name, value) in url.query_pairs() {
        body[name.as_ref()] = Value::String(value.into_owned());
    }
    Ok(body)
}

/// The hex SHA-256 of `key`, from the service's own `hash-key` command.
fn hash_key(run: &Run, key: &str) -> Result<String> {
    let mut child = Command::new(run.binary("asset-directory"))
        .arg("hash-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("asset-directory hash-key")?;
    child.stdin.take().context("stdin")?.write_all(key.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// One step of the race, by one tenant's thread.
enum Step {
    /// The owner's browser comes back: must connect.
    Callback(String),
    /// The other tenant relays the callback with its key: must be `INVALID_STATE`.
    Relay(Value),
    /// The owner disconnects: must succeed once.
    Disconnect(String),
    /// The other tenant deletes or reads the ref id: must be `CONNECTION_NOT_FOUND`.
    Foreign(String),
}

/// Runs `steps` in order on `client`; each answer that was not what its step expects.
fn play(client: &Client, steps: Vec<Step>) -> Vec<String> {
    let mut wrong = Vec::new();
    for step in steps {
        let (what, reply, ok): (&str, Reply, fn(&Reply) -> bool) = match &step {
            Step::Callback(url) => ("callback", client.browse(url), |r| r.status == 200),
            Step::Relay(body) => {
                ("relay", client.post("/assets/callback", body), |r| r.status == 400 && r.code() == "INVALID_STATE")
            }
            Step::Disconnect(id) => {
                ("disconnect", client.delete(&format!("/assets/connections/{id}")), |r| r.status == 200)
            }
            Step::Foreign(id) => ("foreign", client.delete(&format!("/assets/connections/{id}")), |r| {
                r.status == 404 && r.code() == "CONNECTION_NOT_FOUND"
            }),
        };
        if !ok(&reply) {
            wrong.push(format!("{what}: {} {}", reply.status, reply.code()));
        }
    }
    wrong
}

/// The steps of the thread of `me`, interleaving its own work with attacks on `other`.
fn steps(me: &Side, other: &Side) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for i in 0..EACH {
        steps.push(Step::Relay(relay_of(&other.flows[i].1)?));
        steps.push(Step::Callback(me.flows[i].1.clone()));
        steps.push(Step::Foreign(other.connected[i].clone()));
        steps.push(Step::Disconnect(me.connected[i].clone()));
        steps.push(Step::Foreign(other.flows[i].0.clone()));
    }
    Ok(steps)
}

pub(crate) fn cross_tenant_race(run: &Run) -> Result<Outcome> {
    let rival_key = format!("{}Rival", run.secrets.engine_key);
    let keys = run.dir.join("tenant-race-keys.toml");
    let file = format!("[[tenants]]\nname = \"rival\"\nkeys = [{{ hash = \"{}\" }}]\n", hash_key(run, &rival_key)?);
    std::fs::write(&keys, file)?;
    let spec = run.service("tenant-race", Backend::Postgres)?.var("ENGINE_KEYS_FILE", keys.display().to_string());
    let service = super::procs::Service::start(&spec)?;
    let home = run.client(&spec, Duration::from_secs(30));
    let rival = Client::new(&home.base, &rival_key, run.bodies.clone(), Duration::from_secs(30));
    let sides = [Side::prepare(home)?, Side::prepare(rival)?];
    let revocations = run.auth.counter("revocations")?;
    let plans = [steps(&sides[0], &sides[1])?, steps(&sides[1], &sides[0])?];
    let wrong: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> =
            plans.into_iter().zip(&sides).map(|(plan, side)| scope.spawn(move || play(&side.client, plan))).collect();
        threads.into_iter().flat_map(|t| t.join().unwrap_or_else(|_| vec!["a thread panicked".into()])).collect()
    });
    let revocations = run.auth.counter("revocations")? - revocations;
    let mut stuck = 0;
    let mut misplaced = 0;
    for (side, other) in [(&sides[0], &sides[1]), (&sides[1], &sides[0])] {
        let listed = side.listed()?;
        let expected: BTreeSet<String> = side.flows.iter().map(|(id, _)| id.clone()).collect();
        misplaced += usize::from(listed != expected);
        misplaced += other.flows.iter().filter(|(id, _)| listed.contains(id)).count();
        for (id, _) in &side.flows {
            stuck += usize::from(flows::status(&side.client, id)?.as_deref() != Some("connected"));
        }
    }
    service.stop()?;
    let examples: Vec<&String> = wrong.iter().take(5).collect();
    let wrong = wrong.len();
    // Each tenant's disconnects revoke the refresh token, then the access token.
    let expected_revocations = (2 * 2 * EACH) as u64;
    let pass = wrong == 0 && stuck == 0 && misplaced == 0 && revocations == expected_revocations;
    Ok(Outcome::new(
        pass,
        format!(
            "2 tenants × ({EACH} callbacks, {EACH} disconnects, {EACH} relays and {} deletes of the other's): \
             {wrong} unexpected answer(s) {examples:?}, {stuck} flow(s) not connected, {misplaced} list(s) or \
             row(s) out of place, {revocations} revocation request(s) (expected {expected_revocations})",
            2 * EACH
        ),
    ))
}
