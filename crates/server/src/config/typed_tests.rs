//! Issue 20 item 7: every setting is read as its declared type. Secrets and identifiers are text
//! exactly as written, however much they look like numbers; numbers and booleans still parse; a
//! value that is not of its type is refused naming the variable, never repeating the value.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn with_file(contents: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ad.toml");
    std::fs::write(&file, contents).unwrap();
    let mut all = vars(pairs);
    all.insert("AD_CONFIG".into(), file.to_str().unwrap().into());
    Config::from_map(all)
}

/// Values a loader that guesses types would take for numbers or booleans.
const NUMBER_LIKE: &[&str] = &[
    "00123",                          // leading zeros
    "1e3",                            // an exponent
    "123456789012345678901234567890", // 30 digits: too long for an integer, so a float
    "000000000000000000000000000042", // 30 digits with leading zeros
    "-0",
    "1.50",
    "True",
    "Infinity",
];

/// Every setting that is text (a secret, an identifier, a path, a URL list, a filter), read back.
const TEXT_SETTINGS: &[&str] = &[
    "ENGINE_API_KEY",
    "AD_ENCRYPTION_KEY",
    "AD_ENCRYPTION_KEYS_PREVIOUS",
    "AD_SIGNING_KEY",
    "AD_SIGNING_KEYS_PREVIOUS",
    "DATABASE_URL",
    "CATALOG_PATH",
    "AD_DATA_DIR",
    "RETURN_URL_ALLOWLIST",
    "RUST_LOG",
];

fn text_setting(c: &Config, name: &str) -> Vec<String> {
    let secret = |s: &SecretString| s.expose_secret().to_owned();
    match name {
        "ENGINE_API_KEY" => c.engine_key.api_key.iter().map(secret).collect(),
        "AD_ENCRYPTION_KEY" => c.secrets.encryption_key.iter().map(secret).collect(),
        "AD_ENCRYPTION_KEYS_PREVIOUS" => c.secrets.previous_keys.iter().map(secret).collect(),
        "AD_SIGNING_KEY" => c.secrets.signing_key.iter().map(secret).collect(),
        "AD_SIGNING_KEYS_PREVIOUS" => c.secrets.previous_signing_keys.iter().map(secret).collect(),
        "DATABASE_URL" => vec![c.database.url.clone()],
        "CATALOG_PATH" => c.catalog.path.iter().map(|p| p.display().to_string()).collect(),
        "AD_DATA_DIR" => vec![c.secrets.data_dir.display().to_string()],
        "RETURN_URL_ALLOWLIST" => c.oauth.return_url_allowlist.clone(),
        "RUST_LOG" => vec![c.log.filter.clone()],
        other => panic!("{other} is not a text setting"),
    }
}

#[test]
fn secrets_and_identifiers_that_look_like_numbers_are_kept_exactly_as_written() {
    let mut rewritten = Vec::new();
    for name in TEXT_SETTINGS {
        for value in NUMBER_LIKE {
            let c = Config::from_map(vars(&[(name, value)])).unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            let read = text_setting(&c, name);
            if read != [*value] {
                rewritten.push(format!("{name}={value} was read as {read:?}"));
            }
        }
    }
    assert!(rewritten.is_empty(), "{rewritten:#?}");
}

#[test]
fn key_hashes_made_of_digits_are_read_as_the_hex_they_are() {
    let digits = "1234567890".repeat(7)[..64].to_owned();
    let leading_zeros = format!("{:0>64}", "12");
    let exponent = format!("{:0>64}", "1e30");
    for value in [digits, leading_zeros, exponent] {
        let expected = hex::decode(&value).unwrap();
        for name in ["ENGINE_KEY_HASH", "ENGINE_KEY_HASH_PREVIOUS"] {
            let c = Config::from_map(vars(&[(name, &value)])).unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            let read = if name == "ENGINE_KEY_HASH" { c.engine_key.key_hash } else { c.engine_key.previous_hash };
            assert_eq!(read.map(Vec::from), Some(expected.clone()), "{name}={value}");
        }
    }
}

#[test]
fn the_variables_catalog_entries_name_are_read_exactly_as_written() {
    let c = Config::from_map(vars(&[("GITHUB_CLIENT_ID", "00123"), ("GITHUB_CLIENT_SECRET", "1e3")])).unwrap();
    let catalog = crate::catalog::load(None, &|var| c.env.get(var)).unwrap();
    let github = catalog.get(&domain::ServerName::parse("github").unwrap()).unwrap();
    let domain::AuthSpec::OAuth(oauth) = &github.spec.auth else { panic!("github is an OAuth entry") };
    assert_eq!(oauth.client_id.as_deref(), Some("00123"));
    assert_eq!(github.client_secret.as_ref().map(ExposeSecret::expose_secret), Some("1e3"));
}

