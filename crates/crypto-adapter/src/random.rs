use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use domain::{EventId, RefId, WebhookId};
use ports::IdSource;
use secrecy::SecretString;

/// Fills `buf` from the operating system's CSPRNG. Without one the service cannot keep any
/// promise about secrecy, so it stops rather than carry on with weak randomness.
pub(crate) fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random number generator failed: {e}");
    }
}

/// Ids and tokens from the operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl IdSource for OsRandom {
    fn ref_id(&self) -> RefId {
        RefId::from_random(random16())
    }

    fn secret_token(&self) -> SecretString {
        let mut bytes = [0u8; 32];
        fill(&mut bytes);
        SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn event_id(&self) -> EventId {
        EventId::from_random(random16())
    }

    fn webhook_id(&self) -> WebhookId {
        WebhookId::from_random(random16())
    }

    fn signing_secret(&self) -> SecretString {
        let mut bytes = [0u8; 32];
        fill(&mut bytes);
        SecretString::from(format!("whsec_{}", STANDARD.encode(bytes)))
    }
}

fn random16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn secret_tokens_are_43_url_safe_characters_and_unique() {
        let a = OsRandom.secret_token();
        let b = OsRandom.secret_token();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(a.expose_secret().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn signing_secrets_are_whsec_and_32_bytes_of_standard_base64() {
        let a = OsRandom.signing_secret();
        let body = a.expose_secret().strip_prefix("whsec_").expect("prefix");
        assert_eq!(STANDARD.decode(body).expect("standard base64").len(), 32);
        assert_ne!(a.expose_secret(), OsRandom.signing_secret().expose_secret());
    }

    #[test]
    fn ref_ids_are_unique_and_parse() {
        let a = OsRandom.ref_id();
        assert_ne!(a, OsRandom.ref_id());
        assert!(RefId::parse(a.as_str()).is_ok());
    }
}
