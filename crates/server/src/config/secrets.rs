//! The keys that seal secrets at rest.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, Source, split_list};

/// The encryption keys. Reads:
///
/// - `AD_ENCRYPTION_KEY`: the key that seals (32 bytes, URL-safe base64; generated in development);
/// - `AD_ENCRYPTION_KEYS_PREVIOUS`: comma list of older keys that only open (default none);
/// - `AD_DATA_DIR`: where development keys are generated (default `data`).
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    pub encryption_key: Option<SecretString>,
    pub previous_keys: Vec<SecretString>,
    /// Where development keys are generated (`data/` by default).
    pub data_dir: PathBuf,
}

impl SecretsConfig {
    pub(super) const VARIABLES: &'static [&'static str] =
        &["AD_ENCRYPTION_KEY", "AD_ENCRYPTION_KEYS_PREVIOUS", "AD_DATA_DIR"];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let previous = source.secret("AD_ENCRYPTION_KEYS_PREVIOUS")?;
        Ok(Self {
            encryption_key: source.secret("AD_ENCRYPTION_KEY")?,
            previous_keys: previous
                .map(|l| split_list(l.expose_secret()).into_iter().map(SecretString::from).collect())
                .unwrap_or_default(),
            data_dir: source.path("AD_DATA_DIR")?.unwrap_or_else(|| PathBuf::from("data")),
        })
    }
}
