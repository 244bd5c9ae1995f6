use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn err(text: &str) -> String {
    parse(text, "test.json", &no_env).unwrap_err().to_string()
}

#[test]
fn the_built_in_catalog_is_valid_and_lists_real_remote_servers() {
    let catalog = parse(BUILT_IN, "(built-in)", &no_env).unwrap();
    assert!(catalog.entries().len() >= 8);
    for e in catalog.entries() {
        assert!(e.spec.url.as_deref().is_some_and(|u| u.starts_with("https://")), "{}", e.spec.name);
    }
}

#[test]
fn built_in_oauth_entries_are_unavailable_until_their_client_is_configured() {
    let catalog = parse(BUILT_IN, "(built-in)", &no_env).unwrap();
    let github = catalog.get(&ServerName::parse("github").unwrap()).unwrap();
    assert!(!github.is_available());
    let env = |var: &str| match var {
        "GITHUB_CLIENT_ID" => Some("Iv1.abc".to_owned()),
        "GITHUB_CLIENT_SECRET" => Some("shh".to_owned()),
        _ => None,
    };
    let catalog = parse(BUILT_IN, "(built-in)", &env).unwrap();
    assert!(catalog.get(&ServerName::parse("github").unwrap()).unwrap().is_available());
}

#[test]
fn an_entry_with_a_bad_field_is_named_with_its_position() {
    let text = r#"{"servers":[
        {"server_name":"ok","display_name":"Ok","transport":"sse","url":"https://ok.example/sse","auth_method":"none"},
        {"server_name":"bad","display_name":"Bad","transport":"carrier-pigeon","url":"https://x.example","auth_method":"none"}
    ]}"#;
    assert_eq!(
        err(text),
        "catalog test.json: entry #2 (`bad`), field `transport`: must be one of streamable_http, sse, stdio"
    );
}

#[test]
fn duplicate_names_missing_urls_and_unknown_fields_are_refused() {
    let dup = r#"{"servers":[
        {"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example","auth_method":"none"},
        {"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example","auth_method":"none"}]}"#;
    assert!(err(dup).contains("entry #2 (`a`), field `server_name`: appears twice"));
    let no_url = r#"{"servers":[{"server_name":"a","display_name":"A","transport":"sse","auth_method":"none"}]}"#;
    assert!(err(no_url).contains("field `url`: is required"));
    let unknown = r#"{"servers":[{"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example","auth_method":"none","colour":"red"}]}"#;
    assert!(err(unknown).contains("unknown field `colour`"), "{}", err(unknown));
}

#[test]
fn oauth_entries_without_discovery_need_their_endpoints() {
    let text = r#"{"servers":[{"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example",
        "auth_method":"oauth","oauth":{"discovery":false,"authorization_endpoint":"https://as.example/a"}}]}"#;
    assert!(err(text).contains("field `oauth.token_endpoint`"), "{}", err(text));
}

#[test]
fn api_key_entries_need_a_header() {
    let text = r#"{"servers":[{"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example","auth_method":"api_key"}]}"#;
    assert!(err(text).contains("field `api_key`: is required"));
}

#[test]
fn send_resource_defaults_to_the_discovery_setting() {
    let text = r#"{"servers":[{"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example",
        "auth_method":"oauth","oauth":{"discovery":false,"authorization_endpoint":"https://as.example/a",
        "token_endpoint":"https://as.example/t","client_id":"c","token_endpoint_auth_method":"none"}}]}"#;
    let catalog = parse(text, "t", &no_env).unwrap();
    let AuthSpec::OAuth(o) = &catalog.entries()[0].spec.auth else { panic!() };
    assert!(!o.send_resource);
    assert!(catalog.entries()[0].is_available(), "a public client needs no secret");
}

#[test]
fn malformed_json_says_where() {
    assert!(err("{\"servers\": [").contains("at line 1"));
}

#[test]
fn built_in_discovery_entries_are_available_without_any_configuration() {
    let catalog = parse(BUILT_IN, "(built-in)", &no_env).unwrap();
    let discovered: Vec<_> =
        catalog.entries().iter().filter(|e| matches!(&e.spec.auth, AuthSpec::OAuth(o) if o.discovery)).collect();
    assert!(discovered.len() >= 10, "{}", discovered.len());
    for entry in discovered {
        assert!(entry.is_available(), "{}: {:?}", entry.spec.name, entry.availability);
    }
}

#[test]
fn a_discovery_entry_with_a_preregistered_client_but_no_issuer_is_refused() {
    for client in [r#""client_id":"c""#, r#""client_id_env":"C_ID""#] {
        let json = format!(
            r#"{{"servers":[{{"server_name":"x","display_name":"X","transport":"sse","url":"https://x.example/mcp",
            "auth_method":"oauth","oauth":{{"discovery":true,{client},"client_secret_env":"S"}}}}]}}"#
        );
        assert!(err(&json).contains("oauth.issuer"), "{client}: {}", err(&json));
    }
    let pinned = r#"{"servers":[{"server_name":"x","display_name":"X","transport":"sse","url":"https://x.example/mcp",
        "auth_method":"oauth","oauth":{"discovery":true,"issuer":"https://as.example","client_id":"c",
        "client_secret_env":"S"}}]}"#;
    assert!(parse(pinned, "test.json", &no_env).is_ok(), "with its issuer pinned it is fine");
}

