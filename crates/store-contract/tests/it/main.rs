//! Tests of the contract suite itself, against an in-memory reference store: a correct store
//! passes every case, and each deliberate flaw is caught by the case written for it.

mod memory;

use std::future::Future;

use memory::{Flaw, MemoryStore};
use store_contract::cases;

mod a_correct_store {
    store_contract::contract_tests!(async { super::MemoryStore::default() });
}

/// Runs a case on its own task and tells whether it failed (panicked).
async fn fails(case: impl Future<Output = ()> + Send + 'static) -> bool {
    tokio::spawn(case).await.is_err()
}

#[tokio::test]
async fn a_store_that_ignores_the_expected_status_fails_the_compare_and_set_cases() {
    assert!(
        fails(cases::an_update_with_a_stale_status_writes_nothing(MemoryStore::flawed(Flaw::IgnoresExpectedStatus)))
            .await
    );
    let racing = cases::of_twenty_concurrent_updates_from_one_status_exactly_one_wins;
    assert!(fails(racing(MemoryStore::flawed(Flaw::IgnoresExpectedStatus))).await);
}

#[tokio::test]
async fn a_store_that_forgets_the_refresh_token_fails_the_token_case() {
    let case = cases::a_token_update_without_a_refresh_token_keeps_the_stored_one;
    assert!(fails(case(MemoryStore::flawed(Flaw::ForgetsRefreshToken))).await);
}

#[tokio::test]
async fn a_store_that_keeps_flows_of_deleted_connections_fails_the_cascade_case() {
    let case = cases::deleting_a_connection_deletes_its_flows_and_nothing_else;
    assert!(fails(case(MemoryStore::flawed(Flaw::KeepsFlowsOnDelete))).await);
}

#[tokio::test]
async fn a_store_that_inserts_halfway_fails_the_atomic_insert_case() {
    let case = cases::an_insert_whose_flow_is_refused_stores_no_connection;
    assert!(fails(case(MemoryStore::flawed(Flaw::InsertsHalfway))).await);
}

#[tokio::test]
async fn a_store_that_takes_flows_without_removing_them_fails_the_single_use_cases() {
    let once = cases::a_flow_stored_with_its_connection_is_taken_once_with_every_field;
    assert!(fails(once(MemoryStore::flawed(Flaw::TakesWithoutRemoving))).await);
    let racing = cases::of_twenty_concurrent_takes_of_one_state_exactly_one_gets_the_flow;
    assert!(fails(racing(MemoryStore::flawed(Flaw::TakesWithoutRemoving))).await);
    let callback = cases::of_twenty_concurrent_callback_takes_of_one_state_exactly_one_gets_the_flow;
    assert!(fails(callback(MemoryStore::flawed(Flaw::TakesWithoutRemoving))).await);
}

#[tokio::test]
async fn a_store_that_swaps_without_comparing_fails_the_replacement_cases() {
    let stale = cases::a_replacement_loses_to_a_token_update_made_after_the_read;
    assert!(fails(stale(MemoryStore::flawed(Flaw::SwapsWithoutComparing))).await);
    let racing = cases::of_twenty_concurrent_replacements_of_one_value_exactly_one_wins;
    assert!(fails(racing(MemoryStore::flawed(Flaw::SwapsWithoutComparing))).await);
}

#[tokio::test]
async fn a_store_that_revisits_the_cursor_fails_the_walk_case() {
    let case = cases::a_walk_in_batches_visits_every_sealed_value_once_and_skips_empty_ones;
    assert!(fails(case(MemoryStore::flawed(Flaw::RevisitsTheCursor))).await);
}

#[tokio::test]
async fn a_store_that_records_changes_it_did_not_make_fails_the_lost_write_cases() {
    let stale = cases::an_update_with_a_stale_status_writes_nothing;
    assert!(fails(stale(MemoryStore::flawed(Flaw::RecordsUnwrittenChanges))).await);
    let racing = cases::of_twenty_concurrent_deletes_exactly_one_gets_the_secrets;
    assert!(fails(racing(MemoryStore::flawed(Flaw::RecordsUnwrittenChanges))).await);
}

#[tokio::test]
async fn a_store_that_ignores_leases_fails_the_claim_cases() {
    assert!(fails(cases::only_due_oauth_connections_are_claimed(MemoryStore::flawed(Flaw::IgnoresLeases))).await);
    let racing = cases::concurrent_claims_are_disjoint_and_miss_nothing;
    assert!(fails(racing(MemoryStore::flawed(Flaw::IgnoresLeases))).await);
    let crashed = cases::an_expired_lease_is_claimable_again;
    assert!(fails(crashed(MemoryStore::flawed(Flaw::IgnoresLeases))).await);
}

#[tokio::test]
async fn a_store_that_ignores_the_owner_on_the_credentials_read_fails_the_isolation_cases() {
    let case = cases::another_owners_connection_reads_as_missing_and_changes_nothing;
    assert!(fails(case(MemoryStore::flawed(Flaw::IgnoresOwnerOnCredentials))).await);
    let random = cases::random_owners_and_ref_ids_never_reach_across_owners;
    assert!(fails(random(MemoryStore::flawed(Flaw::IgnoresOwnerOnCredentials))).await);
}

#[tokio::test]
async fn a_store_that_sweeps_open_sessions_fails_the_sweep_case() {
    let case = cases::sweeping_sessions_deletes_only_expired_ones;
    assert!(fails(case(MemoryStore::flawed(Flaw::SweepsOpenSessions))).await);
}

#[tokio::test]
async fn a_store_whose_pages_forget_the_tenant_fails_the_page_cases() {
    let case = cases::pages_cover_every_connection_once_in_order;
    assert!(fails(case(MemoryStore::flawed(Flaw::PagesIgnoreTheTenant))).await);
    let users = cases::a_tenants_users_are_listed_once_with_their_counts_by_status;
    assert!(fails(users(MemoryStore::flawed(Flaw::PagesIgnoreTheTenant))).await);
}

#[tokio::test]
async fn a_store_that_drops_notices_fails_the_outbox_case() {
    let case = cases::every_connection_write_and_recorded_event_writes_its_notice_as_an_event;
    assert!(fails(case(MemoryStore::flawed(Flaw::DropsNotices))).await);
}

#[tokio::test]
async fn a_store_that_claims_out_of_order_fails_the_ordering_case() {
    let case = cases::a_later_event_of_a_connection_waits_for_the_earlier_ones_delivery_or_failure;
    assert!(fails(case(MemoryStore::flawed(Flaw::ClaimsOutOfOrder))).await);
}
