//! `ENGINE_KEYS_FILE`: the tenants and their engine keys, in TOML or JSON.
//!
//! ```toml
//! [[tenants]]
//! name = "acme"
//! keys = [
//!   { hash = "<hex SHA-256 of the new key>" },
//!   { hash = "<hex SHA-256 of the old key>", previous = { min_overlap_seconds = 60, max_overlap_seconds = 600 } },
//! ]
//! ```
//!
//! A tenant may name its enterprise identity provider (issue 18 §4), where its users' ID tokens
//! are exchanged when a connect names none; the secret comes from the variable it names:
//!
//! ```toml
//! [tenants.identity_provider]
//! issuer = "https://idp.acme.example"
//! token_endpoint = "https://idp.acme.example/oauth2/token"
//! client_id = "asset-directory"
//! client_secret_env = "ACME_IDP_CLIENT_SECRET"
//! ```
//!
//! A key with `previous` is being retired, with its own overlap (defaults as
//! `KEY_ROTATION_MIN/MAX_OVERLAP_SECONDS`: 0 and 300, the maximum raised to the minimum).
//! Unknown fields are refused. Tenant `default` comes from the single-key variables, so the
//! file may name it only when they are unset. A tenant named twice, a tenant without keys, and
//! a hash listed twice (in one tenant or two) are refused. Every error names the tenant or the
//! position in the file, never a hash nor any other value of the file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use actix_api::{KeyRotation, TenantKeys};
use app::IdentityProvider;
use domain::TenantId;
use secrecy::SecretString;
use serde::Deserialize;

