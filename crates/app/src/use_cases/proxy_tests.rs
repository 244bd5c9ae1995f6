//! Unit tests of the MCP proxy's use case and its tokens against mocked ports.

use bytes::Bytes;
use domain::{AuthMethod, Connection, NewConnection, RefId, ServerName, Transport};
use ports::{UpstreamMethod, UpstreamResponse};
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::PROXY_TOKEN_PREFIX;
use crate::test_support::{Mocks, NOW, empty_body, owner};

fn connection(transport: Transport, url: Option<&str>) -> Connection {
    let new = NewConnection {
        ref_id: RefId::from_random([1; 16]),
        owner: owner(),
        server_name: ServerName::parse("exa").unwrap(),
        label: None,
        display_name: None,
        url: url.map(str::to_owned),
        transport,
        auth_method: AuthMethod::None,
        exportable: true,
    };
    Connection::connected(new, NOW)
}

#[test]
fn a_legacy_message_goes_only_to_the_servers_own_origin() {
    let base = "https://mcp.example.com/v1/sse";
    assert_eq!(same_origin(base, "/messages?sessionId=a").unwrap(), "https://mcp.example.com/messages?sessionId=a");
    for foreign in ["//evil.example/x", "https://evil.example/x", "messages", "/\\evil.example", ""] {
        assert!(same_origin(base, foreign).is_err(), "{foreign}");
    }
}

#[test]
fn each_route_speaks_its_own_transport_and_stdio_is_never_proxied() {
    let http = connection(Transport::StreamableHttp, Some("https://mcp.example.com/mcp"));
    let sse = connection(Transport::Sse, Some("https://mcp.example.com/sse"));
    let stdio = connection(Transport::Stdio, None);
    assert_eq!(upstream_url(&http, &ProxyTarget::Streamable).unwrap(), "https://mcp.example.com/mcp");
    assert_eq!(upstream_url(&sse, &ProxyTarget::SseStream).unwrap(), "https://mcp.example.com/sse");
    let refused = [
        (&http, ProxyTarget::SseStream),
        (&sse, ProxyTarget::Streamable),
        (&stdio, ProxyTarget::Streamable),
        (&stdio, ProxyTarget::SseMessage("/m".into())),
    ];
    for (connection, target) in refused {
        let err = upstream_url(connection, &target).unwrap_err();
        assert!(matches!(err, Error::Validation { field: "transport", .. }), "{target:?}: {err:?}");
    }
}

#[test]
fn a_proxy_token_acts_for_its_owner_on_its_own_connection_only_until_it_expires() {
    let dir = Mocks::new().directory();
    let mine = connection(Transport::StreamableHttp, Some("https://mcp.example.com/mcp"));
    let issued = dir.issue_proxy_token(&mine);
    assert!(issued.token.expose_secret().starts_with(PROXY_TOKEN_PREFIX));
    assert_eq!(issued.expires_at, NOW.plus_seconds(900));
    assert_eq!(dir.proxy_token_owner(&issued.token, &mine.ref_id), Some(owner()));
    assert_eq!(dir.proxy_token_owner(&issued.token, &RefId::from_random([2; 16])), None, "another connection's");
    let garbage = ["", "adp_", "adp_!!!", "conn-x", "Bearer adp_x"].map(|t| SecretString::from(t.to_owned()));
    for token in garbage {
        assert_eq!(dir.proxy_token_owner(&token, &mine.ref_id), None);
    }
    let without_prefix =
        SecretString::from(issued.token.expose_secret().trim_start_matches(PROXY_TOKEN_PREFIX).to_owned());
    assert_eq!(dir.proxy_token_owner(&without_prefix, &mine.ref_id), None);
}

#[test]
fn an_expired_proxy_token_acts_for_no_one() {
    let now = Arc::new(std::sync::atomic::AtomicI64::new(NOW.unix()));
    let dir = Mocks::new().directory_at(Arc::new(ports::NoMetrics), now.clone(), Default::default());
    let mine = connection(Transport::StreamableHttp, Some("https://mcp.example.com/mcp"));
    let issued = dir.issue_proxy_token(&mine);
    now.store(NOW.unix() + 899, std::sync::atomic::Ordering::SeqCst);
    assert!(dir.proxy_token_owner(&issued.token, &mine.ref_id).is_some());
    now.store(NOW.unix() + 900, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(dir.proxy_token_owner(&issued.token, &mine.ref_id), None);
}

#[tokio::test]
async fn an_upstream_answer_passes_as_it_came_and_the_connection_is_noted_as_used() {
    let mut mocks = Mocks::new();
    let stored = connection(Transport::StreamableHttp, Some("https://mcp.example.com/mcp"));
    let read = stored.clone();
    mocks
        .connections
        .expect_get_with_secrets()
        .returning(move |_, _| Ok(Some((read.clone(), ports::StoredSecrets::default()))));
    mocks.upstream.expect_forward().times(1).returning(|request, _| {
        assert_eq!(request.url, "https://mcp.example.com/mcp");
        assert_eq!(request.method, UpstreamMethod::Post);
        assert_eq!(request.headers, [("accept".to_owned(), "application/json".to_owned())]);
        Ok(UpstreamResponse {
            status: 503,
            headers: Vec::new(),
            insufficient_scope: None,
            content_length: None,
            body: Box::pin(empty_body()),
        })
    });
    let used = stored.ref_id.clone();
    mocks.connections.expect_mark_used_any().times(1).returning(move |ids, _| {
        assert_eq!(ids, std::slice::from_ref(&used));
        Ok(())
    });
    let dir = mocks.directory();
    let request = ProxyRequest {
        method: UpstreamMethod::Post,
        target: ProxyTarget::Streamable,
        headers: vec![("accept".into(), "application/json".into())],
        body: Bytes::from_static(b"{}"),
    };
    let proxied = dir.proxy(&owner(), &stored.ref_id, request).await.unwrap();
    assert_eq!(proxied.response.status, 503, "the server's own 5xx is its answer");
    assert_eq!(dir.flush_proxy_use().await.unwrap(), 1);
    assert_eq!(dir.flush_proxy_use().await.unwrap(), 0, "written once");
}
