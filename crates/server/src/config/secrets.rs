//! The keys that seal secrets at rest, and the keys the service signs its client assertions with.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, Source, split_list};

/// The encryption keys. Reads:
///
/// - `AD_ENCRYPTION_KEY`: the key that seals (32 bytes, URL-safe base64; generated in development);
/// - `AD_ENCRYPTION_KEYS_PREVIOUS`: comma list of older keys that only open (default none);
/// - `AD_SIGNING_KEY`: the EC P-256 private key (PKCS #8 PEM) that signs the service's own
///   `private_key_jwt` assertions, published at `/oauth/jwks.json` (generated in development;
///   none by default in production, where `private_key_jwt` with the service's key is then off);
/// - `AD_SIGNING_KEYS_PREVIOUS`: comma list of older signing keys, still published so assertions
///   signed before a rotation verify through its overlap (default none);
/// - `AD_DATA_DIR`: where development keys are generated (default `data`).
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    pub encryption_key: Option<SecretString>,
    pub previous_keys: Vec<SecretString>,
    pub signing_key: Option<SecretString>,
    pub previous_signing_keys: Vec<SecretString>,
    /// Where development keys are generated (`data/` by default).
    pub data_dir: PathBuf,
}

impl SecretsConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "AD_ENCRYPTION_KEY",
        "AD_ENCRYPTION_KEYS_PREVIOUS",
        "AD_SIGNING_KEY",
        "AD_SIGNING_KEYS_PREVIOUS",
        "AD_DATA_DIR",
    ];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let list = |name| -> Result<Vec<SecretString>, ConfigError> {
            Ok(source
                .secret(name)?
                .map(|l| split_list(l.expose_secret()).into_iter().map(SecretString::from).collect())
                .unwrap_or_default())
        };
        Ok(Self {
            encryption_key: source.secret("AD_ENCRYPTION_KEY")?,
            previous_keys: list("AD_ENCRYPTION_KEYS_PREVIOUS")?,
            signing_key: source.secret("AD_SIGNING_KEY")?,
            previous_signing_keys: list("AD_SIGNING_KEYS_PREVIOUS")?,
            data_dir: source.path("AD_DATA_DIR")?.unwrap_or_else(|| PathBuf::from("data")),
        })
    }
}