/// A discovery entry with `oauth` members added to `{"discovery": true}`.
fn discovery_entry(oauth: &str) -> String {
    format!(
        r#"{{"servers":[{{"server_name":"x","display_name":"X","transport":"sse","url":"https://x.example/mcp",
        "auth_method":"oauth","oauth":{{"discovery":true{oauth}}}}}]}}"#
    )
}

#[test]
fn client_registration_defaults_to_auto_and_reads_each_mode() {
    let mode = |oauth: &str| {
        let catalog = parse(&discovery_entry(oauth), "t", &no_env).unwrap();
        let AuthSpec::OAuth(o) = &catalog.entries()[0].spec.auth else { panic!() };
        o.registration
    };
    assert_eq!(mode(""), RegistrationMode::Auto);
    assert_eq!(mode(r#","client_registration":"cimd""#), RegistrationMode::Cimd);
    assert_eq!(mode(r#","client_registration":"dcr""#), RegistrationMode::Dcr);
    let pinned = r#","issuer":"https://as.example","client_id":"c","client_registration":"preregistered""#;
    assert_eq!(mode(pinned), RegistrationMode::Preregistered);
}

#[test]
fn a_client_registration_that_contradicts_its_entry_is_refused_naming_the_field() {
    for oauth in [
        r#","client_registration":"sometimes""#,
        r#","client_registration":"preregistered""#,
        r#","issuer":"https://as.example","client_id":"c","client_registration":"dcr""#,
        r#","issuer":"https://as.example","client_id_env":"C","client_registration":"cimd""#,
    ] {
        let message = err(&discovery_entry(oauth));
        assert!(message.contains("oauth.client_registration"), "{oauth}: {message}");
    }
    let static_entry = r#"{"servers":[{"server_name":"a","display_name":"A","transport":"sse","url":"https://a.example",
        "auth_method":"oauth","oauth":{"discovery":false,"authorization_endpoint":"https://as.example/a",
        "token_endpoint":"https://as.example/t","client_registration":"dcr"}}]}"#;
    assert!(err(static_entry).contains("need discovery true"), "{}", err(static_entry));
}

/// A static client credentials entry with `oauth` members added.
fn client_credentials_entry(oauth: &str) -> String {
    format!(
        r#"{{"servers":[{{"server_name":"m","display_name":"M","transport":"sse","url":"https://m.example/mcp",
        "auth_method":"oauth_client_credentials","oauth":{{"discovery":false,
        "token_endpoint":"https://as.example/token","client_id":"c"{oauth}}}}}]}}"#
    )
}

#[test]
fn a_client_credentials_entry_is_oauth_with_that_grant_and_needs_no_authorization_endpoint() {
    let catalog = parse(&client_credentials_entry(r#","client_secret_env":"S""#), "t", &|_| Some("s".into())).unwrap();
    let entry = &catalog.entries()[0];
    let AuthSpec::OAuth(o) = &entry.spec.auth else { panic!() };
    assert_eq!((o.grant, entry.spec.auth.method()), (OAuthGrant::ClientCredentials, AuthMethod::OAuth));
    assert!(entry.is_available(), "{:?}", entry.availability);
}

#[test]
fn a_client_credentials_entry_needs_a_confidential_client_and_fixed_endpoints() {
    let public = client_credentials_entry(r#","client_secret_env":"S","token_endpoint_auth_method":"none""#);
    for (text, field) in [
        (client_credentials_entry(""), "oauth.client_secret_env"),
        (public, "oauth.client_secret_env"),
        (
            client_credentials_entry(r#","client_secret_env":"S","issuer":"https://as.example""#)
                .replace(r#""discovery":false"#, r#""discovery":true"#),
            "oauth.discovery",
        ),
    ] {
        assert!(err(&text).contains(field), "{field}: {}", err(&text));
    }
    let unknown = client_credentials_entry("").replace("oauth_client_credentials", "oauth_device_code");
    assert!(err(&unknown).contains("auth_method"), "{}", err(&unknown));
}

/// A discovery entry with the identity assertion grant, with `oauth` members added.
fn identity_assertion_entry(oauth: &str) -> String {
    format!(
        r#"{{"servers":[{{"server_name":"e","display_name":"E","transport":"streamable_http",
        "url":"https://e.example/mcp","auth_method":"oauth_identity_assertion","oauth":{{"discovery":true{oauth}}}}}]}}"#
    )
}

#[test]
fn an_identity_assertion_entry_needs_discovery_and_its_preregistered_client() {
    let whole = identity_assertion_entry(r#","issuer":"https://as.example","client_id":"c","client_secret_env":"S""#);
    let catalog = parse(&whole, "t", &|_| Some("s".into())).unwrap();
    let AuthSpec::OAuth(o) = &catalog.entries()[0].spec.auth else { panic!() };
    assert_eq!(o.grant, OAuthGrant::IdentityAssertion);
    let static_endpoints =
        whole.replace(r#""discovery":true"#, r#""discovery":false,"token_endpoint":"https://as.example/token""#);
    for (text, field) in [(identity_assertion_entry(""), "oauth.client_id"), (static_endpoints, "oauth.discovery")] {
        assert!(err(&text).contains(field), "{field}: {}", err(&text));
    }
}
