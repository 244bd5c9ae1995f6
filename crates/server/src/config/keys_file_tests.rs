//! The keys file: both formats, and every refusal naming the problem without a hash.

use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::*;

fn digest(key: &str) -> [u8; 32] {
    actix_api::EngineKeys::digest(key)
}

fn hash(key: &str) -> String {
    hex::encode(digest(key))
}

/// `text` written to a file named `name` in a fresh directory.
fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(name: &str, text: &str) -> Result<Vec<TenantKeys>, KeysFileError> {
    let (_dir, path) = file(name, text);
    tenants(None, Some(&path), &|_| None).map(|t| t.keys)
}

/// The refusal of `text`, checked to repeat none of the file's hashes.
fn refusal(name: &str, text: &str) -> String {
    let reason = load(name, text).unwrap_err().to_string();
    for key in ["a1", "a-old", "b1", "shared"] {
        assert!(!reason.contains(&hash(key)), "{reason}");
        assert!(!reason.contains(&hash(key)[..16]), "{reason}");
    }
    reason
}

fn toml_of_two_tenants() -> String {
    format!(
        r#"
[[tenants]]
name = "acme"
keys = [
  {{ hash = "{a1}" }},
  {{ hash = "{a_old}", previous = {{ min_overlap_seconds = 60, max_overlap_seconds = 600 }} }},
]

[[tenants]]
name = "beta"
keys = [{{ hash = "{b1}" }}]
"#,
        a1 = hash("a1"),
        a_old = hash("a-old"),
        b1 = hash("b1")
    )
}

fn one_tenant_json(name: &str, keys: serde_json::Value) -> String {
    serde_json::json!({ "tenants": [{ "name": name, "keys": keys }] }).to_string()
}

#[test]
fn a_toml_file_gives_each_tenant_its_current_and_previous_keys() {
    let tenants = load("keys.toml", &toml_of_two_tenants()).unwrap();
    let names: Vec<_> = tenants.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(names, ["acme", "beta"]);
    assert_eq!(tenants[0].current, [digest("a1")]);
    let previous = &tenants[0].previous[0];
    assert_eq!(previous.previous_digest, digest("a-old"));
    assert_eq!((previous.min_overlap.as_secs(), previous.max_overlap.as_secs()), (60, 600));
    assert_eq!((tenants[1].current.as_slice(), tenants[1].previous.len()), (&[digest("b1")][..], 0));
}

#[test]
fn a_json_file_reads_the_same_and_an_empty_previous_takes_the_default_overlap() {
    let text =
        one_tenant_json("acme", serde_json::json!([{"hash": hash("a1")}, {"hash": hash("a-old"), "previous": {}}]));
    let tenants = load("keys.json", &text).unwrap();
    assert_eq!(tenants[0].current, [digest("a1")]);
    let previous = &tenants[0].previous[0];
    assert_eq!((previous.min_overlap.as_secs(), previous.max_overlap.as_secs()), (0, 300));
}

#[test]
fn a_file_of_another_extension_is_read_as_json_or_toml() {
    let json = one_tenant_json("acme", serde_json::json!([{"hash": hash("a1")}]));
    assert_eq!(load("keys.conf", &json).unwrap()[0].current, [digest("a1")]);
    assert_eq!(load("keys", &toml_of_two_tenants()).unwrap().len(), 2);
    let neither = refusal("keys", "tenants: [acme]");
    assert!(neither.contains("neither JSON") && neither.contains("nor TOML"), "{neither}");
}

#[test]
fn a_maximum_overlap_below_the_minimum_is_raised_to_it() {
    let text = one_tenant_json(
        "acme",
        serde_json::json!([{"hash": hash("a-old"), "previous": {"min_overlap_seconds": 90, "max_overlap_seconds": 10}}]),
    );
    let previous = &load("keys.json", &text).unwrap()[0].previous[0];
    assert_eq!((previous.min_overlap.as_secs(), previous.max_overlap.as_secs()), (90, 90));
}

#[test]
fn an_unknown_field_is_refused_by_name_and_position_in_both_formats() {
    let toml = toml_of_two_tenants().replace("max_overlap_seconds", "max_overlap_second");
    let reason = refusal("keys.toml", &toml);
    assert!(
        reason.contains("unknown field `max_overlap_second`") && reason.contains("(at line 6, column "),
        "{reason}"
    );
    let json = one_tenant_json("acme", serde_json::json!([{"hash": hash("a1"), "label": "x"}]));
    assert!(refusal("keys.json", &json).contains("unknown field `label`"));
}

