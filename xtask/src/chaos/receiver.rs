//! The webhook receiver the `webhooks-*` scenarios and the leak scan deliver to:
//! `bench-support webhook-receiver` as a process of its own on a fixed port, which survives its
//! restarts, logging one line per request it received (`<unix ms> <webhook-id> <ref_id> <type>
//! <ok|bad|unsigned>`, in the order received); and what that log says of the events the service
//! made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Result;

use super::Run;
use super::procs::{Owned, free_port, kill_owned, spawn_listening};

/// One request the receiver logged.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub id: String,
    pub ref_id: String,
    pub kind: String,
    /// Whether its signature verified with the receiver's secret.
    pub verified: bool,
}

/// One event the service made, as its feed lists it (in order).
#[derive(Debug, Clone)]
pub(crate) struct Made {
    pub id: String,
    pub ref_id: String,
    pub kind: String,
}

/// `webhook-receiver` on a port picked when it is made: register [`Receiver::url`] first, then
/// start it with the secret the registration answered.
#[derive(Debug)]
pub(crate) struct Receiver {
    child: Option<Owned>,
    port: u16,
    binary: PathBuf,
    log: PathBuf,
    secret: String,
    delay_ms: u64,
}

impl Receiver {
    /// A receiver for scenario `name` that answers `delay_ms` after logging a request; its log is
    /// `logs/<name>-receiver.txt`.
    pub(crate) fn new(run: &Run, name: &str, delay_ms: u64) -> Result<Self> {
        let log = run.dir.join("logs").join(format!("{name}-receiver.txt"));
        if log.exists() {
            std::fs::remove_file(&log)?;
        }
        Ok(Self {
            child: None,
            port: free_port()?,
            binary: run.binary("bench-support"),
            log,
            secret: String::new(),
            delay_ms,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks", self.port)
    }

    /// Starts it, verifying signatures with `secret` from now on.
    pub(crate) fn start(&mut self, secret: &str) -> Result<()> {
        secret.clone_into(&mut self.secret);
        self.restart()
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    pub(crate) fn restart(&mut self) -> Result<()> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(self.log.with_extension("err"))?;
        let mut cmd = Command::new(&self.binary);
        let (listen, log) = (format!("127.0.0.1:{}", self.port), self.log.display().to_string());
        cmd.args(["webhook-receiver", "--listen", &listen, "--log", &log, "--delay-ms", &self.delay_ms.to_string()]);
        // The secret is never echoed: the run's output is no place for it.
        eprintln!(
            "$ {} webhook-receiver --listen {listen} --log {log} --delay-ms {} --secret …",
            self.binary.display(),
            self.delay_ms
        );
        cmd.args(["--secret", &self.secret]);
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        self.child = Some(spawn_listening(cmd, self.port, "the webhook receiver", &self.log)?);
        Ok(())
    }

    /// SIGKILL, then reaps it: from now on a delivery finds the connection refused.
    pub(crate) fn kill(&mut self) -> Result<()> {
        kill_owned(&mut self.child)
    }

    /// Every request logged so far, in the order received.
    pub(crate) fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let parse = |line: &str| {
            let [_, id, ref_id, kind, verdict] = line.split(' ').collect::<Vec<_>>()[..] else { return None };
            Some(Received { id: id.into(), ref_id: ref_id.into(), kind: kind.into(), verified: verdict == "ok" })
        };
        // A line still being written has no newline yet: only whole lines count.
        text.split_inclusive('\n').filter_map(|l| l.strip_suffix('\n')).filter_map(parse).collect()
    }

    /// Distinct webhook-ids received so far.
    pub(crate) fn distinct(&self) -> usize {
        self.received().into_iter().map(|r| r.id).collect::<BTreeSet<_>>().len()
    }
}

/// What the receiver's log says of the events made.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Events the feed lists.
    pub made: usize,
    /// Requests received, and how many of them repeated an id received before.
    pub requests: usize,
    pub duplicates: usize,
    /// Events never received, and ids received that no event has.
    pub missing: usize,
    pub unknown: usize,
    /// Requests whose connection or type is not their event's, and `(ref_id, type)` pairs
    /// received under more than one id: a duplicate that is not a re-send of one event.
    pub mismatched: usize,
    pub split: usize,
    /// Requests whose signature did not verify.
    pub unverified: usize,
    /// Connections whose events first arrived in another order than the feed's.
    pub out_of_order: usize,
}

