use proptest::prelude::*;
use secrecy::ExposeSecret;
use serde_json::json;

use super::*;

const ISSUER: &str = "https://auth.example/tenant";
const RESOURCE: &str = "https://mcp.example/mcp";

fn server_doc() -> Value {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://auth.example/tenant/authorize",
        "token_endpoint": "https://auth.example/tenant/token",
        "registration_endpoint": "https://auth.example/tenant/register",
        "code_challenge_methods_supported": ["plain", "S256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["read", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
    })
}

fn with(mut doc: Value, key: &str, value: Value) -> Vec<u8> {
    if value.is_null() {
        doc.as_object_mut().unwrap().remove(key);
    } else {
        doc[key] = value;
    }
    doc.to_string().into_bytes()
}

fn request() -> RegistrationRequest {
    RegistrationRequest {
        client_name: "Asset Directory".into(),
        redirect_uri: "https://ad.example/assets/oauth/callback".into(),
        auth: TokenEndpointAuth::ClientSecretBasic,
        scopes: Scopes::empty(),
    }
}

#[test]
fn a_complete_server_document_decodes() {
    let m = decode_server(server_doc().to_string().as_bytes(), ISSUER).unwrap();
    assert_eq!(m.token_endpoint, "https://auth.example/tenant/token");
    assert_eq!(m.revocation_endpoint, None);
    assert!(m.iss_parameter_supported && !m.client_id_metadata_document_supported);
    assert!(m.accepts_auth_method(TokenEndpointAuth::ClientSecretPost));
    assert!(!m.accepts_auth_method(TokenEndpointAuth::ClientSecretBasic));
    assert!(m.scopes_supported.unwrap().contains("offline_access"));
}

#[test]
fn a_server_document_for_another_issuer_or_with_malformed_fields_is_refused() {
    let cases = [
        (with(server_doc(), "issuer", json!("https://auth.example/tenant/")), "`issuer`"),
        (with(server_doc(), "issuer", json!("https://evil.example")), "`issuer`"),
        (with(server_doc(), "token_endpoint", json!("/token")), "`token_endpoint`"),
        (with(server_doc(), "authorization_endpoint", json!("/authorize")), "`authorization_endpoint`"),
        (with(server_doc(), "scopes_supported", json!(["a b"])), "`scopes_supported`"),
        (with(server_doc(), "authorization_response_iss_parameter_supported", json!("yes")), "boolean"),
        (b"[1,2]".to_vec(), "JSON object"),
        (b"<html>".to_vec(), "not JSON"),
    ];
    for (body, expected) in cases {
        let err = decode_server(&body, ISSUER).unwrap_err();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains("evil") && !err.contains("<html>"), "no value is quoted: {err}");
    }
}

#[test]
fn a_resource_document_must_name_the_resource_it_was_fetched_for() {
    let doc = json!({"resource": "HTTPS://MCP.example:443/mcp", "authorization_servers": [ISSUER]});
    let decoded = decode_resource(doc.to_string().as_bytes(), RESOURCE).unwrap();
    assert_eq!(decoded.authorization_servers, [ISSUER]);
    for (resource, servers) in [
        (json!("https://mcp.example/other"), json!([ISSUER])),
        (json!("https://mcp.example/mcp#x"), json!([ISSUER])),
        (json!(RESOURCE), json!([])),
        (json!(RESOURCE), json!(["not a url"])),
        // The URL parser would drop these, but the issuer is kept, logged and compared as sent.
        (json!(RESOURCE), json!(["https://as.exam\nple"])),
        (json!(RESOURCE), json!(["https://as.example/\ttenant"])),
        (json!(RESOURCE), json!([" https://as.example"])),
        (json!(null), json!([ISSUER])),
    ] {
        let body = json!({"resource": resource, "authorization_servers": servers}).to_string();
        assert!(decode_resource(body.as_bytes(), RESOURCE).is_err(), "{body}");
    }
}

#[test]
fn a_parent_resource_on_the_same_origin_covers_the_server_by_whole_path_segments() {
    let server = "https://host.example/a/b/mcp";
    for covering in [
        "https://host.example",
        "https://host.example/",
        "https://HOST.example:443/a",
        "https://host.example/a/",
        "https://host.example/a/b/mcp",
    ] {
        assert!(covers_resource(covering, server), "{covering}");
    }
    for other in [
        "https://host.example/ab",
        "https://host.example/a/b/mcp/more",
        "https://host.example/c",
        "http://host.example/a",
        "https://host.example:8443/a",
        "https://other.example/a",
        "https://host.example/a?x=1",
        "https://host.example/a#f",
        "not a url",
    ] {
        assert!(!covers_resource(other, server), "{other}");
    }
    let doc = json!({"resource": "https://mcp.example", "authorization_servers": [ISSUER]});
    let decoded = decode_resource(doc.to_string().as_bytes(), RESOURCE).unwrap();
    assert_eq!(decoded.resource, "https://mcp.example", "the declared resource is the one tokens are for");
}

