//! The store contract: ONE suite of async tests that every store adapter runs, with the same
//! cases and the same expected results for SQLite and PostgreSQL (spec §8: "the same behaviour,
//! proved by one shared test suite that runs against both"). It is a dev-only crate: adapters
//! name it in `[dev-dependencies]` only.
//!
//! # Use
//!
//! In an adapter's integration tests (`tests/it/main.rs` or a submodule), call the macro with an
//! async expression that yields a fresh, isolated store: a value of a type implementing
//! [`ports::ConnectionStore`] + [`ports::FlowStore`] + [`ports::AuditLog`] +
//! [`ports::RegistrationStore`] + [`ports::RekeyStore`] + [`ports::RefreshQueue`] +
//! [`ports::ConnectSessionStore`] + [`ports::EventStore`] + `Clone`:
//!
//! ```text
//! mod contract {
//!     async fn fresh_store() -> postgres_adapter::PgStore {
//!         // a new database or schema per call: cases assume they start from an empty store
//!     }
//!
//!     store_contract::contract_tests!(fresh_store());
//! }
//! ```
//!
//! When the store needs something kept alive beside it (a temporary directory, a database to
//! drop afterwards), yield a fixture instead: a type implementing [`StoreFixture`]. The test
//! holds it until the case has finished, then drops it.
//!
//! The macro expands into one `#[tokio::test]` per case (multi-threaded runtime, so the races
//! are real), each named after its case, e.g. `contract::a_delete_returns_the_secrets_once`.
//! The calling crate needs `tokio` (features `macros`, `rt-multi-thread`) among its
//! dev-dependencies. The expression is evaluated once per test. Each case is also a public
//! `async fn` in [`cases`] for callers that want to run one by itself.
//!
//! Every read and write a caller reaches takes the caller's `Owner` and never reaches another
//! owner's rows (`cases::another_owners_connection_reads_as_missing_and_changes_nothing`).
//!
//! Orders the contract fixes: `list` and `list_page` are by `created_at`, then `ref_id` in
//! byte order; `users` by user id in byte order;
//! `events` is in recording order; an expired flow is one whose `expires_at < now`; the event
//! feed is in `seq` order, deliveries newest event first, endpoints oldest first.

pub mod before_account;
pub mod before_at_origin;
pub mod before_owners;
pub mod cases;
pub mod fixtures;
pub mod proxy;
mod race;

use ports::{
    AuditLog, ConnectSessionStore, ConnectionStore, EventStore, FlowStore, RefreshQueue, RegistrationStore, RekeyStore,
};

/// What a store under test must be: every store port, cheap to clone for concurrent callers.
pub trait ContractStore:
    ConnectionStore
    + FlowStore
    + AuditLog
    + RegistrationStore
    + RekeyStore
    + RefreshQueue
    + ConnectSessionStore
    + EventStore
    + Clone
{
}

impl<T> ContractStore for T where
    T: ConnectionStore
        + FlowStore
        + AuditLog
        + RegistrationStore
        + RekeyStore
        + RefreshQueue
        + ConnectSessionStore
        + EventStore
        + Clone
{
}

/// What the macro's expression yields: a store, or something that owns one together with what
/// it needs kept alive (a temporary directory, a database dropped afterwards).
///
/// Every store is its own fixture; implement this for your own type to hold more.
pub trait StoreFixture {
    type Store: ContractStore;

    /// The store the case runs against.
    fn store(&self) -> Self::Store;
}

impl<S: ContractStore> StoreFixture for S {
    type Store = S;

    fn store(&self) -> S {
        self.clone()
    }
}

