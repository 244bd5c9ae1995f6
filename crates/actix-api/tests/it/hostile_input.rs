//! Outside input through the real extractors and routes: arbitrary bytes and arbitrary JSON as
//! request bodies, arbitrary query strings on the OAuth redirect target and arbitrary path
//! segments as `ref_id`. Every answer must be a success or a contract error (a known code with
//! its own status and a message), never a 5xx, and no error repeats the secrets it was sent.
//!
//! Generated custom-server URLs never start with `http`, so no case reaches discovery, which
//! these mocked ports do not answer (discovery has its own property tests in `oauth-adapter`).

use actix_api::ErrorCode;
use actix_web::test::{self as actix_test, TestRequest};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::support::{Answer, KEY, Setup, app, send};

const CASES: u32 = 256;

/// The answer is a success, or an error body in the contract's format with its code's status.
fn contract_answer(answer: &Answer, secrets: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(answer.status < 500, "a {} answer: {}", answer.status, answer.text);
    if answer.status >= 400 {
        let code = answer.body["error"].as_str().unwrap_or_default();
        let known = ErrorCode::ALL.iter().find(|c| c.as_str() == code);
        prop_assert!(known.is_some(), "an unknown error code: {}", answer.text);
        prop_assert_eq!(known.map(|c| c.status().as_u16()), Some(answer.status), "{}", answer.text);
        prop_assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.text);
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            prop_assert!(!answer.text.contains(secret), "the error repeats a secret: {}", answer.text);
        }
    }
    Ok(())
}

/// Runs `strategy` through `check` with one app, on one actix runtime, `CASES` times.
fn each<S: Strategy>(
    strategy: S,
    check: impl Fn(S::Value, &dyn Fn(TestRequest) -> Answer) -> Result<(), TestCaseError>,
) {
    let system = actix_web::rt::System::new();
    let app = system.block_on(actix_test::init_service(app(Setup::default().state())));
    let call = |request: TestRequest| system.block_on(send(&app, request.to_request()));
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    runner.run(&strategy, |value| check(value, &call)).unwrap();
}

fn post_json(path: &str, body: Vec<u8>) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("X-Engine-Key", KEY))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body)
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A string, or (now and then) any other JSON value in its place.
fn field(strings: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = Value> {
    prop_oneof![4 => strings.prop_map(Value::String), 1 => json_value()]
}

/// An object with some of `fields` (each as `field` makes it) and maybe an unknown one.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let picks: Vec<_> = fields.into_iter().map(|(name, s)| prop::option::of(s).prop_map(move |v| (name, v))).collect();
    (picks, prop::option::of(json_value())).prop_map(|(picked, extra)| {
        let mut map = Map::new();
        for (name, value) in picked {
            if let Some(v) = value {
                map.insert(name.to_owned(), v);
            }
        }
        if let Some(v) = extra {
            map.insert("unexpected".to_owned(), v);
        }
        Value::Object(map)
    })
}

