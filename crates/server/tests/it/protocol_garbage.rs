//! Protocol-level garbage is the client's fault: the built binary, its logs going to a pipe as
//! in a container, is sent bytes no HTTP library would send. Nothing is logged at ERROR, no log
//! line carries an ANSI colour code, and every answer the service itself gives is the contract's
//! JSON (a request actix-http cannot parse is answered by actix-http, before any of our code).

use crate::helpers::ENGINE_KEY;
use crate::raw_http::{RawAnswer, exchange};
use crate::served::{Served, without_escapes};

fn assert_contract_json(answer: &RawAnswer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("application/json"), "{answer:?}");
    assert_eq!(answer.json()["error"], code, "{answer:?}");
}

/// Requests actix-http refuses while parsing the head: it answers `400` itself.
const UNPARSABLE: &[&[u8]] = &[
    b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\x01b\r\n\r\n",
    b"GET /assets/\xff\xfe HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"POST /assets/connect HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
      Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
];

#[tokio::test]
async fn protocol_garbage_is_logged_below_error_without_colour_codes_and_answered_in_the_contract_where_we_can() {
    let served = Served::start(&[]);
    for request in UNPARSABLE {
        let answer = exchange(&served.address, request.to_vec()).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    }
    // What parses as HTTP reaches the service, which answers in the contract's format.
    let close = "Host: localhost\r\nConnection: close";
    let not_utf8_path =
        format!("GET /assets/connections/%FF%FE HTTP/1.1\r\n{close}\r\nX-Engine-Key: {ENGINE_KEY}\r\n\r\n");
    let answer = exchange(&served.address, not_utf8_path.into_bytes()).await;
    assert_contract_json(&answer, 404, "CONNECTION_NOT_FOUND");
    let answer = exchange(&served.address, format!("GET /%FF%FE HTTP/1.1\r\n{close}\r\n\r\n").into_bytes()).await;
    assert_contract_json(&answer, 404, "NOT_FOUND");
    let mut not_utf8_key = format!("GET /assets/servers HTTP/1.1\r\n{close}\r\nX-Engine-Key: ").into_bytes();
    not_utf8_key.extend_from_slice(b"\xff\xfe\r\n\r\n");
    assert_contract_json(&exchange(&served.address, not_utf8_key).await, 401, "INVALID_KEY");

    let logged = served.stop();
    let coloured: Vec<_> = logged.iter().filter(|l| l.contains('\u{1b}')).collect();
    assert!(coloured.is_empty(), "colour codes in logs written to a pipe: {coloured:?}");
    let logged: Vec<String> = logged.iter().map(|l| without_escapes(l)).collect();
    let errors: Vec<_> = logged.iter().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "a client's garbage logged as the service's error: {errors:?}");
    let warned = logged.iter().filter(|l| l.contains(" WARN ") && l.contains("protocol error")).count();
    assert_eq!(warned, UNPARSABLE.len(), "each unparsable request is logged once, at WARN: {logged:#?}");
}
