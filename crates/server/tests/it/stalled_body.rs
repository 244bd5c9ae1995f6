//! A request whose body stalls is answered `408 REQUEST_TIMEOUT` after
//! `REQUEST_BODY_TIMEOUT_SECONDS`, and its connection closed: a client cannot hold a socket (and
//! a worker's attention) for ever by promising bytes it never sends.

use crate::helpers::{ENGINE_KEY, Spawn, TestApp};
use crate::raw_http::{RawAnswer, exchange};

async fn spawn_impatient() -> TestApp {
    Spawn::default().var("REQUEST_BODY_TIMEOUT_SECONDS", "1").start().await
}

fn assert_request_timeout(answer: &RawAnswer) {
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    let body = answer.json();
    assert_eq!(body["error"], "REQUEST_TIMEOUT", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["details"]["request_id"].is_string(), "{body}");
}

#[tokio::test]
async fn a_body_that_stops_short_of_its_content_length_is_request_timeout_and_the_socket_closed() {
    let app = spawn_impatient().await;
    let head = format!(
        "POST /assets/connect HTTP/1.1\r\nHost: localhost\r\nX-Engine-Key: {ENGINE_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"server_name\": "
    );
    assert_request_timeout(&exchange(&app.address, head.into_bytes()).await);
    let listed: Vec<serde_json::Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert!(listed.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_chunked_body_that_stalls_is_request_timeout_and_the_socket_closed() {
    let app = spawn_impatient().await;
    let head = format!(
        "POST /assets/callback HTTP/1.1\r\nHost: localhost\r\nX-Engine-Key: {ENGINE_KEY}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"sta\r\n"
    );
    assert_request_timeout(&exchange(&app.address, head.into_bytes()).await);
}

#[tokio::test]
async fn a_stalled_chunked_body_the_route_refuses_unread_is_answered_and_the_socket_closed() {
    let app = spawn_impatient().await;
    let head = "POST /assets/connect HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n5\r\n{\"ser\r\n";
    let answer = exchange(&app.address, head.as_bytes().to_vec()).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.json()["error"], "INVALID_KEY");
}