/// Why the keys file cannot be used: one line naming the file and the problem.
#[derive(Debug, thiserror::Error)]
#[error("ENGINE_KEYS_FILE {path}: {reason}")]
pub struct KeysFileError {
    pub path: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tenants: Vec<Tenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tenant {
    name: String,
    keys: Vec<Key>,
    #[serde(default)]
    identity_provider: Option<FileIdentityProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    hash: String,
    previous: Option<Overlap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Overlap {
    #[serde(default)]
    min_overlap_seconds: u64,
    #[serde(default = "default_max_overlap")]
    max_overlap_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIdentityProvider {
    issuer: String,
    token_endpoint: String,
    client_id: String,
    #[serde(default)]
    client_secret_env: Option<String>,
}

/// What the keys file (with the variables for tenant `default`) puts in force: every tenant's
/// keys, and the identity providers tenants name.
#[derive(Debug, Default)]
pub struct Tenants {
    pub keys: Vec<TenantKeys>,
    pub identity_providers: HashMap<TenantId, IdentityProvider>,
}

fn default_max_overlap() -> u64 {
    300
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    Json,
}

/// Every tenant's keys: tenant `default` from the variables (when they give a key), then the
/// file's tenants (when there is a file), checked together; and the identity providers the
/// file's tenants name, their secrets read from `env`.
pub fn tenants(
    default: Option<TenantKeys>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Tenants, KeysFileError> {
    let Some(path) = file else { return Ok(Tenants { keys: default.into_iter().collect(), ..Tenants::default() }) };
    let refuse = |reason: String| KeysFileError { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| refuse(format!("cannot be read ({})", e.kind())))?;
    let from_file = parse(&text, format_of(path), env).map_err(refuse)?;
    let mut all: Vec<TenantKeys> = default.into_iter().collect();
    if all.iter().any(|d| from_file.keys.iter().any(|t| t.tenant == d.tenant)) {
        return Err(refuse(format!(
            "tenant `{}` is also given by ENGINE_KEY_HASH or ENGINE_API_KEY; name it in one place",
            TenantId::DEFAULT
        )));
    }
    all.extend(from_file.keys);
    distinct_hashes(&all).map_err(refuse)?;
    Ok(Tenants { keys: all, identity_providers: from_file.identity_providers })
}

/// The format of `path` by its extension, `None` to try both.
fn format_of(path: &Path) -> Option<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("toml") => Some(Format::Toml),
        Some("json") => Some(Format::Json),
        _ => None,
    }
}

/// The tenants of a file's text, in `format` (or whichever of the two it is).
fn parse(text: &str, format: Option<Format>, env: &dyn Fn(&str) -> Option<String>) -> Result<Tenants, String> {
    let file = match format {
        Some(format) => read(text, format)?,
        None => read(text, Format::Json).or_else(|json| {
            read(text, Format::Toml).map_err(|toml| format!("neither JSON ({json}) nor TOML ({toml})"))
        })?,
    };
    if file.tenants.is_empty() {
        return Err("lists no tenants".into());
    }
    let mut seen = BTreeMap::new();
    let mut out = Tenants::default();
    for (i, mut tenant) in file.tenants.into_iter().enumerate() {
        let provider = tenant.identity_provider.take();
        let keys = tenant_keys(i + 1, tenant)?;
        if seen.insert(keys.tenant.clone(), ()).is_some() {
            return Err(format!("tenant `{}` is listed twice", keys.tenant));
        }
        if let Some(provider) = provider {
            out.identity_providers.insert(keys.tenant.clone(), identity_provider(&keys.tenant, provider, env)?);
        }
        out.keys.push(keys);
    }
    Ok(out)
}

/// A tenant's identity provider, its secret read from the variable it names.
fn identity_provider(
    tenant: &TenantId,
    p: FileIdentityProvider,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<IdentityProvider, String> {
    let urls = super::check_url(&p.issuer).and(super::check_url(&p.token_endpoint));
    if urls.is_err() || p.client_id.trim().is_empty() {
        return Err(format!(
            "tenant `{tenant}`: identity_provider needs an http(s) issuer and token_endpoint and a client_id"
        ));
    }
    let client_secret = match &p.client_secret_env {
        // The service's own settings (keys, its engine key) are never sent to a provider.
        Some(var) if super::variables().any(|own| own == var) => {
            return Err(format!(
                "tenant `{tenant}`: identity_provider.client_secret_env names one of the service's own settings"
            ));
        }
        None => None,
        Some(var) => Some(env(var).filter(|s| !s.is_empty()).map(SecretString::from).ok_or_else(|| {
            format!("tenant `{tenant}`: identity_provider.client_secret_env names a variable that is not set")
        })?),
    };
    Ok(IdentityProvider { issuer: p.issuer, token_endpoint: p.token_endpoint, client_id: p.client_id, client_secret })
}

/// The `position`th tenant of the file, its name and hashes checked.
fn tenant_keys(position: usize, tenant: Tenant) -> Result<TenantKeys, String> {
    let name = TenantId::parse(&tenant.name).map_err(|e| format!("tenant #{position}: its name {}", e.reason))?;
    if tenant.keys.is_empty() {
        return Err(format!("tenant `{name}` has no keys"));
    }
    let mut keys = TenantKeys { tenant: name, current: Vec::new(), previous: Vec::new() };
    for (k, key) in tenant.keys.into_iter().enumerate() {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(key.hash.trim(), &mut digest).map_err(|_| {
            format!("tenant `{}`, key #{}: hash must be 64 hex characters (the SHA-256 of the key)", keys.tenant, k + 1)
        })?;
        match key.previous {
            None => keys.current.push(digest),
            Some(o) => keys.previous.push(KeyRotation {
                previous_digest: digest,
                min_overlap: Duration::from_secs(o.min_overlap_seconds),
                max_overlap: Duration::from_secs(o.max_overlap_seconds.max(o.min_overlap_seconds)),
            }),
        }
    }
    Ok(keys)
}

/// Refuses a hash listed twice, naming the tenants that list it.
fn distinct_hashes(tenants: &[TenantKeys]) -> Result<(), String> {
    let mut owner: BTreeMap<[u8; 32], &TenantId> = BTreeMap::new();
    for t in tenants {
        for digest in t.current.iter().chain(t.previous.iter().map(|r| &r.previous_digest)) {
            match owner.insert(*digest, &t.tenant) {
                Some(other) if other == &t.tenant => {
                    return Err(format!("tenant `{other}` lists the same key hash twice"));
                }
                Some(other) => return Err(format!("tenants `{other}` and `{}` list the same key hash", t.tenant)),
                None => {}
            }
        }
    }
    Ok(())
}

/// The file's structure in `format`. A syntax error says where, a structural one also names a
/// field of ours; neither repeats what the file holds.
fn read(text: &str, format: Format) -> Result<File, String> {
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| {
            let at = format!("line {}, column {}", e.line(), e.column());
            match e.classify() {
                serde_json::error::Category::Data => structural(&e.to_string(), &at),
                _ => format!("not valid JSON (at {at})"),
            }
        }),
        Format::Toml => {
            let at = |e: &toml::de::Error| e.span().map(|s| line_and_column(text, s.start)).unwrap_or_default();
            toml::from_str::<toml::Table>(text).map_err(|e| format!("not valid TOML (at {})", at(&e)))?;
            toml::from_str(text).map_err(|e| structural(e.message(), &at(&e)))
        }
    }
}

/// What serde said is wrong with the structure, without the value: the field it names when it is
/// one of ours (lower-case words), else only where.
fn structural(message: &str, at: &str) -> String {
    for what in ["unknown field", "missing field", "duplicate field"] {
        if let Some(rest) = message.strip_prefix(what) {
            let field = rest.strip_prefix(" `").and_then(|r| r.split_once('`')).map(|(name, _)| name);
            return match field.filter(|f| f.len() <= 40 && f.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')) {
                Some(name) => format!("{what} `{name}` (at {at})"),
                None => format!("{what} (at {at})"),
            };
        }
    }
    format!("a value of the wrong type or form (at {at})")
}

/// `line L, column C` (from 1) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

#[cfg(test)]
#[path = "keys_file_tests.rs"]
mod tests;
