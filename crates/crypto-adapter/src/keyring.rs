use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ports::{Cipher, CipherError, Sealed};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;

/// Why a configured key cannot be used. Never repeats the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("{name}: not URL-safe base64")]
    NotBase64 { name: &'static str },
    #[error("{name}: must decode to 32 bytes, not {len}")]
    WrongLength { name: &'static str, len: usize },
}

struct Key {
    id: [u8; KEY_ID_LEN],
    aead: XChaCha20Poly1305,
}

impl Key {
    fn parse(encoded: &str, name: &'static str) -> Result<Self, KeyringError> {
        let trimmed = encoded.trim();
        let bytes = URL_SAFE
            .decode(trimmed)
            .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('=')))
            .map_err(|_| KeyringError::NotBase64 { name })?;
        if bytes.len() != 32 {
            return Err(KeyringError::WrongLength { name, len: bytes.len() });
        }
        let digest = Sha256::digest(&bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let aead = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| KeyringError::WrongLength { name, len: bytes.len() })?;
        Ok(Self { id, aead })
    }
}

/// The current encryption key, which seals, and older keys, which only open (rotation).
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &hex::encode(self.current.id))
            .field("previous", &self.previous.iter().map(|k| hex::encode(k.id)).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Builds a keyring from `AD_ENCRYPTION_KEY` and the entries of `AD_ENCRYPTION_KEYS_PREVIOUS`.
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Result<Self, KeyringError> {
        let current = Key::parse(current.expose_secret(), "AD_ENCRYPTION_KEY")?;
        let previous = previous
            .iter()
            .map(|k| Key::parse(k.expose_secret(), "AD_ENCRYPTION_KEYS_PREVIOUS"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { current, previous })
    }

    /// A fresh random key in the configuration format (URL-safe base64 of 32 bytes, padded,
    /// the same format as a Fernet key).
    pub fn generate_key() -> SecretString {
        let mut bytes = [0u8; 32];
        crate::random::fill(&mut bytes);
        SecretString::from(URL_SAFE.encode(bytes))
    }

    /// The hex id of the current key (safe to log).
    pub fn current_key_id(&self) -> String {
        hex::encode(self.current.id)
    }

    fn key_for(&self, id: &[u8]) -> Option<&Key> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id)
    }
}

fn authenticated_data(header: &[u8], aad: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + aad.len());
    out.extend_from_slice(header);
    out.extend_from_slice(aad.as_bytes());
    out
}

impl Cipher for Keyring {
    fn seal(&self, plaintext: &SecretString, aad: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        crate::random::fill(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.expose_secret().len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        let payload = Payload { msg: plaintext.expose_secret().as_bytes(), aad: &authenticated_data(&out, aad) };
        let ciphertext = self
            .current
            .aead
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encryption has no failure for in-memory input"));
        out.extend_from_slice(&ciphertext);
        Sealed(out)
    }

    fn open(&self, sealed: &Sealed, aad: &str) -> Result<SecretString, CipherError> {
        let bytes = &sealed.0;
        if bytes.len() < HEADER_LEN + TAG_LEN || bytes[0] != VERSION {
            return Err(CipherError::Corrupt);
        }
        let (header, ciphertext) = bytes.split_at(HEADER_LEN);
        let key_id = &header[1..1 + KEY_ID_LEN];
        let key = self.key_for(key_id).ok_or_else(|| CipherError::UnknownKey(hex::encode(key_id)))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&header[1 + KEY_ID_LEN..]);
        let plaintext = key
            .aead
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: &authenticated_data(header, aad) })
            .map_err(|_| CipherError::Corrupt)?;
        let text = String::from_utf8(plaintext).map_err(|_| CipherError::Corrupt)?;
        Ok(SecretString::from(text))
    }

    fn is_current(&self, sealed: &Sealed) -> bool {
        sealed.0.len() > KEY_ID_LEN && sealed.0[0] == VERSION && sealed.0[1..1 + KEY_ID_LEN] == self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> (Keyring, SecretString) {
        let key = Keyring::generate_key();
        (Keyring::new(&key, &[]).unwrap(), key)
    }

    #[test]
    fn a_sealed_secret_opens_with_the_same_associated_data() {
        let (k, _) = ring();
        let sealed = k.seal(&SecretString::from("tok-123"), "connections/conn-a/access_token");
        assert_eq!(k.open(&sealed, "connections/conn-a/access_token").unwrap().expose_secret(), "tok-123");
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let (k, _) = ring();
        let sealed = k.seal(&SecretString::from("tok-123"), "connections/conn-a/access_token");
        assert!(matches!(k.open(&sealed, "connections/conn-b/access_token"), Err(CipherError::Corrupt)));
        assert!(matches!(k.open(&sealed, "connections/conn-a/refresh_token"), Err(CipherError::Corrupt)));
    }

    #[test]
    fn the_ciphertext_does_not_contain_the_plaintext_and_nonces_differ() {
        let (k, _) = ring();
        let secret = SecretString::from("very-distinctive-secret");
        let a = k.seal(&secret, "x");
        let b = k.seal(&secret, "x");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.0.windows(8).any(|w| w == b"distinct"));
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let (k, _) = ring();
        let sealed = k.seal(&SecretString::from("abc"), "x");
        for i in 0..sealed.0.len() {
            let mut bad = sealed.clone();
            bad.0[i] ^= 0x01;
            assert!(k.open(&bad, "x").is_err(), "byte {i}");
        }
        assert!(k.open(&Sealed(sealed.0[..10].to_vec()), "x").is_err());
    }

    #[test]
    fn previous_keys_open_but_only_the_current_key_seals() {
        let (old, old_key) = ring();
        let sealed_old = old.seal(&SecretString::from("abc"), "x");
        let new_key = Keyring::generate_key();
        let rotated = Keyring::new(&new_key, &[old_key]).unwrap();
        assert_eq!(rotated.open(&sealed_old, "x").unwrap().expose_secret(), "abc");
        assert!(!rotated.is_current(&sealed_old));
        assert!(rotated.is_current(&rotated.seal(&SecretString::from("abc"), "x")));
    }

    #[test]
    fn a_secret_sealed_under_a_retired_key_names_the_key_id() {
        let (old, _) = ring();
        let (new, _) = ring();
        let sealed = old.seal(&SecretString::from("abc"), "x");
        assert!(
            matches!(new.open(&sealed, "x"), Err(CipherError::UnknownKey(id)) if id == hex::encode(old.current.id))
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_url_safe_base64_and_errors_do_not_echo_them() {
        let err = Keyring::new(&SecretString::from("c2hvcnQ="), &[]).unwrap_err();
        assert_eq!(err, KeyringError::WrongLength { name: "AD_ENCRYPTION_KEY", len: 5 });
        let err = Keyring::new(&SecretString::from("not base64 at all!!"), &[]).unwrap_err();
        assert!(!err.to_string().contains("not base64 at all"));
        // A Fernet key, padded, and the same key unpadded both parse.
        let fernet = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
        assert!(Keyring::new(&SecretString::from(fernet), &[]).is_ok());
        assert!(Keyring::new(&SecretString::from(fernet.trim_end_matches('=')), &[]).is_ok());
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let (k, key) = ring();
        let shown = format!("{k:?}");
        assert!(!shown.contains(key.expose_secret()));
        assert!(shown.contains(&k.current_key_id()));
    }
}