#[test]
fn a_registration_answer_keeps_the_redirect_uri_and_has_a_secret_when_confidential() {
    let ok = json!({"client_id": "c-1", "client_secret": "s-1", "client_secret_expires_at": 0,
        "redirect_uris": [request().redirect_uri], "token_endpoint_auth_method": "client_secret_basic"});
    let client = decode_registration(ok.to_string().as_bytes(), &request()).unwrap();
    assert_eq!((client.client_id.as_str(), client.client_secret.unwrap().expose_secret()), ("c-1", "s-1"));
    assert_eq!(client.secret_expires_at, None);

    let changed = json!({"client_id": "c", "client_secret": "s", "redirect_uris": ["https://ad.example/other"]});
    assert!(decode_registration(changed.to_string().as_bytes(), &request()).unwrap_err().contains("redirect"));
    let no_secret = json!({"client_id": "c"});
    assert!(decode_registration(no_secret.to_string().as_bytes(), &request()).unwrap_err().contains("client_secret"));
    let secret_in_message = json!({"client_id": "c", "client_secret": "s-leak", "client_secret_expires_at": "s-leak"});
    let err = decode_registration(secret_in_message.to_string().as_bytes(), &request()).unwrap_err();
    assert!(!err.contains("s-leak"), "{err}");
    // A client that would have to sign with keys the service never gave it is no use.
    let keyed = json!({"client_id": "c", "client_secret": "s", "token_endpoint_auth_method": "private_key_jwt"});
    let err = decode_registration(keyed.to_string().as_bytes(), &request()).unwrap_err();
    assert!(err.contains("token_endpoint_auth_method"), "{err}");
}

/// A code flow needs PKCE `S256`, the code response type and an authorization endpoint; a server
/// without them still decodes (it may mint for clients alone) and says why it takes no user.
#[test]
fn a_server_without_what_a_code_flow_needs_decodes_and_says_why_it_takes_no_user() {
    let decoded = |body: Vec<u8>| decode_server(&body, ISSUER).unwrap();
    assert_eq!(decoded(server_doc().to_string().into_bytes()).code_flow(), Ok("https://auth.example/tenant/authorize"));
    let cases = [
        (with(server_doc(), "code_challenge_methods_supported", json!(["plain"])), "S256"),
        (with(server_doc(), "code_challenge_methods_supported", Value::Null), "S256"),
        (with(server_doc(), "authorization_endpoint", Value::Null), "`authorization_endpoint`"),
        (with(server_doc(), "response_types_supported", json!(["token"])), "authorization code"),
    ];
    for (doc, why) in cases {
        let metadata = decoded(doc);
        assert!(metadata.code_flow().unwrap_err().contains(why), "{why}");
        assert_eq!(metadata.token_endpoint, "https://auth.example/tenant/token", "it still mints");
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        Just(json!(ISSUER)),
        Just(json!(RESOURCE)),
        Just(json!("S256")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("issuer".to_owned()),
                    Just("resource".to_owned()),
                    Just("authorization_servers".to_owned()),
                    Just("code_challenge_methods_supported".to_owned()),
                    Just("token_endpoint".to_owned()),
                    Just("client_id".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_server(&body, ISSUER);
        let _ = decode_resource(&body, RESOURCE);
        let _ = decode_registration(&body, &request());
    }

    #[test]
    fn decoding_arbitrary_json_never_panics_and_never_trusts_another_issuer(doc in json_value()) {
        let body = doc.to_string();
        if let Ok(m) = decode_server(body.as_bytes(), ISSUER) {
            prop_assert_eq!(m.issuer.as_str(), ISSUER);
            if m.code_flow().is_ok() {
                prop_assert!(m.code_challenge_methods_supported.iter().any(|c| c == "S256"));
            }
        }
        if let Ok(r) = decode_resource(body.as_bytes(), RESOURCE) {
            prop_assert!(covers_resource(&r.resource, RESOURCE));
        }
        let _ = decode_registration(body.as_bytes(), &request());
    }

    #[test]
    fn a_valid_server_document_decodes_whatever_extra_fields_it_carries(
        extra in prop::collection::btree_map("x_[a-z]{1,8}", ".{0,20}", 0..6),
    ) {
        let mut doc = server_doc();
        for (k, v) in extra {
            doc[k] = json!(v);
        }
        let m = decode_server(doc.to_string().as_bytes(), ISSUER).unwrap();
        prop_assert_eq!(m.authorization_endpoint.as_deref(), Some("https://auth.example/tenant/authorize"));
    }
}
