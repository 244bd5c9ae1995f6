//! The catalog of servers, and the environment its entries name.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{ConfigError, Source};

/// The catalog file. Reads `CATALOG_PATH`: a JSON catalog (default: the built-in catalog).
///
/// The catalog names further variables itself (each OAuth entry's `client_secret_env`, the
/// built-in `client_id_env`); they are read from [`EnvSnapshot`], exactly as written.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub path: Option<PathBuf>,
}

impl CatalogConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &["CATALOG_PATH"];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self { path: source.path("CATALOG_PATH")? })
    }
}

/// The environment the configuration was read from, for the variables the catalog names
/// (OAuth client ids and secrets). Its `Debug` shows no values.
#[derive(Clone, Default)]
pub struct EnvSnapshot(pub(super) HashMap<String, String>);

impl EnvSnapshot {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvSnapshot({} variables)", self.0.len())
    }
}
