//! Exponential backoff with jitter, per connection (spec §7).

use std::hash::{BuildHasher, RandomState};

/// Seconds to wait after the `failures`-th failure in a row: `base · 2^(failures − 1)`, at most
/// `max`, of which the upper half is scaled by `jitter` (in `[0, 1]`) so that connections that
/// failed together do not come back together. At least one second.
pub(crate) fn delay_seconds(failures: u32, base: i64, max: i64, jitter: f64) -> i64 {
    let exponent = failures.saturating_sub(1).min(32);
    let full = base.max(1).saturating_mul(1_i64 << exponent).min(max.max(1));
    let half = full / 2;
    let spread = (full - half) as f64 * jitter.clamp(0.0, 1.0);
    (half + spread.round() as i64).max(1)
}

/// A number in `[0, 1]` from the standard library's randomly keyed hasher: enough to spread
/// retries, and needs no random number crate.
pub(crate) fn jitter() -> f64 {
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_with_each_failure_up_to_the_maximum() {
        let full: Vec<i64> = (1..=8).map(|f| delay_seconds(f, 30, 900, 1.0)).collect();
        assert_eq!(full, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(delay_seconds(u32::MAX, 30, 900, 1.0), 900, "no overflow however many failures");
    }

    #[test]
    fn jitter_spreads_the_delay_over_its_upper_half() {
        assert_eq!(delay_seconds(3, 30, 900, 0.0), 60);
        assert_eq!(delay_seconds(3, 30, 900, 0.5), 90);
        assert_eq!(delay_seconds(3, 30, 900, 1.0), 120);
    }

    #[test]
    fn the_delay_is_never_shorter_than_a_second() {
        assert_eq!(delay_seconds(1, 1, 1, 0.0), 1);
        assert_eq!(delay_seconds(0, 0, 0, 0.0), 1);
    }

    #[test]
    fn jitter_stays_in_the_unit_interval_and_varies() {
        let samples: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..=1.0).contains(j)));
        assert!(samples.windows(2).any(|w| w[0] != w[1]), "not one constant");
    }
}
