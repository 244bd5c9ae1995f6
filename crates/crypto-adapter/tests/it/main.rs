//! The keyring against hostile input: whatever bytes a store hands back (damaged, truncated,
//! forged, from another row or another key), opening them fails with a `CipherError` and never
//! panics or yields a secret; whatever text the configuration holds, building a keyring fails
//! cleanly and never repeats it.

use crypto_adapter::Keyring;
use ports::{Cipher, CipherError, Sealed};
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

/// Version byte, key id, nonce: the envelope's header.
const HEADER_LEN: usize = 1 + 4 + 24;

fn ring() -> Keyring {
    Keyring::new(&Keyring::generate_key(), &[Keyring::generate_key()]).unwrap()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_open(bytes in prop::collection::vec(any::<u8>(), 0..256), aad in ".{0,40}") {
        let outcome = ring().open(&Sealed(bytes), &aad);
        prop_assert!(matches!(outcome, Err(CipherError::Corrupt | CipherError::UnknownKey(_))));
    }

    #[test]
    fn forged_bytes_behind_the_current_keys_header_never_open(
        body in prop::collection::vec(any::<u8>(), 0..256),
        aad in ".{0,40}",
    ) {
        let keyring = ring();
        let genuine = keyring.seal(&SecretString::from("x"), "row");
        let mut forged = genuine.0[..HEADER_LEN].to_vec();
        forged.extend_from_slice(&body);
        prop_assert!(matches!(keyring.open(&Sealed(forged), &aad), Err(CipherError::Corrupt)));
    }

    #[test]
    fn a_damaged_envelope_never_opens(
        plaintext in ".{0,64}",
        aad in "[a-z0-9:-]{0,32}",
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let keyring = ring();
        let sealed = keyring.seal(&SecretString::from(plaintext.clone()), &aad);
        let opened = keyring.open(&sealed, &aad).unwrap();
        prop_assert_eq!(opened.expose_secret(), plaintext.as_str());
        let truncated = Sealed(sealed.0[..cut.index(sealed.0.len())].to_vec());
        prop_assert!(keyring.open(&truncated, &aad).is_err());
        let mut flipped = sealed.0.clone();
        let at = flip.index(flipped.len());
        flipped[at] ^= 1 << bit;
        prop_assert!(keyring.open(&Sealed(flipped), &aad).is_err());
        let other_row = format!("{aad}x");
        prop_assert!(keyring.open(&sealed, &other_row).is_err());
    }

    #[test]
    fn another_keyring_never_opens_an_envelope(plaintext in ".{0,64}", aad in ".{0,32}") {
        let sealed = ring().seal(&SecretString::from(plaintext), &aad);
        prop_assert!(matches!(ring().open(&sealed, &aad), Err(CipherError::UnknownKey(_))));
    }

    #[test]
    fn arbitrary_configured_keys_fail_cleanly_without_repeating_the_text(current in ".{0,64}", previous in ".{0,64}") {
        let outcome = Keyring::new(&SecretString::from(current.clone()), &[SecretString::from(previous.clone())]);
        if let Err(e) = outcome {
            let message = e.to_string();
            for text in [&current, &previous].into_iter().filter(|t| t.trim().len() >= 4) {
                prop_assert!(!message.contains(text.trim()), "{}", message);
            }
        }
    }
}
