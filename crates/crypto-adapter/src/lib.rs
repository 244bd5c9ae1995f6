//! Operating-system backed adapters for secrets: the [`Keyring`] that seals secrets at rest with
//! XChaCha20-Poly1305 (spec §8) and the [`OsRandom`] id source for ref ids, OAuth `state` values
//! and PKCE verifiers.
//!
//! Envelope format (version 1), stored as opaque bytes by the stores:
//! `0x01 | key id (4 bytes) | nonce (24 bytes) | ciphertext + tag (16 bytes)`.
//! The key id is the first four bytes of SHA-256 of the key; the header and the caller's
//! associated data (which names the owning row and field) are both authenticated.

mod keyring;
mod random;

pub use keyring::{Keyring, KeyringError};
pub use random::OsRandom;
