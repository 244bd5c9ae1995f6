//! The engine's key and its rotation, and the file of every tenant's keys.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::{ConfigError, Source, invalid};

/// Who may call the API. Reads:
///
/// - `ENGINE_API_KEY`: the engine's key in plaintext (generated in development);
/// - `ENGINE_KEY_HASH`: hex SHA-256 of the engine key; wins over `ENGINE_API_KEY`;
/// - `ENGINE_KEY_HASH_PREVIOUS`: hash of the key being retired;
/// - `KEY_ROTATION_MIN_OVERLAP_SECONDS`: how long after start the previous key works (default `0`);
/// - `KEY_ROTATION_MAX_OVERLAP_SECONDS`: until when it answers `KEY_ROTATION_PENDING` (default
///   `300`, raised to the minimum);
/// - `ENGINE_KEYS_FILE`: the tenants and their keys, in TOML or JSON (`keys_file.rs`), read at
///   start and again on `SIGHUP`. The variables above name tenant `default`.
#[derive(Debug, Clone)]
pub struct EngineKeyConfig {
    pub api_key: Option<SecretString>,
    pub key_hash: Option<[u8; 32]>,
    pub previous_hash: Option<[u8; 32]>,
    pub min_overlap: Duration,
    pub max_overlap: Duration,
    pub keys_file: Option<PathBuf>,
}

impl EngineKeyConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "ENGINE_API_KEY",
        "ENGINE_KEY_HASH",
        "ENGINE_KEY_HASH_PREVIOUS",
        "KEY_ROTATION_MIN_OVERLAP_SECONDS",
        "KEY_ROTATION_MAX_OVERLAP_SECONDS",
        "ENGINE_KEYS_FILE",
    ];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let min_overlap = Duration::from_secs(source.number("KEY_ROTATION_MIN_OVERLAP_SECONDS")?.unwrap_or(0));
        let max_overlap = Duration::from_secs(source.number("KEY_ROTATION_MAX_OVERLAP_SECONDS")?.unwrap_or(300));
        Ok(Self {
            api_key: source.secret("ENGINE_API_KEY")?,
            key_hash: digest(source, "ENGINE_KEY_HASH")?,
            previous_hash: digest(source, "ENGINE_KEY_HASH_PREVIOUS")?,
            min_overlap,
            max_overlap: max_overlap.max(min_overlap),
            keys_file: source.path("ENGINE_KEYS_FILE")?,
        })
    }
}

/// A hex SHA-256 setting; a malformed one is refused without repeating it.
fn digest(source: &Source, name: &'static str) -> Result<Option<[u8; 32]>, ConfigError> {
    let Some(hex_digest) = source.text(name)? else { return Ok(None) };
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out)
        .map_err(|_| invalid(name, "must be 64 hex characters (the SHA-256 of the key)"))?;
    Ok(Some(out))
}
