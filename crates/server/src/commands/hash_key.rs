//! `hash-key`: the hex SHA-256 of an engine key, the value `ENGINE_KEY_HASH` takes, so the
//! plaintext key never has to reach the service. The key is read from standard input only: on
//! the command line it would stay in the shell's history and show in the process list.

use std::io::Read;

use secrecy::{ExposeSecret, SecretString};

/// Why no digest was printed. Never repeats the key.
#[derive(Debug, thiserror::Error)]
pub enum HashKeyError {
    #[error("cannot read the key from standard input: {0}")]
    Read(#[source] std::io::Error),
    #[error("no key on standard input")]
    Empty,
    #[error(
        "hash-key reads the key from standard input, never from the command line (where it would stay \
         in the shell history and show in the process list): asset-directory hash-key < key-file"
    )]
    OnCommandLine,
}

/// Reads the key from `input` (one trailing line break is not part of it) and returns the hex
/// SHA-256 of it.
pub fn hash_key(mut input: impl Read) -> Result<String, HashKeyError> {
    let mut read = String::new();
    let result = input.read_to_string(&mut read);
    let read = SecretString::from(read);
    // An I/O error names the problem (e.g. "not valid UTF-8"), never the bytes.
    result.map_err(HashKeyError::Read)?;
    let key = read.expose_secret().strip_suffix('\n').unwrap_or(read.expose_secret());
    let key = key.strip_suffix('\r').unwrap_or(key);
    if key.is_empty() {
        return Err(HashKeyError::Empty);
    }
    Ok(hex::encode(actix_api::EngineKeys::digest(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_one_the_service_compares_with_and_ignores_one_line_break() {
        let expected = hex::encode(actix_api::EngineKeys::digest("ek-0123"));
        for input in ["ek-0123", "ek-0123\n", "ek-0123\r\n"] {
            assert_eq!(hash_key(input.as_bytes()).unwrap(), expected, "{input:?}");
        }
        assert_ne!(hash_key(" ek-0123".as_bytes()).unwrap(), expected, "other whitespace is part of the key");
    }

    #[test]
    fn empty_input_and_bytes_that_are_not_text_are_refused_without_echo() {
        assert!(matches!(hash_key("".as_bytes()), Err(HashKeyError::Empty)));
        assert!(matches!(hash_key("\n".as_bytes()), Err(HashKeyError::Empty)));
        let err = hash_key(&b"secret\xff\xfe"[..]).unwrap_err();
        assert!(matches!(err, HashKeyError::Read(_)));
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
