//! `migrate`: applies the pending migrations of `DATABASE_URL` and exits, so a deployment can
//! migrate as a step of its own (a release job with more privileges than the service's role) and
//! start its replicas with `DATABASE_MIGRATE_ON_START=false`.

use std::collections::HashMap;

use crate::config::{Config, ConfigError, DatabaseConfig};
use crate::database::{Database, DatabaseError, Migrated};

/// The configuration of `vars` as a migration needs it. The production start-up checks are about
/// serving (engine key, encryption key, public URL), so a migration job does without them: only
/// the database and log settings are used.
pub fn settings(mut vars: HashMap<String, String>) -> Result<Config, ConfigError> {
    vars.remove("AD_ENV");
    Config::from_map(vars)
}

/// Applies every pending migration.
pub async fn run(database: &DatabaseConfig) -> Result<Migrated, DatabaseError> {
    Database::migrate(database).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_production_migration_job_needs_only_the_database_settings() {
        let vars = [
            ("AD_ENV", "production"),
            ("DATABASE_URL", "postgres://ad@db.internal/ad"),
            ("DATABASE_TIMEOUT_MS", "900"),
        ];
        let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<HashMap<_, _>>();
        assert!(Config::from_map(vars.clone()).is_err(), "serving would need keys and a public URL");
        let database = settings(vars).unwrap().database;
        assert_eq!(database.url, "postgres://ad@db.internal/ad");
        assert_eq!(database.timeout.as_millis(), 900);
    }
}
