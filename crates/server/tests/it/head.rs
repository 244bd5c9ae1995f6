//! `HEAD` answers wherever `GET` does (RFC 9110 §9.3.2): the same status and headers, no body.
//! Load balancers probe `/health` that way.

use reqwest::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::oauth_flow::{spawn_with_auth, start_flow};

/// The OAuth redirect targets (this and `…/{key}`), whose `GET` spends a flow: they serve no
/// `HEAD` (see below).
const CALLBACK: &str = "/assets/oauth/callback";

/// The MCP proxy's streams, whose `GET` opens a stream at the connection's server: no `HEAD`
/// either (a probe must not call the server).
const PROXY_STREAMS: [&str; 2] = ["/assets/connections/{ref_id}/mcp", "/assets/connections/{ref_id}/sse"];

/// Every path the OpenAPI document serves `GET` on, its `{ref_id}` filled in with `ref_id`.
async fn get_paths(app: &TestApp, ref_id: &str) -> Vec<String> {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().expect("the document has paths");
    let served = paths.iter().filter(|(p, item)| {
        item.get("get").is_some() && !p.starts_with(CALLBACK) && !PROXY_STREAMS.contains(&p.as_str())
    });
    served.map(|(p, _)| p.replace("{ref_id}", ref_id)).collect()
}

async fn send(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.header("X-Engine-Key", key);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn head_answers_every_get_route_with_its_status_and_headers_and_no_body() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "open"})).await;
    let ref_id = created["ref_id"].as_str().unwrap();
    let paths = get_paths(&app, ref_id).await;
    assert!(paths.iter().any(|p| p == "/health"), "{paths:?}");
    for path in &paths {
        for key in [Some(app.key.as_str()), None] {
            let (get_status, get_headers, get_body) = send(&app, Method::GET, path, key).await;
            let (status, headers, body) = send(&app, Method::HEAD, path, key).await;
            assert_eq!(status, get_status, "HEAD {path} (key: {})", key.is_some());
            assert_eq!(headers.get(CONTENT_TYPE), get_headers.get(CONTENT_TYPE), "HEAD {path}");
            assert_eq!(headers.contains_key(CONTENT_LENGTH), get_headers.contains_key(CONTENT_LENGTH), "HEAD {path}");
            assert!(body.is_empty(), "HEAD {path} answered a body");
            assert!(!get_body.is_empty(), "GET {path} has a body, so the comparison means something");
        }
    }
}

#[tokio::test]
async fn head_tells_the_length_get_would_send() {
    let app = spawn_app().await;
    for path in ["/assets/servers", "/openapi.json"] {
        let (_, get_headers, get_body) = send(&app, Method::GET, path, Some(&app.key)).await;
        let (status, headers, _) = send(&app, Method::HEAD, path, Some(&app.key)).await;
        assert_eq!(status, StatusCode::OK, "HEAD {path}");
        assert_eq!(headers.get(CONTENT_LENGTH), get_headers.get(CONTENT_LENGTH), "HEAD {path}");
        assert_eq!(headers[CONTENT_LENGTH].to_str().unwrap(), get_body.len().to_string(), "HEAD {path}");
    }
}

#[tokio::test]
async fn head_still_needs_the_key_where_get_does_and_is_listed_in_allow() {
    let app = spawn_app().await;
    let (status, _, body) = send(&app, Method::HEAD, "/assets/connections", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.is_empty());
    let (status, headers, _) = send(&app, Method::PUT, "/health", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[ALLOW], "GET, HEAD");
    let (status, headers, _) = send(&app, Method::HEAD, "/assets/connect", Some(&app.key)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "HEAD only where GET is served");
    assert_eq!(headers[ALLOW], "POST");
}

#[tokio::test]
async fn head_on_the_oauth_redirect_target_is_refused_and_leaves_the_flow_to_the_browser() {
    let (app, _auth) = spawn_with_auth(test_oauth_server::TestAuthConfig::default()).await;
    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme"})).await;
    let probe = app.client.head(&callback).send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(probe.headers()[ALLOW], "GET");
    let done = app.client.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK, "the probe did not spend the state");
    let done: Value = done.json().await.unwrap();
    assert_eq!((done["ref_id"].as_str(), done["status"].as_str()), (Some(ref_id.as_str()), Some("connected")));
}

#[tokio::test]
async fn head_on_the_proxys_streams_is_refused_and_never_reaches_the_server() {
    let app = spawn_app().await;
    let created = app.connect(json!({"server_name": "open"})).await;
    let ref_id = created["ref_id"].as_str().unwrap();
    for path in PROXY_STREAMS {
        let path = path.replace("{ref_id}", ref_id);
        let (status, headers, _) = send(&app, Method::HEAD, &path, Some(&app.key)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "HEAD {path}");
        assert!(headers[ALLOW].to_str().unwrap().contains("GET") && !headers[ALLOW].to_str().unwrap().contains("HEAD"));
    }
}
