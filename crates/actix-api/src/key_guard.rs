//! The `X-Engine-Key` guard (spec §3): keys are kept only as SHA-256 digests and compared in
//! constant time; a previous key stays valid through a rotation overlap.

use std::fmt;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ApiError, ErrorCode};

pub const HEADER: &str = "X-Engine-Key";

/// The rotation window of a previous key, counted from when this process started with it.
#[derive(Debug, Clone, Copy)]
pub struct KeyRotation {
    pub previous_digest: [u8; 32],
    /// The previous key is accepted this long (`KEY_ROTATION_MIN_OVERLAP_SECONDS`)…
    pub min_overlap: Duration,
    /// …then answers `KEY_ROTATION_PENDING` until this long (`KEY_ROTATION_MAX_OVERLAP_SECONDS`).
    pub max_overlap: Duration,
}

/// The accepted engine keys, as digests only.
pub struct EngineKeys {
    current: [u8; 32],
    rotation: Option<KeyRotation>,
    since: Instant,
}

impl fmt::Debug for EngineKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineKeys").field("rotation", &self.rotation.is_some()).finish_non_exhaustive()
    }
}

/// The outcome of checking a presented key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    Accepted,
    RotationPending,
    Invalid,
}

impl EngineKeys {
    pub fn new(current_digest: [u8; 32], rotation: Option<KeyRotation>) -> Self {
        Self { current: current_digest, rotation, since: Instant::now() }
    }

    /// SHA-256 of a key, as `ENGINE_KEY_HASH` holds it (hex).
    pub fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }

    pub(crate) fn check(&self, presented: Option<&[u8]>, now: Instant) -> KeyCheck {
        let Some(presented) = presented else { return KeyCheck::Invalid };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        // Both comparisons always run, so timing does not tell which key matched.
        let current = digest.ct_eq(&self.current);
        let previous = self.rotation.map(|r| digest.ct_eq(&r.previous_digest)).unwrap_or(0.into());
        if bool::from(current) {
            return KeyCheck::Accepted;
        }
        match (bool::from(previous), self.rotation) {
            (true, Some(r)) => {
                let elapsed = now.saturating_duration_since(self.since);
                if elapsed <= r.min_overlap {
                    KeyCheck::Accepted
                } else if elapsed <= r.max_overlap {
                    KeyCheck::RotationPending
                } else {
                    KeyCheck::Invalid
                }
            }
            _ => KeyCheck::Invalid,
        }
    }
}

/// Whether `req` carries an accepted engine key; the contract error when not. Failed attempts are
/// logged without the key.
pub(crate) fn verdict(req: &HttpRequest) -> Result<(), ApiError> {
    let keys = req.app_data::<web::Data<EngineKeys>>();
    let presented = single_key(req);
    let outcome = match keys {
        Some(keys) => keys.check(presented, Instant::now()),
        None => KeyCheck::Invalid,
    };
    match outcome {
        KeyCheck::Accepted => Ok(()),
        KeyCheck::RotationPending => {
            tracing::warn!(path = req.path(), "request with the previous engine key after its grace period");
            Err(ApiError::new(
                ErrorCode::KeyRotationPending,
                "the previous engine key is being retired; retry with the new key",
            ))
        }
        KeyCheck::Invalid => {
            let keys_presented = req.headers().get_all(HEADER).count();
            tracing::warn!(path = req.path(), keys_presented, "rejected engine key");
            Err(ApiError::new(ErrorCode::InvalidKey, "missing or invalid X-Engine-Key"))
        }
    }
}

/// The one key presented. Two `X-Engine-Key` headers present none: which of them a proxy or a
/// framework would read is not something a credential may depend on.
fn single_key(req: &HttpRequest) -> Option<&[u8]> {
    let mut values = req.headers().get_all(HEADER);
    match (values.next(), values.next()) {
        (Some(only), None) => Some(HeaderValue::as_bytes(only)),
        _ => None,
    }
}

/// The middleware of every keyed endpoint. A refusal is an answer, not an `Err`, so the layers
/// outside (request id, metrics) see it like any other.
pub(crate) async fn require_engine_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match verdict(req.request()) {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(min: u64, max: u64) -> EngineKeys {
        EngineKeys::new(
            EngineKeys::digest("new"),
            Some(KeyRotation {
                previous_digest: EngineKeys::digest("old"),
                min_overlap: Duration::from_secs(min),
                max_overlap: Duration::from_secs(max),
            }),
        )
    }

    #[test]
    fn the_current_key_is_accepted_and_others_are_not() {
        let k = keys(0, 300);
        let now = k.since;
        assert_eq!(k.check(Some(b"new"), now), KeyCheck::Accepted);
        assert_eq!(k.check(Some(b"wrong"), now), KeyCheck::Invalid);
        assert_eq!(k.check(None, now), KeyCheck::Invalid);
    }

    #[test]
    fn the_previous_key_moves_from_accepted_to_pending_to_invalid() {
        let k = keys(60, 300);
        let at = |s| k.since + Duration::from_secs(s);
        assert_eq!(k.check(Some(b"old"), at(10)), KeyCheck::Accepted);
        assert_eq!(k.check(Some(b"old"), at(61)), KeyCheck::RotationPending);
        assert_eq!(k.check(Some(b"old"), at(301)), KeyCheck::Invalid);
    }
}
