//! Request metrics are labelled by route pattern, never by the path a caller sent.

use actix_web::test as actix_test;

use crate::support::{Setup, app, get, send};

#[actix_web::test]
async fn a_ref_id_or_an_unknown_path_never_becomes_a_label() {
    let app = actix_test::init_service(app(Setup::default().state())).await;
    let ref_id = "conn-zzzzzzzzzzzzzzzzzzzzzzzzzz";
    assert_eq!(send(&app, get(&format!("/assets/connections/{ref_id}/credentials")).to_request()).await.status, 404);
    send(&app, get("/assets/sk-live-guessed-secret").to_request()).await;
    send(&app, get("/health?token=sk-live-in-a-query").to_request()).await;
    let metrics = send(&app, get("/metrics").to_request()).await;
    assert_eq!(metrics.headers.get("content-type").unwrap(), "text/plain; version=0.0.4; charset=utf-8");
    let text = metrics.text;
    assert!(text.contains(r#"route="/assets/connections/{ref_id}/credentials",status="404""#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains(r#"route="/health",status="200""#), "{text}");
    for leaked in [ref_id, "sk-live"] {
        assert!(!text.contains(leaked), "{leaked} became a label");
    }
}
