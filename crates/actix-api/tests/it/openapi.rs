//! The OpenAPI document against the app that serves it: every documented operation is routed to
//! exactly its pattern, no undocumented method is served on a documented path, the key
//! requirement is what the document says, and every `$ref` resolves.

use actix_api::{ErrorCode, Exposure};
use actix_web::http::Method;
use actix_web::test::{self as actix_test, TestRequest};
use serde_json::Value;

use crate::support::{KEY, Setup, UNKNOWN_REF_ID, app, get, send};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(method, path pattern, keyless)` of every operation in `doc`.
fn operations(doc: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                let keyless = operation["security"].as_array().is_some_and(Vec::is_empty);
                out.push((method.clone(), path.clone(), keyless));
            }
        }
    }
    out
}

fn request(method: &str, pattern: &str) -> TestRequest {
    let path = pattern.replace("{ref_id}", UNKNOWN_REF_ID).replace("{key}", &app::issuer_key("https://as.example"));
    let request =
        TestRequest::default().method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap()).uri(&path);
    if method == "post" { request.set_json(serde_json::json!({"server_name": "open"})) } else { request }
}

async fn document(setup: Setup) -> Value {
    let app = actix_test::init_service(app(setup.state())).await;
    let answer = send(&app, get("/openapi.json").to_request()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

#[actix_web::test]
async fn every_documented_operation_is_served_at_exactly_its_pattern() {
    let setup = Setup::default();
    let doc = document(setup).await;
    let app = actix_test::init_service(app(setup.state())).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 14, "{ops:?}");
    for (method, pattern, _) in &ops {
        let answer = send(&app, request(method, pattern).insert_header(("X-Engine-Key", KEY)).to_request()).await;
        let code = answer.body["error"].as_str().unwrap_or_default();
        assert!(!["NOT_FOUND", "METHOD_NOT_ALLOWED"].contains(&code), "{method} {pattern}: {}", answer.text);
    }
    // The app's own request metrics name the pattern its router matched for each request.
    let metrics = send(&app, get("/metrics").to_request()).await.text;
    for (method, pattern, _) in &ops {
        let label = format!("method=\"{}\",route=\"{pattern}\"", method.to_uppercase());
        assert!(metrics.contains(&label), "{method} {pattern} was not routed to its own pattern");
    }
}

#[actix_web::test]
async fn no_method_the_document_leaves_out_is_served() {
    let setup = Setup::default();
    let doc = document(setup).await;
    let app = actix_test::init_service(app(setup.state())).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let answer = send(&app, request(method, path).insert_header(("X-Engine-Key", KEY)).to_request()).await;
            assert_eq!(
                (answer.status, answer.body["error"].as_str()),
                (405, Some("METHOD_NOT_ALLOWED")),
                "{method} {path}"
            );
        }
    }
}

async fn key_requirement_matches_the_document(exposure: Exposure) -> Vec<String> {
    let setup = Setup { exposure, ..Setup::default() };
    let doc = document(setup).await;
    let app = actix_test::init_service(app(setup.state())).await;
    let mut keyless = Vec::new();
    for (method, pattern, documented_keyless) in operations(&doc) {
        let answer = send(&app, request(&method, &pattern).to_request()).await;
        let refused = answer.status == 401 && answer.body["error"] == "INVALID_KEY";
        assert_eq!(refused, !documented_keyless, "{method} {pattern} without a key: {}", answer.text);
        if documented_keyless {
            keyless.push(format!("{method} {pattern}"));
        }
    }
    keyless.sort();
    keyless
}

#[actix_web::test]
async fn only_health_the_browser_callback_the_client_metadata_and_the_public_keys_answer_without_a_key_by_default() {
    let keyless = key_requirement_matches_the_document(Exposure::default()).await;
    assert_eq!(
        keyless,
        [
            "get /assets/oauth/callback",
            "get /assets/oauth/callback/{key}",
            "get /health",
            "get /health/live",
            "get /health/ready",
            "get /oauth/client-metadata.json",
            "get /oauth/client-metadata/{key}.json",
            "get /oauth/jwks.json"
        ]
    );
}

#[actix_web::test]
async fn metrics_and_the_document_can_be_made_public() {
    let keyless = key_requirement_matches_the_document(Exposure { openapi_public: true, metrics_public: true }).await;
    assert!(keyless.contains(&"get /metrics".to_owned()) && keyless.contains(&"get /openapi.json".to_owned()));
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let doc = document(Setup::default()).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 10);
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
    }
}

#[actix_web::test]
async fn the_document_lists_every_error_code_with_its_status_and_the_key_scheme() {
    let doc = document(Setup::default()).await;
    let schema = &doc["components"]["schemas"]["ErrorCode"];
    let listed: Vec<&str> = schema["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let description = schema["description"].as_str().unwrap();
    for code in ErrorCode::ALL {
        assert!(listed.contains(&code.as_str()), "{code:?}");
        assert!(description.contains(&format!("| `{}` | {} |", code.as_str(), code.status().as_u16())), "{code:?}");
    }
    let scheme = &doc["components"]["securitySchemes"]["engine_key"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["in"].as_str(), scheme["name"].as_str()),
        (Some("apiKey"), Some("header"), Some("X-Engine-Key"))
    );
    let keyed = &doc["paths"]["/assets/servers"]["get"]["responses"]["401"];
    assert!(keyed["description"].as_str().unwrap().contains("INVALID_KEY"), "{keyed}");
    assert!(doc["paths"]["/health"]["get"]["responses"].get("401").is_none());
}

#[actix_web::test]
async fn every_route_is_registered_through_an_endpoint() {
    // A route added with actix's own builders would be served without being documented.
    let forbidden = [
        "web::resource(",
        "web::scope(",
        "web::route(",
        "web::get()",
        "web::post()",
        "web::put()",
        "web::patch()",
        "web::delete()",
        "web::method(",
        ".route(",
        "#[get(",
        "#[post(",
    ];
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "endpoint.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for pattern in forbidden {
                    assert!(!text.contains(pattern), "{} registers a route with {pattern}", path.display());
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10);
}

#[actix_web::test]
async fn bodies_that_refuse_unknown_fields_say_so_in_the_document() {
    let doc = document(Setup::default()).await;
    let schemas = &doc["components"]["schemas"];
    for name in ["CallbackParams", "ConnectBody", "ServerConfigBody"] {
        assert_eq!(schemas[name]["additionalProperties"], serde_json::json!(false), "{name}");
    }
}

#[actix_web::test]
async fn a_connection_documents_its_optional_label_and_account_with_examples() {
    let doc = document(Setup::default()).await;
    let connection = &doc["components"]["schemas"]["ConnectionDto"];
    assert_eq!(connection["properties"]["account"]["example"], "ada@example.com", "{connection}");
    assert_eq!(connection["properties"]["label"]["example"], "work");
    let required = connection["required"].as_array().expect("required");
    assert!(!required.contains(&"account".into()) && !required.contains(&"label".into()), "both may be absent");
}

/// Every operation that acts for a caller (the keyed routes of the API, not `/metrics` nor
/// `/openapi.json`) declares the optional `X-End-User-Id` header and the `422` a malformed one
/// gets, and a malformed one is refused there; no other operation declares it. (The hosted
/// connect page acts for the user of the session in its cookie, never for a header.)
#[actix_web::test]
async fn every_keyed_operation_declares_the_optional_end_user_header_and_refuses_a_malformed_one() {
    let setup = Setup::default();
    let doc = document(setup).await;
    let app = actix_test::init_service(app(setup.state())).await;
    let mut declared = 0;
    for (method, path, keyless) in operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        let header = operation["parameters"].as_array().into_iter().flatten().find(|p| p["name"] == "X-End-User-Id");
        let acts_for_caller = !keyless && path.starts_with("/assets/") && !path.starts_with("/assets/connect-page");
        assert_eq!(header.is_some(), acts_for_caller, "{method} {path}");
        let Some(header) = header else { continue };
        declared += 1;
        assert_eq!((header["in"].as_str(), header["required"].as_bool()), (Some("header"), Some(false)), "{path}");
        assert!(operation["responses"]["422"].is_object(), "{method} {path} documents its 422");
        let malformed =
            request(&method, &path).insert_header(("X-Engine-Key", KEY)).insert_header(("X-End-User-Id", "a b"));
        let answer = send(&app, malformed.to_request()).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (422, Some("VALIDATION_ERROR")), "{method} {path}");
    }
    assert!(declared >= 7, "{declared}");
}

#[actix_web::test]
async fn only_the_connect_operation_accepts_a_connect_session_token_in_the_document() {
    let doc = document(Setup::default()).await;
    let scheme = &doc["components"]["securitySchemes"]["connect_session"];
    assert_eq!((scheme["type"].as_str(), scheme["scheme"].as_str()), (Some("http"), Some("bearer")));
    let mut accepting = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let schemes = operation["security"].as_array().into_iter().flatten();
            if schemes.filter_map(Value::as_object).any(|s| s.contains_key("connect_session")) {
                accepting.push(format!("{method} {path}"));
            }
        }
    }
    assert_eq!(accepting, ["post /assets/connect"]);
    assert_eq!(doc["paths"]["/assets/connect"]["post"]["security"].as_array().unwrap().len(), 2, "either scheme");
    assert!(doc["paths"]["/assets/connect-sessions"]["post"].is_object(), "the route that opens one is documented");
}