/// Expands into one `#[tokio::test]` per contract case, each running against a store made by the
/// given async expression. See the crate documentation.
#[macro_export]
macro_rules! contract_tests {
    ($make_store:expr $(,)?) => {
        $crate::__contract_tests! { $make_store;
            a_registration_reads_back_with_every_field,
            the_first_registration_at_an_issuer_is_kept,
            registrations_for_two_redirect_uris_at_one_issuer_are_both_kept,
            a_retired_registration_serves_its_connections_until_its_secret_expires,
            a_client_id_handed_out_again_for_another_redirect_uri_serves_it,
            a_registration_is_deleted_only_while_it_is_the_client_named,
            a_discovered_authorization_lives_and_dies_with_its_connection,
            binding_an_unknown_connection_fails_and_stores_nothing,
            registrations_outlive_connections,
            a_connection_reads_back_with_every_field,
            marking_connections_used_sets_only_their_last_used_at,
            every_status_auth_method_and_transport_is_stored,
            an_unknown_ref_id_reads_as_nothing,
            connections_are_listed_oldest_first,
            a_duplicate_ref_id_is_a_conflict_and_changes_nothing,
            the_store_answers_a_ping,
            secrets_are_returned_exactly_as_given,
            a_connection_and_its_secrets_read_back_together,
            an_update_with_the_expected_status_writes_connection_and_tokens,
            an_update_with_a_stale_status_writes_nothing,
            an_update_of_a_deleted_connection_writes_nothing,
            a_token_update_without_a_refresh_token_keeps_the_stored_one,
            a_token_update_with_a_refresh_token_replaces_both,
            clearing_tokens_forgets_both_tokens_and_keeps_the_api_key,
            keeping_secrets_leaves_them_as_they_were,
            of_twenty_concurrent_updates_from_one_status_exactly_one_wins,
            a_delete_returns_the_secrets_once,
            deleting_a_connection_deletes_its_flows_and_nothing_else,
            of_twenty_concurrent_deletes_exactly_one_gets_the_secrets,
            a_flow_stored_with_its_connection_is_taken_once_with_every_field,
            a_flow_put_later_is_taken_once_with_every_field,
            a_flow_is_taken_with_its_connection_once,
            a_flow_bound_to_a_browser_is_taken_only_with_its_hash,
            of_twenty_concurrent_callback_takes_of_one_state_exactly_one_gets_the_flow,
            an_unknown_state_takes_nothing,
            of_twenty_concurrent_takes_of_one_state_exactly_one_gets_the_flow,
            taking_expired_flows_takes_only_expired_ones_up_to_the_limit,
            concurrent_sweeps_of_expired_flows_take_each_flow_once,
            a_duplicate_flow_state_is_a_conflict_and_keeps_the_first,
            an_insert_whose_flow_is_refused_stores_no_connection,
            audit_events_read_back_in_the_order_they_were_recorded,
            audit_events_outlive_their_connection,
            every_write_records_its_events_with_it_in_order,
            audit_events_of_other_connections_are_not_returned,
            another_owners_connection_reads_as_missing_and_changes_nothing,
            each_owner_lists_only_its_own_connections,
            pending_connections_of_every_owner_are_found_before_a_cutoff,
            random_owners_and_ref_ids_never_reach_across_owners,
            pages_cover_every_connection_once_in_order,
            pages_keep_only_the_server_and_status_asked_for,
            a_tenants_users_are_listed_once_with_their_counts_by_status,
            deleting_an_owners_flows_leaves_connections_and_other_owners_flows,
            a_walk_in_batches_visits_every_sealed_value_once_and_skips_empty_ones,
            a_replacement_writes_that_field_only_and_only_over_the_bytes_it_read,
            a_replacement_loses_to_a_token_update_made_after_the_read,
            a_replacement_of_a_value_that_is_gone_writes_nothing,
            a_pkce_verifier_is_replaced_in_its_flow,
            a_client_secret_is_replaced_in_its_registration,
            a_given_clients_secret_is_replaced_in_its_binding,
            of_twenty_concurrent_replacements_of_one_value_exactly_one_wins,
            only_due_oauth_connections_are_claimed,
            a_client_credentials_connection_is_due_before_its_token_expires,
            a_claim_takes_at_most_its_limit_soonest_expiry_first,
            concurrent_claims_are_disjoint_and_miss_nothing,
            an_expired_lease_is_claimable_again,
            a_released_lease_with_a_backoff_is_not_claimed_before_its_time,
            a_lease_belongs_to_one_owner_until_released_or_over,
            of_twenty_concurrent_leases_of_one_connection_exactly_one_wins,
            due_stats_count_leased_and_backed_off_connections_too,
            a_session_reads_back_with_every_field,
            an_unknown_session_token_hash_reads_as_nothing,
            a_duplicate_session_token_hash_is_a_conflict_and_keeps_the_first,
            sweeping_sessions_deletes_only_expired_ones,
            deleting_a_users_sessions_leaves_every_other_owners,
            a_webhook_secret_and_its_previous_one_are_replaced_in_their_endpoint,
            every_connection_write_and_recorded_event_writes_its_notice_as_an_event,
            a_refused_write_writes_no_event_and_queues_no_delivery,
            an_audit_event_without_a_notice_writes_no_event,
            the_feed_lists_a_tenants_events_in_order_after_its_cursor,
            random_feed_reads_never_reach_another_tenants_or_users_events,
            deliveries_are_queued_only_for_enabled_endpoints_of_the_tenant_that_take_the_type,
            a_later_event_of_a_connection_waits_for_the_earlier_ones_delivery_or_failure,
            a_claim_takes_due_unleased_deliveries_in_order_up_to_its_limit,
            of_twenty_concurrent_claimers_no_two_get_the_same_delivery,
            every_finish_outcome_is_recorded_and_lets_the_lease_go,
            a_rounds_finishes_are_recorded_together_each_where_its_lease_is_held,
            a_gone_answer_fails_the_delivery_and_disables_its_endpoint,
            a_settled_delivery_is_retried_on_request_and_no_other,
            deliveries_are_paged_newest_first_for_the_endpoints_tenant_only,
            pruning_deletes_old_settled_events_and_keeps_those_with_pending_deliveries,
            a_webhook_reads_back_with_every_field_and_only_its_tenant_reaches_it,
            deliveries_of_a_deleted_endpoint_are_neither_claimed_nor_listed_nor_keep_their_event,
            an_update_writes_only_its_parts_and_keeps_a_gone_disable_and_the_secrets,
            a_rotation_is_written_only_over_the_secret_it_read,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($make_store:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                // The fixture lives until the end of the test, after the case.
                let fixture = $make_store.await;
                $crate::cases::$case($crate::StoreFixture::store(&fixture)).await;
            }
        )+
    };
}
