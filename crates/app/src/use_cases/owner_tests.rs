//! Owners (issue 15): every use case a caller reaches hands the store the caller's owner, and
//! what it writes (connections, audit events) carries it.

use std::sync::{Arc, Mutex};

use domain::{Owner, RefId, ServerName, TenantId, UserId};
use secrecy::SecretString;

use crate::test_support::Mocks;
use crate::{CallbackInput, ConnectRequest, Error};

fn bob() -> Owner {
    Owner::new(TenantId::parse("acme").unwrap(), UserId::parse("bob").unwrap())
}

fn a_ref_id() -> RefId {
    RefId::from_random([9; 16])
}

#[tokio::test]
async fn reads_and_deletes_by_ref_id_go_to_the_store_with_the_callers_owner() {
    let mut mocks = Mocks::new();
    let is_bobs = |owner: &Owner, ref_id: &RefId| *owner == bob() && *ref_id == a_ref_id();
    mocks.connections.expect_get().withf(is_bobs).times(3).returning(|_, _| Ok(None));
    mocks.connections.expect_get_with_secrets().withf(is_bobs).times(1).returning(|_, _| Ok(None));
    let directory = mocks.directory();

    let acme = ServerName::parse("acme").unwrap();
    assert!(matches!(directory.get_connection(&bob(), &a_ref_id()).await, Err(Error::ConnectionNotFound)));
    assert!(matches!(directory.credentials(&bob(), &a_ref_id()).await, Err(Error::ConnectionNotFound)));
    assert!(matches!(directory.disconnect(&bob(), &a_ref_id()).await, Err(Error::ConnectionNotFound)));
    assert!(matches!(directory.reconnect(&bob(), &acme, &a_ref_id(), None).await, Err(Error::ConnectionNotFound)));
}

#[tokio::test]
async fn a_connection_and_its_events_are_stored_as_the_callers() {
    let mut mocks = Mocks::new();
    mocks
        .connections
        .expect_insert()
        .withf(|connection, _, _, events| {
            connection.owner == bob() && events.len() == 2 && events.iter().all(|e| e.owner == bob())
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let request = ConnectRequest {
        owner: bob(),
        server_name: ServerName::parse("exa").unwrap(),
        label: None,
        api_key: Some(SecretString::from("k-1")),
        custom: None,
        return_to: None,
        browser: None,
        identity_assertion: None,
        exportable: None,
    };
    mocks.directory().connect(request).await.unwrap();
}

#[tokio::test]
async fn a_relayed_callback_takes_only_its_owners_flow_and_a_browsers_takes_by_state_alone() {
    let takes: Arc<Mutex<Vec<Option<Owner>>>> = Arc::default();
    let mut mocks = Mocks::new();
    let seen = Arc::clone(&takes);
    mocks.flows.expect_take_flow_with_connection().returning(move |_, owner, _| {
        seen.lock().unwrap().push(owner.cloned());
        Ok(None)
    });
    let directory = mocks.directory();
    let input = |owner| CallbackInput {
        state: Some(SecretString::from("s")),
        code: Some(SecretString::from("c")),
        owner,
        ..CallbackInput::default()
    };
    for owner in [Some(bob()), None] {
        let failure = directory.complete_callback(input(owner)).await.unwrap_err();
        assert!(matches!(failure.error, Error::InvalidState));
    }
    assert_eq!(*takes.lock().unwrap(), [Some(bob()), None]);
}

#[tokio::test]
async fn callers_of_two_owners_never_share_a_listing_read() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_list_page().withf(|owner, _| *owner == bob()).times(1).returning(|_, _| Ok(Vec::new()));
    mocks
        .connections
        .expect_list_page()
        .withf(|owner, _| *owner == Owner::default_owner())
        .times(1)
        .returning(|_, _| Ok(Vec::new()));
    let directory = mocks.directory();
    let (bob, default) = (bob(), Owner::default_owner());
    let page = ports::ConnectionQuery { after: None, limit: 100, server_name: None, status: None };
    let (theirs, mine) =
        tokio::join!(directory.list_connections(&bob, &page), directory.list_connections(&default, &page));
    assert!(theirs.unwrap().connections.is_empty() && mine.unwrap().connections.is_empty());
}
