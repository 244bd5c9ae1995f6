//! Isolation between tenants (issue 15), on both backends: the scenarios of `owners` with
//! callers of two tenants of a keys file and of tenant `default`, the same `X-End-User-Id` in
//! each. Another tenant's `ref_id` or `state` answers exactly what one that never existed
//! answers, and a property test of random (tenant, user, ref id, route) calls counts 0 reads,
//! writes or deletes across owners.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::backends::{Backend, on_both_backends, spawn_on_with};
use crate::helpers::{Spawn, TestApp};
use crate::owners::strangers_get_what_a_never_made_ref_id_gets;
use crate::owners::{Owned, Who, a_relayed_callback_completes_only_the_flow_of_its_owner};
use crate::tenants::{ACME_KEY, BETA_KEY, keys_file, keys_toml};

/// The service on `backend` with tenants `acme` and `beta` in a keys file, besides `default`.
async fn spawn_tenants(backend: Backend) -> (TestApp, TestAuthServer, tempfile::TempDir) {
    let (dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let spawn = Spawn::default().var("ENGINE_KEYS_FILE", &path.display().to_string());
    let (app, auth) = spawn_on_with(backend, TestAuthConfig::default(), spawn).await;
    (app, auth, dir)
}

fn acme(user: Option<&'static str>) -> Who<'static> {
    Who { key: ACME_KEY, user }
}

fn beta(user: Option<&'static str>) -> Who<'static> {
    Who { key: BETA_KEY, user }
}

/// Alice of `beta`, `beta`'s default user and Alice of `default` get for each route of the
/// connection of Alice of `acme` what a never-made ref id gets, and nothing changes.
async fn another_tenants_ref_id_answers_as_one_that_never_existed(backend: Backend) {
    let (app, _auth, _dir) = spawn_tenants(backend).await;
    let default_alice = Who { key: &app.key, user: Some("alice") };
    let strangers = [beta(Some("alice")), beta(None), default_alice];
    strangers_get_what_a_never_made_ref_id_gets(&app, acme(Some("alice")), beta(Some("alice")), &strangers).await;
}

/// The same user id in another tenant cannot complete a flow by relaying its `state`.
async fn a_relayed_callback_completes_only_the_flow_of_its_own_tenant(backend: Backend) {
    let (app, auth, _dir) = spawn_tenants(backend).await;
    let default_alice = Who { key: &app.key, user: Some("alice") };
    let strangers = [beta(Some("alice")), default_alice];
    a_relayed_callback_completes_only_the_flow_of_its_owner(&app, &auth, acme(Some("alice")), &strangers).await;
}

/// Random (tenant, user, ref id, route) calls, each a proptest case over the same service and
/// model of who owns what: 0 calls reach a connection of another owner, and every owner lists
/// exactly its own.
fn random_tenants_users_ref_ids_and_routes_never_cross_owners(backend: Backend) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, _auth, _dir) = runtime.block_on(spawn_tenants(backend));
    let key = app.key.clone();
    let mut callers = Vec::new();
    for key in [ACME_KEY, BETA_KEY, key.as_str()] {
        for user in [None, Some("alice"), Some("bob@example.com")] {
            callers.push(Who { key, user });
        }
    }
    let owned = std::cell::RefCell::new(runtime.block_on(Owned::make(&app, &callers, 1)));
    let crossed = std::cell::Cell::new(0);
    let calls = (0..callers.len(), 0..owned.borrow().len(), 0..Owned::ROUTES);
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner
        .run(&prop::collection::vec(calls, 1..6), |batch| {
            for (caller, pick, route) in batch {
                let mut model = owned.borrow_mut();
                crossed.set(crossed.get() + runtime.block_on(model.call(&app, &callers, caller, pick, route)));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(crossed.get(), 0, "calls that reached another owner's connection");
    runtime.block_on(owned.borrow().assert_each_lists_its_own(&app, &callers));
}

on_both_backends! {
    another_tenants_ref_id_answers_as_one_that_never_existed =>
        another_tenants_ref_id_answers_as_one_that_never_existed_on_sqlite,
        another_tenants_ref_id_answers_as_one_that_never_existed_on_postgres;
    a_relayed_callback_completes_only_the_flow_of_its_own_tenant =>
        a_relayed_callback_completes_only_the_flow_of_its_own_tenant_on_sqlite,
        a_relayed_callback_completes_only_the_flow_of_its_own_tenant_on_postgres;
}

#[test]
fn random_tenants_users_ref_ids_and_routes_never_cross_owners_on_sqlite() {
    random_tenants_users_ref_ids_and_routes_never_cross_owners(Backend::Sqlite);
}

#[test]
fn random_tenants_users_ref_ids_and_routes_never_cross_owners_on_postgres() {
    random_tenants_users_ref_ids_and_routes_never_cross_owners(Backend::Postgres);
}