fn connect_body() -> impl Strategy<Value = Value> {
    let not_http = ".{0,40}".prop_filter("no discovery", |u: &String| !u.to_ascii_lowercase().starts_with("http"));
    let config = object(vec![
        ("api_key", field("[A-Za-z0-9]{8,32}").boxed()),
        ("url", field(not_http).boxed()),
        ("transport", field(prop_oneof![Just("sse".to_owned()), Just("stdio".to_owned()), ".{0,12}".boxed()]).boxed()),
        ("display_name", field(".{0,40}").boxed()),
        ("ref_id", field(prop_oneof![Just("conn-aaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned()), ".{0,40}".boxed()]).boxed()),
    ]);
    object(vec![
        (
            "server_name",
            field(prop_oneof![Just("open".to_owned()), "[a-z_-]{0,20}".boxed(), ".{0,20}".boxed()]).boxed(),
        ),
        ("server_config", prop_oneof![4 => config, 1 => json_value()].boxed()),
        ("return_to", field(".{0,60}").boxed()),
    ])
}

fn callback_body() -> impl Strategy<Value = Value> {
    object(vec![
        ("code", field("[A-Za-z0-9_-]{8,40}").boxed()),
        ("state", field("[A-Za-z0-9_-]{8,60}").boxed()),
        ("iss", field(".{0,40}").boxed()),
        ("error", field(prop_oneof![Just("access_denied".to_owned()), ".{0,20}".boxed()]).boxed()),
        ("error_description", field(".{0,80}").boxed()),
    ])
}

/// The string values of a JSON object's code, state and API key: what no error may repeat.
fn secrets_of(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["code", "state"] {
        out.extend(body[name].as_str().map(str::to_owned));
    }
    out.extend(body["server_config"]["api_key"].as_str().map(str::to_owned));
    out
}

fn percent_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| if b.is_ascii_alphanumeric() { (*b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[test]
fn arbitrary_bytes_as_a_json_body_get_a_contract_answer() {
    let bytes = prop::collection::vec(any::<u8>(), 0..512);
    let paths = prop_oneof![Just("/assets/connect"), Just("/assets/callback")];
    each((paths, bytes), |(path, bytes), call| contract_answer(&call(post_json(path, bytes)), &[]));
}

#[test]
fn arbitrary_connect_bodies_get_a_contract_answer_that_never_repeats_the_api_key() {
    each(connect_body(), |body, call| {
        let answer = call(post_json("/assets/connect", body.to_string().into_bytes()));
        let secrets = secrets_of(&body);
        contract_answer(&answer, &secrets.iter().map(String::as_str).collect::<Vec<_>>())?;
        let key = body["server_config"]["api_key"].as_str().filter(|k| k.len() >= 8);
        prop_assert!(key.is_none_or(|k| !answer.text.contains(k)), "an answer repeats the API key");
        Ok(())
    });
}

#[test]
fn arbitrary_callback_bodies_get_a_contract_answer_that_never_repeats_code_or_state() {
    each(callback_body(), |body, call| {
        let answer = call(post_json("/assets/callback", body.to_string().into_bytes()));
        prop_assert_ne!(answer.status, 200, "no flow exists, so no callback succeeds");
        contract_answer(&answer, &secrets_of(&body).iter().map(String::as_str).collect::<Vec<_>>())
    });
}

#[test]
fn arbitrary_query_strings_on_the_redirect_target_get_a_contract_answer() {
    let pairs = prop::collection::vec(
        (
            prop_oneof![Just("code"), Just("state"), Just("iss"), Just("error"), Just("error_description"), Just("x")],
            prop::collection::vec(any::<u8>(), 0..48),
        ),
        0..8,
    );
    // Raw text in the characters a URI allows, so broken escapes (`%zz`, `%`) and odd
    // separators reach the query parser as sent.
    let raw = "[A-Za-z0-9%&=+;._~-]{0,120}";
    each((pairs, raw), |(pairs, raw), call| {
        let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        for query in [encoded.join("&"), raw] {
            let answer = call(TestRequest::get().uri(&format!("/assets/oauth/callback?{query}")));
            prop_assert_ne!(answer.status, 200, "no flow exists, so no callback succeeds");
            contract_answer(&answer, &[])?;
        }
        Ok(())
    });
}

#[test]
fn arbitrary_ref_ids_in_the_path_get_a_contract_answer() {
    each(prop::collection::vec(any::<u8>(), 0..64), |bytes, call| {
        let segment = percent_encode(&bytes);
        for suffix in ["", "/credentials"] {
            let uri = format!("/assets/connections/{segment}{suffix}");
            for request in [TestRequest::get(), TestRequest::delete()] {
                let answer = call(request.uri(&uri).insert_header(("X-Engine-Key", KEY)));
                prop_assert!(answer.status >= 400, "no connection exists: {}", answer.text);
                contract_answer(&answer, &[])?;
            }
        }
        Ok(())
    });
}

#[actix_web::test]
async fn a_well_formed_connect_body_succeeds_so_the_properties_are_not_vacuous() {
    let app = actix_test::init_service(app(Setup::default().state())).await;
    let request = post_json("/assets/connect", json!({"server_name": "open"}).to_string().into_bytes());
    let answer = send(&app, request.to_request()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[actix_web::test]
async fn an_unserved_method_answers_405_with_the_allow_header_naming_the_served_ones() {
    let app = actix_test::init_service(app(Setup::default().state())).await;
    let cases = [
        (TestRequest::with_uri("/assets/connect").method(actix_web::http::Method::TRACE), "POST"),
        (TestRequest::put().uri("/assets/connections/conn-aaaaaaaaaaaaaaaaaaaaaaaaaa"), "GET, HEAD, DELETE"),
        (TestRequest::delete().uri("/health"), "GET, HEAD"),
    ];
    for (request, allowed) in cases {
        let answer = send(&app, request.insert_header(("X-Engine-Key", KEY)).to_request()).await;
        assert_eq!(answer.status, 405, "{}", answer.text);
        assert_eq!(answer.body["error"], "METHOD_NOT_ALLOWED");
        assert_eq!(answer.headers.get("allow").and_then(|v| v.to_str().ok()), Some(allowed));
    }
}
