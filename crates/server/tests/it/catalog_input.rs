//! The catalog file against hostile input: arbitrary text and arbitrary JSON documents shaped
//! like a catalog never panic the parser; what it accepts is valid, and what it refuses is one
//! `CatalogError` naming where.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use server::catalog::{CatalogError, parse};

fn no_env(_: &str) -> Option<String> {
    None
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for one of the catalog's fields: often a plausible one, sometimes anything.
fn plausible(choices: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![3 => prop::sample::select(choices).prop_map(Value::from), 1 => json_value()]
}

fn entry() -> impl Strategy<Value = Value> {
    let fields = (
        plausible(&["linear", "acme_2", "Bad Name", "", "x"]),
        plausible(&["Linear", "", " "]),
        plausible(&["streamable_http", "sse", "stdio", "smtp"]),
        plausible(&["https://mcp.example/mcp", "http://127.0.0.1:1/mcp", "ftp://x", "not a url", "https://"]),
        plausible(&["oauth", "api_key", "none", "magic"]),
        prop::option::of(json_value()),
        prop::option::of(plausible(&["Authorization", "X-Api-Key", "Bad Header", ""])),
    );
    (fields, any::<bool>(), prop::collection::vec(plausible(&["read", "write", "bad scope", ""]), 0..3)).prop_map(
        |((name, display, transport, url, method, oauth_extra, header), discovery, scopes)| {
            let mut oauth = json!({
                "discovery": discovery, "issuer": url, "authorization_endpoint": url, "token_endpoint": url,
                "client_id": "c", "client_secret_env": "S", "scopes": scopes,
            });
            if let (Some(extra), Some(map)) = (oauth_extra, oauth.as_object_mut()) {
                map.insert("token_endpoint_auth_method".into(), extra);
            }
            let mut e = Map::new();
            for (k, v) in [
                ("server_name", name),
                ("display_name", display),
                ("transport", transport),
                ("url", url),
                ("auth_method", method),
            ] {
                e.insert(k.into(), v);
            }
            e.insert("oauth".into(), oauth);
            if let Some(h) = header {
                e.insert("api_key".into(), json!({"header": h, "scheme": "Bearer"}));
            }
            Value::Object(e)
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_the_parser(text in ".{0,400}") {
        if let Err(e) = parse(&text, "fuzz.json", &no_env) {
            let located = matches!(e, CatalogError::Malformed { .. } | CatalogError::Entry { .. });
            prop_assert!(located, "{}", e);
            prop_assert!(!e.to_string().contains('\n'), "one line: {}", e);
        }
    }

    #[test]
    fn arbitrary_catalog_shaped_documents_are_accepted_only_when_every_entry_is_valid(
        entries in prop::collection::vec(entry(), 0..5),
    ) {
        let text = json!({ "servers": entries }).to_string();
        match parse(&text, "fuzz.json", &no_env) {
            Ok(catalog) => {
                prop_assert_eq!(catalog.entries().len(), entries.len());
                for (e, accepted) in entries.iter().zip(catalog.entries()) {
                    prop_assert_eq!(Some(accepted.spec.name.as_str()), e["server_name"].as_str());
                    if let Some(url) = e["url"].as_str() {
                        prop_assert!(url.starts_with("https://") || url.starts_with("http://"), "{}", url);
                    }
                }
            }
            Err(CatalogError::Entry { index, .. }) => prop_assert!(index >= 1 && index <= entries.len()),
            Err(e) => {
                let malformed = matches!(e, CatalogError::Malformed { .. });
                prop_assert!(malformed, "{}", e);
            }
        }
    }
}
