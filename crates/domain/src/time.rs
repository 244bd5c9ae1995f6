use std::fmt;

/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// Seconds are all the contract exposes (`expires_at` is RFC 3339 without fractions), and an
/// integer stores and compares identically in SQLite and PostgreSQL.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This instant moved by `seconds` (negative moves back), saturating at the range's ends.
    #[must_use]
    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    /// Seconds from `self` until `later` (negative when `later` is earlier).
    pub const fn seconds_until(self, later: Timestamp) -> i64 {
        later.0.saturating_sub(self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_seconds_saturates_instead_of_overflowing() {
        assert_eq!(Timestamp::from_unix(i64::MAX).plus_seconds(10).unix(), i64::MAX);
        assert_eq!(Timestamp::from_unix(100).plus_seconds(-40).unix(), 60);
    }

    #[test]
    fn seconds_until_is_signed() {
        let a = Timestamp::from_unix(100);
        assert_eq!(a.seconds_until(Timestamp::from_unix(160)), 60);
        assert_eq!(a.seconds_until(Timestamp::from_unix(40)), -60);
    }
}
