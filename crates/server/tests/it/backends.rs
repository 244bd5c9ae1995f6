//! Black-box scenarios that run once per backend: the service on SQLite and on PostgreSQL, each
//! with the OAuth test catalog (`acme`, a client of an in-repo authorization server).

use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::helpers::{Spawn, TestApp};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog};
use crate::postgres::fresh_database_url;

#[derive(Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database on `backend` as the `DATABASE_URL` to start with: `None` for SQLite, whose
/// file is in the data directory (reuse the URL, or the data directory, to restart on it).
pub async fn database(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_database_url().await),
    }
}

/// `spawn` on `database` (see [`database`]).
pub fn on(spawn: Spawn, database: &Option<String>) -> Spawn {
    match database {
        Some(url) => spawn.var("DATABASE_URL", url),
        None => spawn,
    }
}

/// The service on `backend` (a fresh database), with an authorization server made of `config`.
pub async fn spawn_on(backend: Backend, config: TestAuthConfig) -> (TestApp, TestAuthServer) {
    spawn_on_with(backend, config, Spawn::default()).await
}

/// [`spawn_on`], with more environment variables.
pub async fn spawn_with(backend: Backend, config: TestAuthConfig, vars: &[(&str, &str)]) -> (TestApp, TestAuthServer) {
    let spawn = vars.iter().fold(Spawn::default(), |spawn, (name, value)| spawn.var(name, value));
    spawn_on_with(backend, config, spawn).await
}

/// As [`spawn_on`], from `spawn` (its variables).
pub async fn spawn_on_with(backend: Backend, config: TestAuthConfig, spawn: Spawn) -> (TestApp, TestAuthServer) {
    let auth = TestAuthServer::start(config).await;
    let mut spawn = spawn.catalog(oauth_catalog(&auth)).var("ACME_CLIENT_SECRET", CLIENT_SECRET);
    if let Backend::Postgres = backend {
        spawn = spawn.var("DATABASE_URL", &fresh_database_url().await);
    }
    (spawn.start().await, auth)
}

/// One test per backend for each scenario: `scenario => test_on_sqlite, test_on_postgres;`.
macro_rules! on_both_backends {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $scenario($crate::backends::Backend::Sqlite).await;
        }

        #[tokio::test]
        async fn $postgres() {
            $scenario($crate::backends::Backend::Postgres).await;
        }
    )*};
}
pub(crate) use on_both_backends;
