use proptest::prelude::*;

use super::*;

fn one(value: &str) -> Challenge {
    let mut all = parse(value).unwrap();
    assert_eq!(all.len(), 1, "{value}: {all:?}");
    all.remove(0)
}

#[test]
fn an_mcp_bearer_challenge_gives_its_resource_metadata_and_scope() {
    let c = one(
        r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
    );
    assert!(c.is("bearer"));
    assert_eq!(c.param("resource_metadata"), Some("https://mcp.example/.well-known/oauth-protected-resource/mcp"));
    assert_eq!(c.param("SCOPE"), Some("files:read files:write"));
}

#[test]
fn the_rfc_9110_example_is_two_challenges() {
    let all = parse(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].param("type"), Some("1"));
    assert_eq!(all[0].param("title"), Some(r#"Login to "apps""#));
    assert!(all[1].is("Basic"));
    assert_eq!(all[1].param("realm"), Some("simple"));
}

#[test]
fn token68_bare_schemes_empty_elements_and_whitespace_are_read() {
    let all = parse(" , Basic dXNlcjpwYXNz==  ,, Negotiate,Bearer\terror=invalid_token ,").unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].token68.as_deref(), Some("dXNlcjpwYXNz=="));
    assert!(all[1].is("negotiate") && all[1].params.is_empty() && all[1].token68.is_none());
    assert_eq!(all[2].param("error"), Some("invalid_token"));
    assert_eq!(parse("").unwrap(), vec![]);
    let spaced = one("Bearer realm = \"x\" , scope=a");
    assert_eq!((spaced.param("realm"), spaced.param("scope")), (Some("x"), Some("a")));
}

#[test]
fn text_outside_the_grammar_is_refused_without_being_repeated() {
    for bad in [
        r#"Bearer realm="unterminated"#,
        r#"Bearer realm="a""b""#,
        "Bearer realm=a b",
        "Bearer a=1, a=2",
        "Bearer realm=\"a\u{1}b\"",
        "=x",
        "Bearer realm=\"x\" junk",
        "Bearer \"quoted\"",
    ] {
        let err = parse(bad).unwrap_err();
        assert!(!err.to_string().contains(bad), "{bad}: {err}");
    }
    assert!(parse(&"a".repeat(MAX_LEN + 1)).is_err());
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn challenge() -> impl Strategy<Value = Challenge> {
    let params = prop::collection::btree_map(token().prop_map(|t| t.to_ascii_lowercase()), "[ -~\t]{0,24}", 0..5)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>());
    let token68 = "[A-Za-z0-9._~+/-]{1,16}={0,2}";
    (token(), prop::option::of(token68), params).prop_map(|(scheme, token68, params)| match token68 {
        Some(t) => Challenge { scheme, token68: Some(t), params: Vec::new() },
        None => Challenge { scheme, token68: None, params },
    })
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(input in ".{0,256}") {
        let _ = parse(&input);
    }

    #[test]
    fn parsing_header_like_text_never_panics(input in r#"[A-Za-z0-9 ,="\\\t/+.~_-]{0,128}"#) {
        let _ = parse(&input);
    }

    #[test]
    fn written_challenges_parse_back_to_themselves(challenges in prop::collection::vec(challenge(), 1..4)) {
        let header = challenges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        prop_assert_eq!(parse(&header).unwrap(), challenges);
    }
}
