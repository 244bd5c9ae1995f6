//! Where the browser comes back to, and who the service says it is there.
//!
//! RFC 9700 §4.4.2's defence against mix-up: where the authorization server is chosen
//! dynamically (discovery without a pinned `oauth.issuer`), each one gets its own redirect URI,
//! `<base>/assets/oauth/callback/<key>`, and its own Client ID Metadata Document,
//! `<base>/oauth/client-metadata/<key>.json`, the key derived from the issuer alone. A flow
//! completes only at the redirect URI it was started with. Static catalog entries and pinned
//! discovery entries keep the shared `<base>/assets/oauth/callback` their operators registered.

use sha2::{Digest, Sha256};

use crate::Settings;

/// Length of an issuer key: 32 lowercase hex characters (128 bits of SHA-256).
const KEY_LEN: usize = 32;

/// The key of `issuer`'s redirect URI and client metadata document.
pub fn issuer_key(issuer: &str) -> String {
    let mut key = hex::encode(Sha256::digest(issuer.as_bytes()));
    key.truncate(KEY_LEN);
    key
}

/// Whether `key` has the form of an issuer key (it may still belong to no issuer).
pub fn is_issuer_key(key: &str) -> bool {
    key.len() == KEY_LEN && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Settings {
    pub const CALLBACK_PATH: &'static str = "/assets/oauth/callback";
    pub const CLIENT_METADATA_PATH: &'static str = "/oauth/client-metadata.json";

    fn base(&self) -> &str {
        self.redirect_base_url.trim_end_matches('/')
    }

    /// The service's public base URL, without a trailing `/` (the MCP proxy's URLs start with it).
    pub fn public_base_url(&self) -> &str {
        self.base()
    }

    /// The shared redirect URI: `<base>/assets/oauth/callback`.
    pub fn redirect_uri(&self) -> String {
        self.callback_uri(None)
    }

    /// The redirect URI of issuer key `key`, or the shared one for `None`.
    pub fn callback_uri(&self, key: Option<&str>) -> String {
        match key {
            Some(key) => format!("{}{}/{key}", self.base(), Self::CALLBACK_PATH),
            None => format!("{}{}", self.base(), Self::CALLBACK_PATH),
        }
    }

    /// Where the service publishes its public signing keys (`GET /oauth/jwks.json`).
    pub fn jwks_uri(&self) -> String {
        format!("{}/oauth/jwks.json", self.base())
    }

    /// The shared Client ID Metadata Document URL, when the public base is https.
    pub fn client_metadata_url(&self) -> Option<String> {
        self.client_metadata_url_at(None)
    }

    /// The Client ID Metadata Document URL of issuer key `key` (the shared one for `None`),
    /// when the public base is https.
    pub fn client_metadata_url_at(&self, key: Option<&str>) -> Option<String> {
        let base = self.base();
        let path = match key {
            Some(key) => format!("/oauth/client-metadata/{key}.json"),
            None => Self::CLIENT_METADATA_PATH.to_owned(),
        };
        base.starts_with("https://").then(|| format!("{base}{path}"))
    }

    /// Whether `client_id` is one of the service's Client ID Metadata Documents for flows at
    /// `issuer`: the shared one, or that issuer's own.
    pub fn is_client_metadata_url(&self, client_id: &str, issuer: &str) -> bool {
        [None, Some(issuer_key(issuer))]
            .iter()
            .filter_map(|key| self.client_metadata_url_at(key.as_deref()))
            .any(|url| url == client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_key_is_32_hex_characters_and_depends_on_the_issuer_alone() {
        let key = issuer_key("https://as.example");
        assert!(is_issuer_key(&key), "{key}");
        assert_eq!(key, issuer_key("https://as.example"));
        assert_ne!(key, issuer_key("https://as.example/tenant"));
        for bad in ["", "ABCDEF0123456789abcdef0123456789", &format!("{key}0"), "g".repeat(32).as_str()] {
            assert!(!is_issuer_key(bad), "{bad}");
        }
    }
}
