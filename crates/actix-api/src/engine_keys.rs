//! The engine keys of every tenant, kept only as SHA-256 digests. A presented key is compared
//! with every digest, each in constant time and without stopping at a match, so timing tells
//! neither whether nor which key matched. A previous key stays valid through its own rotation
//! overlap, counted from when this process first held it as previous. The set is replaced as a
//! whole when the keys file is reloaded; requests already past the guard keep their tenant.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use domain::TenantId;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// A previous key and its rotation window, counted from when this process first held it as
/// previous (at start, or at the reload that made it previous).
#[derive(Clone, Copy)]
pub struct KeyRotation {
    pub previous_digest: [u8; 32],
    /// The previous key is accepted this long (`KEY_ROTATION_MIN_OVERLAP_SECONDS`)…
    pub min_overlap: Duration,
    /// …then answers `KEY_ROTATION_PENDING` until this long (`KEY_ROTATION_MAX_OVERLAP_SECONDS`).
    pub max_overlap: Duration,
}

/// Digests are not secrets, but nothing prints them either.
impl fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRotation")
            .field("min_overlap", &self.min_overlap)
            .field("max_overlap", &self.max_overlap)
            .finish_non_exhaustive()
    }
}

/// One tenant's keys: the current ones, and the previous ones being retired.
#[derive(Clone)]
pub struct TenantKeys {
    pub tenant: TenantId,
    pub current: Vec<[u8; 32]>,
    pub previous: Vec<KeyRotation>,
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantKeys")
            .field("tenant", &self.tenant)
            .field("current", &self.current.len())
            .field("previous", &self.previous.len())
            .finish()
    }
}

/// One accepted digest and whose it is.
struct Entry {
    tenant: TenantId,
    digest: [u8; 32],
    retiring: Option<Retiring>,
}

#[derive(Clone, Copy)]
struct Retiring {
    min_overlap: Duration,
    max_overlap: Duration,
    since: Instant,
}

/// The accepted engine keys of every tenant, as digests only. Every digest is distinct (the
/// loader refuses a file that repeats one).
pub struct EngineKeys {
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl fmt::Debug for EngineKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineKeys").field("keys", &self.snapshot().len()).finish_non_exhaustive()
    }
}

/// The outcome of checking a presented key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    Accepted(TenantId),
    /// A previous key of this tenant, past its minimum overlap.
    RotationPending(TenantId),
    Invalid,
}

impl EngineKeys {
    /// Tenant `default` alone, with one key and perhaps a previous one (the single-key
    /// variables).
    pub fn new(current_digest: [u8; 32], rotation: Option<KeyRotation>) -> Self {
        let default = TenantKeys {
            tenant: TenantId::default_tenant(),
            current: vec![current_digest],
            previous: rotation.into_iter().collect(),
        };
        Self::of_tenants(vec![default])
    }

    /// Every tenant's keys; previous keys start their overlap now.
    pub fn of_tenants(tenants: Vec<TenantKeys>) -> Self {
        Self::of_tenants_at(tenants, Instant::now())
    }

    fn of_tenants_at(tenants: Vec<TenantKeys>, now: Instant) -> Self {
        Self { entries: RwLock::new(Arc::new(entries(tenants, &[], now))) }
    }

    /// Replaces every key at once. A previous key this set already held as previous keeps
    /// counting its overlap from then, so a reload does not restart a rotation.
    pub fn replace(&self, tenants: Vec<TenantKeys>) {
        self.replace_at(tenants, Instant::now());
    }

    fn replace_at(&self, tenants: Vec<TenantKeys>, now: Instant) {
        let mut guard = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        *guard = Arc::new(entries(tenants, &guard, now));
    }