#[test]
fn numbers_and_booleans_still_parse_from_the_environment_and_the_file() {
    let c = with_file(
        "refresh_concurrency = 12\nopenapi_public = true\ndatabase_timeout_ms = \"750\"\n",
        &[
            ("OAUTH_FLOW_TTL_SECONDS", "0090"),
            ("DATABASE_POOL_SIZE", " 16 "),
            ("METRICS_PUBLIC", "TRUE"),
            ("AD_ALLOW_PRIVATE_NETWORKS", "yes"),
            ("DATABASE_MIGRATE_ON_START", "0"),
        ],
    )
    .unwrap();
    assert_eq!(c.refresh.concurrency, 12);
    assert_eq!(c.oauth.flow_ttl.as_secs(), 90);
    assert_eq!(c.database.pool_size, 16);
    assert_eq!(c.database.timeout.as_millis(), 750);
    assert!(c.http.openapi_public && c.http.metrics_public && c.oauth.allow_private_networks);
    assert!(!c.database.migrate_on_start);
}

/// The numeric settings: every refresh setting, and these.
const NUMBERS: &[&str] = &[
    "DATABASE_POOL_SIZE",
    "DATABASE_TIMEOUT_MS",
    "KEY_ROTATION_MIN_OVERLAP_SECONDS",
    "KEY_ROTATION_MAX_OVERLAP_SECONDS",
    "OAUTH_FLOW_TTL_SECONDS",
    "OUTBOUND_TIMEOUT_MS",
];

const FLAGS: &[&str] = &["DATABASE_MIGRATE_ON_START", "AD_ALLOW_PRIVATE_NETWORKS", "OPENAPI_PUBLIC", "METRICS_PUBLIC"];

/// Asserts `name=value` is refused with an error that names `name` and does not repeat `value`.
fn assert_refused(name: &str, value: &str, result: Result<Config, ConfigError>) {
    let error = match result {
        Ok(_) => panic!("{name}={value} was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.starts_with(&format!("{name}: ")), "{name}={value}: {error}");
    assert!(!error.contains(value), "{name}={value}: the error repeats the value: {error}");
}

#[test]
fn a_number_or_a_flag_that_is_not_one_is_refused_naming_the_variable() {
    for name in NUMBERS.iter().chain(RefreshConfig::VARIABLES) {
        for value in ["1e3", "12.5", "-1", "12x-distinctive", "99999999999999999999999"] {
            assert_refused(name, value, Config::from_map(vars(&[(name, value)])));
        }
    }
    for name in FLAGS {
        for value in ["2", "1e3", "maybe-distinctive"] {
            assert_refused(name, value, Config::from_map(vars(&[(name, value)])));
        }
    }
}

#[test]
fn a_file_value_of_the_wrong_shape_is_refused_naming_the_variable() {
    let refused = with_file("refresh_concurrency = \"many-distinctive\"\n", &[]);
    assert_refused("REFRESH_CONCURRENCY", "many-distinctive", refused);
    let refused = with_file("engine_api_key = [\"sk-distinctive\"]\n", &[]);
    assert_refused("ENGINE_API_KEY", "sk-distinctive", refused);
}

#[test]
fn a_malformed_config_file_is_refused_without_repeating_its_lines() {
    let error = with_file("engine_api_key = sk-distinctive\n", &[]).unwrap_err().to_string();
    assert!(error.starts_with("AD_CONFIG: ") && error.contains("line 1"), "{error}");
    assert!(!error.contains("sk-distinctive"), "the error repeats the file: {error}");
}

#[test]
fn a_secret_written_bare_in_the_file_is_refused_rather_than_rewritten_by_toml() {
    // TOML reads these as numbers, and would hand the service `1000`, `1000` and `31`.
    for bare in ["1e3", "1_000", "0x1F", "true"] {
        let refused = with_file(&format!("engine_api_key = {bare}\n"), &[]);
        assert_refused("ENGINE_API_KEY", bare, refused);
    }
    let quoted = with_file("engine_api_key = \"00123\"\n", &[]).expect("a quoted key is read");
    assert_eq!(text_setting(&quoted, "ENGINE_API_KEY"), ["00123"]);
    let number = with_file("refresh_concurrency = 8\n", &[]).expect("a bare number is fine for a number");
    assert_eq!(number.refresh.concurrency, 8);
}
