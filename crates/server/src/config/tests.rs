//! The loader as a whole: layers, defaults, production checks, redaction.

use std::time::Duration;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn defaults_serve_sqlite_on_the_loopback_port_8000() {
    let c = Config::from_map(vars(&[])).unwrap();
    assert_eq!(c.http.listen_addr.to_string(), "127.0.0.1:8000");
    assert_eq!(c.database.url, "sqlite://data/asset-directory.db");
    assert_eq!(c.oauth.redirect_base_url, "http://127.0.0.1:8000");
    assert_eq!(c.oauth.flow_ttl, Duration::from_secs(600));
    assert_eq!(c.mode, RunMode::Development);
    assert!(!c.log.json);
}

#[test]
fn the_environment_overrides_the_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ad.toml");
    std::fs::write(&file, "listen_addr = \"127.0.0.1:9000\"\noauth_flow_ttl_seconds = 60\n").unwrap();
    let c = Config::from_map(vars(&[
        ("AD_CONFIG", file.to_str().unwrap()),
        ("OAUTH_FLOW_TTL_SECONDS", "30"),
        ("RETURN_URL_ALLOWLIST", "https://a.example, https://b.example/done"),
    ]))
    .unwrap();
    assert_eq!(c.http.listen_addr.port(), 9000);
    assert_eq!(c.oauth.flow_ttl, Duration::from_secs(30));
    assert_eq!(c.oauth.return_url_allowlist, ["https://a.example", "https://b.example/done"]);
}

#[test]
fn production_refuses_to_start_without_keys_and_names_what_is_missing() {
    let err = Config::from_map(vars(&[("AD_ENV", "production")])).unwrap_err();
    assert_eq!(err.to_string(), "AD_ENV=production requires OAUTH_REDIRECT_BASE_URL");
    let err = Config::from_map(vars(&[("AD_ENV", "production"), ("OAUTH_REDIRECT_BASE_URL", "https://ad.example")]))
        .unwrap_err();
    assert_eq!(err.to_string(), "AD_ENV=production requires ENGINE_KEY_HASH (or ENGINE_API_KEY, or ENGINE_KEYS_FILE)");
    let hash = "a".repeat(64);
    let err = Config::from_map(vars(&[
        ("AD_ENV", "production"),
        ("OAUTH_REDIRECT_BASE_URL", "https://ad.example"),
        ("ENGINE_KEY_HASH", &hash),
    ]))
    .unwrap_err();
    assert_eq!(err.to_string(), "AD_ENV=production requires AD_ENCRYPTION_KEY");
}

#[test]
fn a_malformed_key_hash_is_refused_without_echoing_it() {
    let err = Config::from_map(vars(&[("ENGINE_KEY_HASH", "not-a-digest-secretish")])).unwrap_err();
    assert!(err.to_string().starts_with("ENGINE_KEY_HASH:"));
    assert!(!err.to_string().contains("secretish"));
}

#[test]
fn debug_output_redacts_secret_settings() {
    let c = Config::from_map(vars(&[("ENGINE_API_KEY", "ek-distinctive"), ("AD_ENCRYPTION_KEY", "enc-distinctive")]))
        .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("ek-distinctive") && !shown.contains("enc-distinctive"));
}

#[test]
fn metrics_and_the_openapi_document_need_the_key_unless_made_public() {
    let c = Config::from_map(vars(&[])).unwrap();
    assert!(!c.http.openapi_public && !c.http.metrics_public);
    let c = Config::from_map(vars(&[("OPENAPI_PUBLIC", "true"), ("METRICS_PUBLIC", "true")])).unwrap();
    assert!(c.http.openapi_public && c.http.metrics_public);
}

#[test]
fn a_request_body_has_15_seconds_unless_configured_and_never_zero() {
    assert_eq!(Config::from_map(vars(&[])).unwrap().http.request_body_timeout, Duration::from_secs(15));
    let c = Config::from_map(vars(&[("REQUEST_BODY_TIMEOUT_SECONDS", "1")])).unwrap();
    assert_eq!(c.http.request_body_timeout, Duration::from_secs(1));
    let c = Config::from_map(vars(&[("REQUEST_BODY_TIMEOUT_SECONDS", "0")])).unwrap();
    assert_eq!(c.http.request_body_timeout, Duration::from_secs(1), "0 would refuse every body");
}

#[test]
fn the_proxy_keeps_a_credential_a_second_unless_configured_and_at_most_a_minute() {
    let cache = |value: &str| Config::from_map(vars(&[("PROXY_CREDENTIAL_CACHE_MS", value)])).map(|c| c.proxy);
    assert_eq!(Config::from_map(vars(&[])).unwrap().proxy.credential_cache, Duration::from_secs(1));
    assert_eq!(cache("0").unwrap().credential_cache, Duration::ZERO, "off");
    assert_eq!(cache("60000").unwrap().settings().credential_cache, Duration::from_secs(60));
    let err = cache("60001").unwrap_err().to_string();
    assert_eq!(err, "PROXY_CREDENTIAL_CACHE_MS: must be at most 60000 (a minute)");
}
