//! Every answer carries `X-Request-Id`; every error body carries the same id in
//! `details.request_id`, whichever layer produced the error.

use actix_web::test::{self as actix_test, TestRequest};

use crate::support::{KEY, Setup, UNKNOWN_REF_ID, app, get, send};

#[actix_web::test]
async fn every_error_body_carries_the_request_id_of_its_answer() {
    let app = actix_test::init_service(app(Setup::default().state())).await;
    let requests = [
        ("the key guard", TestRequest::get().uri("/assets/servers")),
        ("the fallback", get("/nowhere")),
        ("a resource's 405", TestRequest::put().uri("/assets/servers").insert_header(("X-Engine-Key", KEY))),
        (
            "the JSON extractor",
            TestRequest::post()
                .uri("/assets/connect")
                .insert_header(("X-Engine-Key", KEY))
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{"),
        ),
        ("a use case", get(&format!("/assets/connections/{UNKNOWN_REF_ID}"))),
    ];
    let mut seen = Vec::new();
    for (source, request) in requests {
        let answer = send(&app, request.to_request()).await;
        let header = answer.headers.get("x-request-id").expect("an X-Request-Id").to_str().unwrap().to_owned();
        assert_eq!(answer.body["details"]["request_id"], header.as_str(), "{source}: {}", answer.text);
        assert!(answer.body["error"].is_string(), "{source}");
        seen.push(header);
    }
    seen.dedup();
    assert_eq!(seen.len(), 5, "each request has its own id");
}

#[actix_web::test]
async fn a_successful_answer_carries_a_request_id_header_too() {
    let app = actix_test::init_service(app(Setup::default().state())).await;
    let answer = send(&app, get("/assets/servers").to_request()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers.get("x-request-id").unwrap().len(), 36, "a UUID");
}