#[test]
fn a_field_named_by_a_hash_is_refused_without_repeating_it() {
    let text =
        format!(r#"{{"tenants": [{{"name": "acme", "keys": [{{"hash": "{}", "{}": 1}}]}}]}}"#, hash("b1"), hash("a1"));
    let reason = refusal("keys.json", &text);
    assert!(reason.contains("unknown field (at line 1"), "{reason}");
}

#[test]
fn a_malformed_hash_is_refused_naming_the_tenant_and_the_key_not_the_value() {
    let short = &hash("a1")[..63];
    let reason =
        refusal("keys.json", &one_tenant_json("acme", serde_json::json!([{"hash": hash("b1")}, {"hash": short}])));
    assert!(reason.contains("tenant `acme`, key #2: hash must be 64 hex characters"), "{reason}");
    assert!(!reason.contains(short), "{reason}");
}

#[test]
fn a_tenant_named_twice_is_refused_by_name() {
    let text = toml_of_two_tenants().replace("\"beta\"", "\"acme\"");
    assert!(refusal("keys.toml", &text).ends_with("tenant `acme` is listed twice"));
}

#[test]
fn a_hash_listed_twice_is_refused_naming_the_tenants() {
    let across = toml_of_two_tenants().replace(&hash("b1"), &hash("a1"));
    assert!(refusal("keys.toml", &across).ends_with("tenants `acme` and `beta` list the same key hash"));
    let within = one_tenant_json(
        "acme",
        serde_json::json!([{"hash": hash("shared")}, {"hash": hash("shared"), "previous": {}}]),
    );
    assert!(refusal("keys.json", &within).ends_with("tenant `acme` lists the same key hash twice"));
}

#[test]
fn a_malformed_tenant_name_is_refused_by_position_without_repeating_it() {
    for bad in ["", "acme corp", "sk_live/secret", &"t".repeat(65)] {
        let reason = refusal("keys.json", &one_tenant_json(bad, serde_json::json!([{"hash": hash("a1")}])));
        assert!(reason.contains("tenant #1: its name must be 1 to 64 characters"), "{reason}");
        assert!(bad.is_empty() || !reason.contains(bad), "{reason}");
    }
}

#[test]
fn a_tenant_without_keys_and_a_value_of_the_wrong_type_are_refused() {
    assert!(
        refusal("keys.json", &one_tenant_json("acme", serde_json::json!([]))).ends_with("tenant `acme` has no keys")
    );
    let wrong = refusal("keys.json", &one_tenant_json("acme", serde_json::json!([{"hash": 12345}])));
    assert!(wrong.contains("a value of the wrong type or form (at line 1") && !wrong.contains("12345"), "{wrong}");
    assert!(refusal("keys.toml", "[[tenants]\nname = 1").contains("not valid TOML (at line 1"));
}

#[test]
fn the_default_tenant_comes_from_the_variables_or_the_file_but_not_both() {
    let default = TenantKeys { tenant: TenantId::default_tenant(), current: vec![digest("d")], previous: vec![] };
    let (_dir, path) = file("keys.toml", &toml_of_two_tenants());
    let all = tenants(Some(default.clone()), Some(&path), &|_| None).unwrap().keys;
    let names: Vec<_> = all.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(names, ["default", "acme", "beta"]);

    let (_dir, named) = file("keys.json", &one_tenant_json("default", serde_json::json!([{"hash": hash("a1")}])));
    assert_eq!(tenants(None, Some(&named), &|_| None).unwrap().keys[0].tenant.as_str(), "default");
    let both = tenants(Some(default.clone()), Some(&named), &|_| None).unwrap_err().to_string();
    assert!(both.contains("tenant `default` is also given by ENGINE_KEY_HASH or ENGINE_API_KEY"), "{both}");

    let (_dir, same) = file("keys.json", &one_tenant_json("acme", serde_json::json!([{"hash": hash("d")}])));
    let shared = tenants(Some(default), Some(&same), &|_| None).unwrap_err().to_string();
    assert!(shared.ends_with("tenants `default` and `acme` list the same key hash"), "{shared}");
}

#[test]
fn a_missing_file_is_refused_naming_its_path() {
    let reason = tenants(None, Some(Path::new("/nonexistent/keys.toml")), &|_| None).unwrap_err().to_string();
    assert_eq!(reason, "ENGINE_KEYS_FILE /nonexistent/keys.toml: cannot be read (entity not found)");
}

#[test]
fn a_tenant_may_name_its_identity_provider_whose_secret_comes_from_the_variable_it_names() {
    let with = format!(
        "{}\n[tenants.identity_provider]\nissuer = \"https://idp.acme.example\"\n\
         token_endpoint = \"https://idp.acme.example/token\"\nclient_id = \"directory\"\n\
         client_secret_env = \"ACME_IDP_SECRET\"\n",
        toml_of_two_tenants()
    );
    let (_dir, path) = file("keys.toml", &with);
    let env = |name: &str| (name == "ACME_IDP_SECRET").then(|| "idp-secret-distinct".to_owned());
    let loaded = tenants(None, Some(&path), &env).unwrap();
    assert_eq!(loaded.identity_providers.len(), 1);
    let (tenant, provider) = loaded.identity_providers.iter().next().unwrap();
    assert_eq!((tenant.as_str(), provider.client_id.as_str()), ("beta", "directory"), "the tenant it is under");
    assert_eq!(
        provider.client_secret.as_ref().map(|s| s.expose_secret().to_owned()).as_deref(),
        Some("idp-secret-distinct")
    );

    let unset = tenants(None, Some(&path), &|_| None).unwrap_err().to_string();
    assert!(unset.contains("client_secret_env") && unset.contains("beta"), "{unset}");
    let not_a_url = with.replace("https://idp.acme.example/token", "idp.acme.example/token");
    let (_dir, path) = file("keys.toml", &not_a_url);
    assert!(tenants(None, Some(&path), &env).unwrap_err().to_string().contains("identity_provider"));
}
