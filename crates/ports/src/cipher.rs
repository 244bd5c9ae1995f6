use std::fmt;

use secrecy::SecretString;

/// A secret sealed by a [`Cipher`]: an opaque envelope (key id, nonce, ciphertext and tag).
/// Storage adapters keep these bytes as they are and never look inside.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The envelope names a key this process does not hold (it was retired too early).
    #[error("the secret was sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// Tampered, truncated, or bound to another row (associated data mismatch).
    #[error("the secret does not open: it is damaged or belongs to another record")]
    Corrupt,
}

/// Authenticated encryption of secrets at rest (spec §8).
///
/// `aad` binds a ciphertext to the record and field that own it (`connections/<ref_id>/api_key`):
/// a ciphertext copied into another row does not open.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Cipher: Send + Sync + 'static {
    fn seal(&self, plaintext: &SecretString, aad: &str) -> Sealed;
    fn open(&self, sealed: &Sealed, aad: &str) -> Result<SecretString, CipherError>;
    /// Whether `sealed` was made with the current key (the re-encryption command skips those).
    fn is_current(&self, sealed: &Sealed) -> bool;
}
