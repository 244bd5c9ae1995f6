//! One circuit breaker per authorization server (spec §7), kept in this process's memory: each
//! replica learns on its own that a server is down, which costs at most `threshold` failed
//! calls per replica and needs no coordination.
//!
//! Closed: calls go through; `threshold` transient failures in a row open it. Open: calls are
//! refused until the cool-down has passed; then it is half-open and lets one trial call through
//! (another trial after a further cool-down, should the first never report back). The trial's
//! success closes it; its failure opens it again for a cool-down.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::Timestamp;
use ports::BreakerState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { until: Timestamp },
    HalfOpen { trial_until: Timestamp },
}

#[derive(Debug)]
struct Circuit {
    failures: u32,
    phase: Phase,
}

impl Circuit {
    fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// Whether a call may go to the server now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go ahead; `Some` when this admission changed the breaker's state (to half-open).
    Go(Option<BreakerState>),
    /// The breaker is open (or a trial is under way): do not call.
    Refused,
}

/// The breakers of every authorization server this process has called.
#[derive(Debug)]
pub(crate) struct Breakers {
    threshold: u32,
    cooldown_seconds: i64,
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    pub(crate) fn new(threshold: u32, cooldown_seconds: i64) -> Self {
        Self { threshold: threshold.max(1), cooldown_seconds: cooldown_seconds.max(1), circuits: Mutex::default() }
    }

    fn with<R>(&self, server: &str, f: impl FnOnce(&mut Circuit) -> R) -> R {
        let mut circuits = self.circuits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let circuit = circuits.entry(server.to_owned()).or_insert(Circuit { failures: 0, phase: Phase::Closed });
        f(circuit)
    }

    /// Asks to call `server` at `now`.
    pub(crate) fn admit(&self, server: &str, now: Timestamp) -> Admission {
        let cooldown = self.cooldown_seconds;
        self.with(server, |circuit| match circuit.phase {
            Phase::Closed => Admission::Go(None),
            Phase::Open { until } | Phase::HalfOpen { trial_until: until } if now < until => Admission::Refused,
            Phase::Open { .. } | Phase::HalfOpen { .. } => {
                let changed = matches!(circuit.phase, Phase::Open { .. });
                circuit.phase = Phase::HalfOpen { trial_until: now.plus_seconds(cooldown) };
                Admission::Go(changed.then_some(BreakerState::HalfOpen))
            }
        })
    }

    /// Records how a call admitted earlier ended: `failed` when the server did not answer
    /// (timeout, connection failure, 5xx, 429, garbage). Returns the new state when it changed.
    pub(crate) fn record(&self, server: &str, now: Timestamp, failed: bool) -> Option<BreakerState> {
        let (threshold, cooldown) = (self.threshold, self.cooldown_seconds);
        self.with(server, |circuit| {
            let before = circuit.state();
            if failed {
                circuit.failures = circuit.failures.saturating_add(1);
                let trial_failed = matches!(circuit.phase, Phase::HalfOpen { .. });
                if trial_failed || (circuit.phase == Phase::Closed && circuit.failures >= threshold) {
                    circuit.phase = Phase::Open { until: now.plus_seconds(cooldown) };
                }
            } else {
                circuit.failures = 0;
                circuit.phase = Phase::Closed;
            }
            let after = circuit.state();
            (after != before).then_some(after)
        })
    }

    /// The state of `server`'s breaker (closed for a server never called).
    #[cfg(test)]
    pub(crate) fn state(&self, server: &str) -> BreakerState {
        self.with(server, |circuit| circuit.state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_unix(1_000);
    const AS: &str = "https://as.example/token";

    fn at(seconds: i64) -> Timestamp {
        T.plus_seconds(seconds)
    }

    #[test]
    fn a_breaker_opens_after_the_threshold_of_failures_in_a_row() {
        let breakers = Breakers::new(3, 60);
        assert_eq!(breakers.record(AS, T, true), None);
        assert_eq!(breakers.record(AS, T, true), None);
        assert_eq!(breakers.admit(AS, T), Admission::Go(None), "still closed after two failures");
        assert_eq!(breakers.record(AS, T, true), Some(BreakerState::Open));
        assert_eq!(breakers.admit(AS, at(59)), Admission::Refused);
        assert_eq!(breakers.state(AS), BreakerState::Open);
        assert_eq!(breakers.state("https://other.example/token"), BreakerState::Closed, "one breaker per server");
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let breakers = Breakers::new(3, 60);
        breakers.record(AS, T, true);
        breakers.record(AS, T, true);
        assert_eq!(breakers.record(AS, T, false), None);
        breakers.record(AS, T, true);
        breakers.record(AS, T, true);
        assert_eq!(breakers.state(AS), BreakerState::Closed, "the failures were not in a row");
    }

    #[test]
    fn after_the_cooldown_one_trial_goes_through_and_its_success_closes_the_breaker() {
        let breakers = Breakers::new(1, 60);
        breakers.record(AS, T, true);
        assert_eq!(breakers.admit(AS, at(60)), Admission::Go(Some(BreakerState::HalfOpen)));
        assert_eq!(breakers.admit(AS, at(61)), Admission::Refused, "one trial at a time");
        assert_eq!(breakers.record(AS, at(62), false), Some(BreakerState::Closed));
        assert_eq!(breakers.admit(AS, at(62)), Admission::Go(None));
    }

    #[test]
    fn a_failed_trial_opens_the_breaker_for_another_cooldown() {
        let breakers = Breakers::new(1, 60);
        breakers.record(AS, T, true);
        assert!(matches!(breakers.admit(AS, at(60)), Admission::Go(_)));
        assert_eq!(breakers.record(AS, at(61), true), Some(BreakerState::Open));
        assert_eq!(breakers.admit(AS, at(120)), Admission::Refused);
        assert!(matches!(breakers.admit(AS, at(121)), Admission::Go(Some(BreakerState::HalfOpen))));
    }

    #[test]
    fn a_trial_that_never_reports_back_is_replaced_after_a_cooldown() {
        let breakers = Breakers::new(1, 60);
        breakers.record(AS, T, true);
        assert!(matches!(breakers.admit(AS, at(60)), Admission::Go(_)));
        assert_eq!(breakers.admit(AS, at(119)), Admission::Refused);
        assert_eq!(breakers.admit(AS, at(120)), Admission::Go(None), "a new trial, still half-open");
    }
}
