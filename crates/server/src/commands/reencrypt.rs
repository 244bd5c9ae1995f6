//! `reencrypt`: re-encrypts every sealed secret under the current `AD_ENCRYPTION_KEY`, in
//! batches, beside the running service and with its configuration (the older keys listed in
//! `AD_ENCRYPTION_KEYS_PREVIOUS` open what they sealed). See `app::reencrypt` for why it is safe
//! to interrupt, to run again, and to run while replicas refresh tokens.

use app::reencrypt::{ReencryptReport, reencrypt_all};
use ports::SealedField;

use crate::config::Config;
use crate::database::{Database, DatabaseError};
use crate::startup::{self, StartupError};

/// Values read and written per round trip when the command line does not say.
pub const DEFAULT_BATCH_SIZE: u32 = 100;

/// Why the re-encryption stopped or did not finish its job. Never names a secret.
#[derive(Debug, thiserror::Error)]
pub enum ReencryptError {
    #[error(transparent)]
    Keys(#[from] StartupError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("re-encryption stopped ({0}); what was written stays written: run it again to finish")]
    Stopped(#[source] app::Error),
    #[error(
        "{0} sealed value(s) did not open with the configured keys and were left as they are; keep the \
         previous keys configured, and see the log for which fields"
    )]
    Unreadable(u64),
}

/// What a finished run says on standard output: counts and the key id, no secret, no record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub report: ReencryptReport,
    pub key_id: String,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.report;
        write!(
            f,
            "re-encrypted {} under key {}; {} already current, {} changed meanwhile (kept), {} unreadable",
            r.reencrypted, self.key_id, r.already_current, r.changed_meanwhile, r.unreadable
        )
    }
}

/// Re-encrypts everything `config`'s database holds under its current encryption key. Fails
/// with [`ReencryptError::Unreadable`] (after finishing the walk) when some value did not open,
/// so a script does not go on to retire the old key.
pub async fn run(config: &Config, batch_size: u32) -> Result<Summary, ReencryptError> {
    let keyring = startup::keyring(config)?;
    let key_id = keyring.current_key_id();
    tracing::info!(key_id = %key_id, batch_size, "re-encrypting every sealed secret under the current key");
    let progress = |field: SealedField, totals: &ReencryptReport| {
        tracing::info!(
            field = field.as_str(),
            examined = totals.examined(),
            reencrypted = totals.reencrypted,
            "re-encryption batch done"
        );
    };
    let report = match Database::open(&config.database).await? {
        Database::Sqlite(store) => reencrypt_all(&store, &keyring, batch_size, progress).await,
        Database::Postgres(store) => reencrypt_all(&store, &keyring, batch_size, progress).await,
    }
    .map_err(ReencryptError::Stopped)?;
    let summary = Summary { report, key_id };
    tracing::info!(%summary, "re-encryption finished");
    if report.unreadable > 0 {
        return Err(ReencryptError::Unreadable(report.unreadable));
    }
    Ok(summary)
}
