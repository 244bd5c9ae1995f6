//! Connect sessions: opened for known catalog servers only, stored by the hash of a token handed
//! out once, and starting connections only as their owner, only to the servers they allow.

use std::sync::{Arc, Mutex};

use domain::{ConnectSession, Owner, ServerName, TenantId, UserId};
use secrecy::{ExposeSecret, SecretString};

use crate::test_support::{Mocks, NOW};
use crate::{ConnectRequest, CustomServer, Error, SessionRequest};

fn alice() -> Owner {
    Owner::new(TenantId::parse("acme").unwrap(), UserId::parse("alice").unwrap())
}

fn names(list: &[&str]) -> Option<Vec<ServerName>> {
    Some(list.iter().map(|n| ServerName::parse(n).unwrap()).collect())
}

fn session(allowed: Option<Vec<ServerName>>) -> ConnectSession {
    ConnectSession {
        token_hash: "ab".repeat(32),
        owner: alice(),
        allowed_servers: allowed,
        return_to: Some("https://app.example/done".into()),
        created_at: NOW,
        expires_at: NOW.plus_seconds(600),
    }
}

fn connect_to(server: &str) -> ConnectRequest {
    ConnectRequest {
        owner: Owner::default_owner(),
        server_name: ServerName::parse(server).unwrap(),
        label: None,
        api_key: Some(SecretString::from("k-1")),
        custom: None,
        return_to: None,
        browser: None,
        identity_assertion: None,
        exportable: None,
    }
}

#[tokio::test]
async fn an_opened_session_stores_only_the_hash_of_its_token_for_its_owner_until_the_ttl() {
    let stored: Arc<Mutex<Vec<ConnectSession>>> = Arc::default();
    let mut mocks = Mocks::new();
    let keep = Arc::clone(&stored);
    mocks.sessions.expect_add_session().returning(move |s| {
        keep.lock().unwrap().push(s.clone());
        Ok(())
    });
    let request = SessionRequest { owner: alice(), allowed_servers: names(&["exa", "acme", "exa"]), return_to: None };

    let opened = mocks.directory().open_session(request).await.unwrap();

    let stored = stored.lock().unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, opened.token.expose_secret());
    assert_eq!(stored[0].token_hash, crate::flow::state_hash(opened.token.expose_secret()));
    assert_eq!(stored[0].owner, alice());
    assert_eq!(stored[0].allowed_servers, names(&["acme", "exa"]), "sorted, each once");
    assert_eq!((stored[0].created_at, opened.expires_at), (NOW, NOW.plus_seconds(600)));
}

#[tokio::test]
async fn a_session_naming_an_unknown_or_no_server_or_a_foreign_return_to_is_refused_and_stores_nothing() {
    let mocks = Mocks::new(); // no add_session expected: storing anything panics
    let directory = mocks.directory();
    let refused = [
        SessionRequest { owner: alice(), allowed_servers: names(&["exa", "nope"]), return_to: None },
        SessionRequest { owner: alice(), allowed_servers: names(&[]), return_to: None },
        SessionRequest { owner: alice(), allowed_servers: None, return_to: Some("https://evil.example/".into()) },
    ];
    let fields = ["allowed_servers", "allowed_servers", "return_to"];
    for (request, expected) in refused.into_iter().zip(fields) {
        let error = directory.open_session(request).await.unwrap_err();
        assert!(matches!(error, Error::Validation { field, .. } if field == expected), "{error:?}");
    }
}

#[tokio::test]
async fn an_expired_or_unknown_token_finds_no_session() {
    let mut mocks = Mocks::new();
    let expired = ConnectSession { expires_at: NOW, ..session(None) };
    mocks
        .sessions
        .expect_session()
        .returning(move |hash| Ok((hash == crate::flow::state_hash("expired")).then(|| expired.clone())));
    let directory = mocks.directory();

    assert_eq!(directory.session_by_token("expired").await.unwrap(), None);
    assert_eq!(directory.session_by_token("unknown").await.unwrap(), None);
    assert_eq!(directory.session_by_token("").await.unwrap(), None);
}

#[tokio::test]
async fn a_session_connects_as_its_owner_and_only_to_the_servers_it_allows() {
    let mut mocks = Mocks::new();
    mocks
        .connections
        .expect_insert()
        .withf(|connection, _, _, _| connection.owner == alice() && connection.server_name.as_str() == "exa")
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let directory = mocks.directory();
    let only_exa = session(names(&["exa"]));

    directory.connect_in_session(&only_exa, connect_to("exa")).await.unwrap();
    let error = directory.connect_in_session(&only_exa, connect_to("acme")).await.unwrap_err();
    assert!(matches!(error, Error::Validation { field: "server_name", .. }), "{error:?}");
}

#[tokio::test]
async fn a_session_never_connects_a_custom_server_even_when_it_allows_any() {
    let directory = Mocks::new().directory();
    let custom = CustomServer { url: "https://mcp.example/mcp".into(), ..CustomServer::default() };
    let request = ConnectRequest { api_key: None, custom: Some(custom), ..connect_to("my-server") };

    let error = directory.connect_in_session(&session(None), request).await.unwrap_err();
    assert!(matches!(error, Error::Validation { field: "server_config", .. }), "{error:?}");
}

#[tokio::test]
async fn a_flow_started_with_a_browser_nonce_is_stored_bound_to_its_hash_and_the_callback_presents_it() {
    let nonce = SecretString::from("nonce-0123456789abcdefghijklmnopqrstuvwxyz0");
    let expected = crate::flow::state_hash(nonce.expose_secret());
    let mut mocks = Mocks::new();
    let bound = expected.clone();
    mocks
        .connections
        .expect_insert()
        .withf(move |_, _, flow, _| flow.as_ref().is_some_and(|f| f.browser_hash.as_deref() == Some(&bound)))
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let presented = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&presented);
    mocks.flows.expect_take_flow_with_connection().returning(move |_, _, browser| {
        seen.lock().unwrap().push(browser.map(str::to_owned));
        Ok(None)
    });
    let directory = mocks.directory();
    let request = ConnectRequest { api_key: None, browser: Some(nonce.clone()), ..connect_to("acme") };
    directory.connect_in_session(&session(None), request).await.unwrap();

    for browser in [Some(nonce), None] {
        let input = crate::CallbackInput {
            state: Some(SecretString::from("s")),
            code: Some(SecretString::from("c")),
            browser,
            ..crate::CallbackInput::default()
        };
        let failure = directory.complete_callback(input).await.unwrap_err();
        assert!(matches!(failure.error, Error::InvalidState), "{:?}", failure.error);
    }
    assert_eq!(*presented.lock().unwrap(), vec![Some(expected), None], "the hash, never the nonce");
}