    fn snapshot(&self) -> Arc<Vec<Entry>> {
        Arc::clone(&self.entries.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// SHA-256 of a key, as `ENGINE_KEY_HASH` holds it (hex).
    pub fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }

    pub(crate) fn check(&self, presented: Option<&[u8]>, now: Instant) -> KeyCheck {
        let Some(presented) = presented else { return KeyCheck::Invalid };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let entries = self.snapshot();
        // Every digest is compared, each in constant time; the match is selected without a branch.
        let mut matched = Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in entries.iter().enumerate() {
            let equal = digest.ct_eq(&entry.digest);
            index.conditional_assign(&(i as u64), equal);
            matched |= equal;
        }
        if !bool::from(matched) {
            return KeyCheck::Invalid;
        }
        let Some(entry) = usize::try_from(index).ok().and_then(|i| entries.get(i)) else { return KeyCheck::Invalid };
        match entry.retiring {
            None => KeyCheck::Accepted(entry.tenant.clone()),
            Some(r) => {
                let elapsed = now.saturating_duration_since(r.since);
                if elapsed <= r.min_overlap {
                    KeyCheck::Accepted(entry.tenant.clone())
                } else if elapsed <= r.max_overlap {
                    KeyCheck::RotationPending(entry.tenant.clone())
                } else {
                    KeyCheck::Invalid
                }
            }
        }
    }
}

/// The entries of `tenants`; a previous key that `before` held as previous keeps its start.
fn entries(tenants: Vec<TenantKeys>, before: &[Entry], now: Instant) -> Vec<Entry> {
    let since = |digest: &[u8; 32]| {
        before.iter().filter(|e| &e.digest == digest).find_map(|e| e.retiring).map_or(now, |r| r.since)
    };
    let mut out = Vec::new();
    for t in tenants {
        out.extend(t.current.iter().map(|&digest| Entry { tenant: t.tenant.clone(), digest, retiring: None }));
        out.extend(t.previous.iter().map(|r| Entry {
            tenant: t.tenant.clone(),
            digest: r.previous_digest,
            retiring: Some(Retiring {
                min_overlap: r.min_overlap,
                max_overlap: r.max_overlap.max(r.min_overlap),
                since: since(&r.previous_digest),
            }),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, current: &[&str], previous: &[(&str, u64, u64)]) -> TenantKeys {
        TenantKeys {
            tenant: TenantId::parse(name).unwrap(),
            current: current.iter().map(|k| EngineKeys::digest(k)).collect(),
            previous: previous
                .iter()
                .map(|&(k, min, max)| KeyRotation {
                    previous_digest: EngineKeys::digest(k),
                    min_overlap: Duration::from_secs(min),
                    max_overlap: Duration::from_secs(max),
                })
                .collect(),
        }
    }

    fn accepted(name: &str) -> KeyCheck {
        KeyCheck::Accepted(TenantId::parse(name).unwrap())
    }

    #[test]
    fn the_current_key_is_accepted_for_the_default_tenant_and_others_are_not() {
        let k = EngineKeys::new(EngineKeys::digest("new"), None);
        let now = Instant::now();
        assert_eq!(k.check(Some(b"new"), now), accepted("default"));
        assert_eq!(k.check(Some(b"wrong"), now), KeyCheck::Invalid);
        assert_eq!(k.check(None, now), KeyCheck::Invalid);
    }

    #[test]
    fn each_tenants_keys_yield_that_tenant() {
        let k = EngineKeys::of_tenants(vec![tenant("acme", &["a1", "a2"], &[]), tenant("beta", &["b1"], &[])]);
        let now = Instant::now();
        assert_eq!(k.check(Some(b"a1"), now), accepted("acme"));
        assert_eq!(k.check(Some(b"a2"), now), accepted("acme"));
        assert_eq!(k.check(Some(b"b1"), now), accepted("beta"));
        assert_eq!(k.check(Some(b"c1"), now), KeyCheck::Invalid);
    }

    #[test]
    fn the_previous_key_moves_from_accepted_to_pending_to_invalid() {
        let t0 = Instant::now();
        let k = EngineKeys::of_tenants_at(vec![tenant("acme", &["new"], &[("old", 60, 300)])], t0);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(k.check(Some(b"old"), at(10)), accepted("acme"));
        assert_eq!(k.check(Some(b"old"), at(61)), KeyCheck::RotationPending(TenantId::parse("acme").unwrap()));
        assert_eq!(k.check(Some(b"old"), at(301)), KeyCheck::Invalid);
        assert_eq!(k.check(Some(b"new"), at(301)), accepted("acme"));
    }

    #[test]
    fn each_previous_key_has_its_own_overlap() {
        let t0 = Instant::now();
        let k = EngineKeys::of_tenants_at(
            vec![tenant("acme", &["a"], &[("a-old", 10, 20)]), tenant("beta", &["b"], &[("b-old", 100, 200)])],
            t0,
        );
        let at = t0 + Duration::from_secs(50);
        assert_eq!(k.check(Some(b"a-old"), at), KeyCheck::Invalid);
        assert_eq!(k.check(Some(b"b-old"), at), accepted("beta"));
    }

    #[test]
    fn a_reload_keeps_a_previous_keys_overlap_running_and_starts_a_new_ones() {
        let t0 = Instant::now();
        let k = EngineKeys::of_tenants_at(vec![tenant("acme", &["new"], &[("old", 60, 300)])], t0);
        let reload = t0 + Duration::from_secs(100);
        // Same previous key, and the current key now retiring too.
        k.replace_at(vec![tenant("acme", &["newer"], &[("old", 60, 300), ("new", 60, 300)])], reload);
        let pending = KeyCheck::RotationPending(TenantId::parse("acme").unwrap());
        assert_eq!(k.check(Some(b"old"), reload), pending, "counted from t0, not the reload");
        assert_eq!(k.check(Some(b"new"), reload + Duration::from_secs(10)), accepted("acme"));
        assert_eq!(k.check(Some(b"newer"), reload), accepted("acme"));
    }

    #[test]
    fn a_replaced_set_refuses_the_keys_it_dropped() {
        let k = EngineKeys::of_tenants(vec![tenant("acme", &["a"], &[]), tenant("beta", &["b"], &[])]);
        k.replace(vec![tenant("acme", &["a2"], &[])]);
        let now = Instant::now();
        assert_eq!(k.check(Some(b"a"), now), KeyCheck::Invalid);
        assert_eq!(k.check(Some(b"b"), now), KeyCheck::Invalid);
        assert_eq!(k.check(Some(b"a2"), now), accepted("acme"));
    }

    #[test]
    fn debug_output_names_no_digest() {
        let t = tenant("acme", &["a"], &[("old", 1, 2)]);
        let printed = format!("{t:?} {:?} {:?}", t.previous[0], EngineKeys::of_tenants(vec![t.clone()]));
        for digest in [EngineKeys::digest("a"), EngineKeys::digest("old")] {
            assert!(!printed.contains(&hex::encode(digest)), "{printed}");
            assert!(!printed.contains(format!("{:?}", &digest[..4]).trim_end_matches(']')), "{printed}");
        }
    }
}