impl Tally {
    pub(crate) fn of(made: &[Made], received: &[Received]) -> Self {
        let events: BTreeMap<&str, &Made> = made.iter().map(|m| (m.id.as_str(), m)).collect();
        let mut first = BTreeMap::<&str, usize>::new();
        let mut ids_of = BTreeMap::<(&str, &str), BTreeSet<&str>>::new();
        let mut tally = Self { made: made.len(), requests: received.len(), ..Self::default() };
        for (at, r) in received.iter().enumerate() {
            if first.contains_key(r.id.as_str()) {
                tally.duplicates += 1;
            } else {
                first.insert(&r.id, at);
            }
            if events.get(r.id.as_str()).is_some_and(|m| m.ref_id != r.ref_id || m.kind != r.kind) {
                tally.mismatched += 1;
            }
            ids_of.entry((&r.ref_id, &r.kind)).or_default().insert(&r.id);
            tally.unverified += usize::from(!r.verified);
        }
        tally.unknown = first.keys().filter(|id| !events.contains_key(*id)).count();
        tally.missing = made.iter().filter(|m| !first.contains_key(m.id.as_str())).count();
        tally.split = ids_of.values().filter(|ids| ids.len() > 1).count();
        // Per connection, the first arrivals must rise along the feed's order.
        let mut last = BTreeMap::<&str, usize>::new();
        let mut disordered = BTreeSet::<&str>::new();
        for m in made {
            let Some(&at) = first.get(m.id.as_str()) else { continue };
            if last.get(m.ref_id.as_str()).is_some_and(|&before| before > at) {
                disordered.insert(&m.ref_id);
            }
            last.insert(&m.ref_id, at);
        }
        tally.out_of_order = disordered.len();
        tally
    }

    /// Every event received, none unknown, each id one event, all signatures verified, order
    /// per connection held.
    pub(crate) fn clean(&self) -> bool {
        [self.missing, self.unknown, self.mismatched, self.split, self.unverified, self.out_of_order] == [0; 6]
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events, {} requests received ({} repeats of an id already received), {} missing, {} unknown ids, \
             {} requests not matching their event, {} (ref_id, type) under two ids, {} signatures not verified, \
             {} connections out of order",
            self.made,
            self.requests,
            self.duplicates,
            self.missing,
            self.unknown,
            self.mismatched,
            self.split,
            self.unverified,
            self.out_of_order
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(id: &str, ref_id: &str, kind: &str) -> Made {
        Made { id: id.into(), ref_id: ref_id.into(), kind: kind.into() }
    }

    fn got(id: &str, ref_id: &str, kind: &str) -> Received {
        Received { id: id.into(), ref_id: ref_id.into(), kind: kind.into(), verified: true }
    }

    /// Two connections, each connected then disconnected.
    fn events() -> Vec<Made> {
        vec![made("e1", "a", "up"), made("e2", "b", "up"), made("e3", "a", "down"), made("e4", "b", "down")]
    }

    #[test]
    fn a_resent_event_is_counted_as_a_repeat_and_the_log_stays_clean() {
        let log = [got("e1", "a", "up"), got("e2", "b", "up"), got("e1", "a", "up"), got("e3", "a", "down")];
        let log = [&log[..], &[got("e4", "b", "down")]].concat();
        let tally = Tally::of(&events(), &log);
        assert_eq!((tally.requests, tally.duplicates), (5, 1));
        assert!(tally.clean(), "{tally}");
    }

    #[test]
    fn an_event_never_received_is_missing() {
        let log = [got("e1", "a", "up"), got("e2", "b", "up"), got("e3", "a", "down")];
        let tally = Tally::of(&events(), &log);
        assert_eq!(tally.missing, 1);
        assert!(!tally.clean());
    }

    #[test]
    fn one_change_arriving_under_two_ids_is_split_and_the_stranger_unknown() {
        let mut log: Vec<Received> = events().iter().map(|m| got(&m.id, &m.ref_id, &m.kind)).collect();
        log.push(got("e9", "a", "up"));
        let tally = Tally::of(&events(), &log);
        assert_eq!((tally.split, tally.unknown), (1, 1));
        assert!(!tally.clean());
    }

    #[test]
    fn a_request_naming_another_change_than_its_event_is_mismatched() {
        let log = [got("e1", "a", "up"), got("e2", "b", "up"), got("e3", "a", "up"), got("e4", "b", "down")];
        assert_eq!(Tally::of(&events(), &log).mismatched, 1);
    }

    #[test]
    fn a_later_event_arriving_before_an_earlier_one_is_out_of_order_even_when_resent_after() {
        let log = [got("e1", "a", "up"), got("e4", "b", "down"), got("e2", "b", "up"), got("e3", "a", "down")];
        let tally = Tally::of(&events(), &log);
        assert_eq!(tally.out_of_order, 1);
        // A re-send of an earlier event after the later one does not count: its first arrival does.
        let resent = [got("e1", "a", "up"), got("e3", "a", "down"), got("e1", "a", "up")];
        let log = [&resent[..], &[got("e2", "b", "up"), got("e4", "b", "down")]].concat();
        assert_eq!(Tally::of(&events(), &log).out_of_order, 0);
    }

    #[test]
    fn a_signature_that_did_not_verify_is_counted() {
        let mut log: Vec<Received> = events().iter().map(|m| got(&m.id, &m.ref_id, &m.kind)).collect();
        log[2].verified = false;
        let tally = Tally::of(&events(), &log);
        assert_eq!(tally.unverified, 1);
        assert!(!tally.clean());
    }
}
