//! The engine keys the service accepts, and their reload: tenant `default` from the single-key
//! variables (or the generated development key), and the tenants of `ENGINE_KEYS_FILE`, read
//! again on `SIGHUP`. A reload that fails keeps the keys in force. The tenants' identity
//! providers (issue 18 §4: tenant `default`'s from its variables, the others' from the file) are
//! put in force with them.

use std::path::PathBuf;
use std::sync::Arc;

use actix_api::{EngineKeys, KeyRotation, TenantKeys};
use actix_web::web;
use crypto_adapter::OsRandom;
use domain::TenantId;
use ports::IdSource;
use secrecy::ExposeSecret;

use app::{IdentityProvider, IdentityProviders};

use crate::config::{Config, EnvSnapshot, KeysFileError, RunMode, Tenants};
use crate::startup::{StartupError, dev_secret};

/// Where the keys come from: tenant `default` as resolved at start (the variables do not change
/// while the process runs), and the keys file read at every load.
#[derive(Debug)]
struct KeySource {
    default: Option<TenantKeys>,
    file: Option<PathBuf>,
    default_provider: Option<IdentityProvider>,
    /// The variables the file's `client_secret_env` names are read from.
    env: EnvSnapshot,
}

impl KeySource {
    /// Resolves tenant `default`. In development with no key configured at all (no variable and
    /// no keys file) its key is generated into the data directory.
    fn resolve(config: &Config) -> Result<Self, StartupError> {
        let c = &config.engine_key;
        let current = match (&c.key_hash, &c.api_key, &c.keys_file) {
            (Some(hash), _, _) => Some(*hash),
            (None, Some(key), _) => Some(EngineKeys::digest(key.expose_secret())),
            (None, None, Some(_)) => None,
            (None, None, None) if config.mode == RunMode::Development => {
                let key = dev_secret(config, "engine-key", || OsRandom.secret_token())?;
                Some(EngineKeys::digest(key.expose_secret()))
            }
            (None, None, None) => {
                return Err(StartupError::Keys("AD_ENV=production requires ENGINE_KEY_HASH".into()));
            }
        };
        let default = current.map(|current| TenantKeys {
            tenant: TenantId::default_tenant(),
            current: vec![current],
            // A previous hash equal to the current one is the current key, as it always was.
            previous: c
                .previous_hash
                .filter(|previous| *previous != current)
                .map(|previous_digest| KeyRotation {
                    previous_digest,
                    min_overlap: c.min_overlap,
                    max_overlap: c.max_overlap,
                })
                .into_iter()
                .collect(),
        });
        Ok(Self {
            default,
            file: c.keys_file.clone(),
            default_provider: config.identity_provider.default.clone(),
            env: config.env.clone(),
        })
    }

    fn load(&self) -> Result<Tenants, KeysFileError> {
        let mut tenants = crate::config::tenants(self.default.clone(), self.file.as_deref(), &|v| self.env.get(v))?;
        if let Some(provider) = &self.default_provider {
            tenants.identity_providers.entry(TenantId::default_tenant()).or_insert_with(|| provider.clone());
        }
        Ok(tenants)
    }
}

/// Reads the keys file again and puts its keys in force (what `SIGHUP` does). Clones act on
/// the same keys.
#[derive(Debug, Clone)]
pub struct KeysReloader {
    keys: web::Data<EngineKeys>,
    providers: Arc<IdentityProviders>,
    source: Arc<KeySource>,
}

impl KeysReloader {
    /// The keys of `config`, loaded and logged; a problem stops start-up.
    pub(crate) fn start(config: &Config) -> Result<Self, StartupError> {
        let source = KeySource::resolve(config)?;
        let tenants = source.load().map_err(|e| StartupError::Keys(e.to_string()))?;
        tracing::info!(tenants = %summary(&tenants.keys), "engine keys loaded");
        let providers = Arc::new(IdentityProviders::default());
        providers.replace(tenants.identity_providers);
        Ok(Self { keys: web::Data::new(EngineKeys::of_tenants(tenants.keys)), providers, source: Arc::new(source) })
    }

    /// The identity providers of the tenants, replaced with the keys.
    pub(crate) fn identity_providers(&self) -> Arc<IdentityProviders> {
        Arc::clone(&self.providers)
    }

    /// The keys the guard checks.
    pub(crate) fn keys(&self) -> web::Data<EngineKeys> {
        self.keys.clone()
    }

    /// Loads the keys again: a valid file replaces every key at once; an invalid one leaves the
    /// keys in force and is logged (the file's path and the problem, never its contents).
    pub fn reload(&self) -> Result<(), KeysFileError> {
        match self.source.load() {
            Ok(tenants) => {
                let loaded = summary(&tenants.keys);
                self.keys.replace(tenants.keys);
                self.providers.replace(tenants.identity_providers);
                // Logged once in force: a request after this line meets the new keys.
                tracing::info!(tenants = %loaded, "engine keys reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "engine keys not reloaded; the previous keys stay in force");
                Err(e)
            }
        }
    }

    /// Whether there is a file to reload.
    pub(crate) fn has_file(&self) -> bool {
        self.source.file.is_some()
    }
}

/// Reloads on every `SIGHUP`, for as long as the service runs.
pub(crate) async fn reload_on_sighup(reloader: KeysReloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; the keys file is read only at start");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the engine keys");
        let _ = reloader.reload();
    }
}

/// `acme: 2 keys (1 previous), default: 1 key`: names and counts, nothing else.
fn summary(tenants: &[TenantKeys]) -> String {
    let one = |t: &TenantKeys| {
        let total = t.current.len() + t.previous.len();
        let plural = if total == 1 { "" } else { "s" };
        match t.previous.len() {
            0 => format!("{}: {total} key{plural}", t.tenant),
            previous => format!("{}: {total} key{plural} ({previous} previous)", t.tenant),
        }
    };
    tenants.iter().map(one).collect::<Vec<_>>().join(", ")
}
