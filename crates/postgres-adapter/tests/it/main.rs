//! The PostgreSQL adapter's integration tests. They need a server: `AD_TEST_DATABASE_URL`, which
//! `cargo xtask test` provides. Without it every test fails and says so; none is skipped.

mod feed;
mod migrations;
mod outages;
mod replicas;
mod secrets;
mod stale_statistics;
mod support;
mod tls;
mod webhook_delete;

mod contract {
    store_contract::contract_tests!(crate::support::fresh_store());
}
