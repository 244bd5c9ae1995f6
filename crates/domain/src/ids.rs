use std::fmt;

/// Why a piece of outside input is not a valid domain value. The text is safe to show a caller:
/// it never repeats more than a bounded prefix of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParseError {
    pub field: &'static str,
    pub reason: String,
}

impl ParseError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// The lowercase base32 alphabet of every random id (`conn-…`, `evt_…`, `wh_…`).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// 16 bytes in base32: 26 characters.
const BODY_LEN: usize = 26;

/// `prefix` and 16 random bytes in lowercase base32 (130 bits, of which 128 are random).
pub(crate) fn random_id(prefix: &str, bytes: [u8; 16]) -> String {
    let mut id = String::with_capacity(prefix.len() + BODY_LEN);
    id.push_str(prefix);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            id.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        id.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    id
}

/// `input` when it is `prefix` and 26 characters of the alphabet; `field: what` otherwise (the
/// input itself is never repeated).
pub(crate) fn parse_random_id(
    input: &str,
    prefix: &str,
    field: &'static str,
    what: &'static str,
) -> Result<String, ParseError> {
    let body =
        input.strip_prefix(prefix).ok_or_else(|| ParseError::new(field, format!("must start with `{prefix}`")))?;
    if body.len() != BODY_LEN || !body.bytes().all(in_alphabet) {
        return Err(ParseError::new(field, what));
    }
    Ok(input.to_owned())
}

/// Whether `b` is in [`ALPHABET`], by range rather than by search: every stored connection is
/// parsed again when it is read, a hundred per listing.
fn in_alphabet(b: u8) -> bool {
    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
}

/// The public handle of a connection: `conn-` followed by 26 lowercase base32 characters
/// (130 bits from the id source, of which 128 are random).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefId(String);

impl RefId {
    pub const PREFIX: &'static str = "conn-";

    /// Builds a ref id from 16 random bytes (the id source's job is to make them unpredictable).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(random_id(Self::PREFIX, bytes))
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        parse_random_id(input, Self::PREFIX, "ref_id", "is not a connection reference").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefId({})", self.0)
    }
}

/// A server's name in the catalog, or the name a user gives a custom server:
/// 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerName(String);

impl ServerName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::new("server_name", "must not be empty"));
        }
        if input.len() > Self::MAX_LEN {
            return Err(ParseError::new("server_name", "must be at most 64 characters"));
        }
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let first_ok = input.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || !input.chars().all(ok_char) {
            return Err(ParseError::new(
                "server_name",
                "may hold only a-z, 0-9, `-` and `_`, and must start with a letter or digit",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerName({})", self.0)
    }
}

/// `input` as text that is shown back: 1 to `max_chars` characters, none of them a control or
/// bidirectional formatting character (which could make it read as something else).
fn shown_text(input: &str, field: &'static str, max_chars: usize) -> Result<String, ParseError> {
    let chars = input.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(ParseError::new(field, format!("must be 1 to {max_chars} characters")));
    }
    if input.chars().any(crate::text::is_hidden_control) {
        return Err(ParseError::new(field, "must hold no control or bidirectional formatting characters"));
    }
    Ok(input.to_owned())
}

/// The caller's own name for a connection, telling apart several accounts on one server ("work",
/// "personal"): 1 to 64 characters, none of them a control character or a bidirectional
/// formatting character (which could make a listed label read as something else).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Label(String);

impl Label {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        shown_text(input, "label", Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", self.0)
    }
}

/// Who signed in at the provider, as the provider named them (an e-mail address or an account
/// id), so that several accounts on one server can be told apart. Never a secret. 1 to 255
/// characters, none of them a control or bidirectional formatting character.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Account(String);

impl Account {
    pub const MAX_CHARS: usize = 255;

    /// A stored account, checked as strictly as it was written.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        shown_text(input, "account", Self::MAX_CHARS).map(Self)
    }

    /// What a provider said, cleaned (`text::cleaned`: no control or bidirectional formatting
    /// characters, trimmed) and cut to fit; `None` when nothing is left.
    pub fn from_provider(said: &str) -> Option<Self> {
        let whole = crate::text::cleaned(said, Self::MAX_CHARS);
        let kept = if whole.chars().count() > Self::MAX_CHARS {
            crate::text::cleaned(said, Self::MAX_CHARS - 1)
        } else {
            whole
        };
        Self::parse(kept.trim()).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Account({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_id_from_random_bytes_parses_back() {
        let id = RefId::from_random([0xAB; 16]);
        assert!(id.as_str().starts_with("conn-"));
        assert_eq!(id.as_str().len(), 5 + 26);
        assert_eq!(RefId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn different_random_bytes_give_different_ref_ids() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a[15] = 1;
        b[15] = 2;
        assert_ne!(RefId::from_random(a), RefId::from_random(b));
    }

    #[test]
    fn the_ref_id_alphabet_check_accepts_exactly_the_alphabet() {
        for b in 0..=u8::MAX {
            assert_eq!(in_alphabet(b), ALPHABET.contains(&b), "byte {b}");
        }
    }

    #[test]
    fn ref_ids_without_prefix_or_with_foreign_characters_are_refused() {
        for bad in [
            "",
            "conn-",
            "abc",
            "conn-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "conn-../../etc/passwd",
            "conn-aaaaaaaaaaaaaaaaaaaaaaaaa1",
        ] {
            assert!(RefId::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn server_names_follow_the_catalog_alphabet() {
        for good in ["slack", "google-drive", "a", "x_1", "9lives"] {
            assert!(ServerName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Slack", "-lead", "_lead", "has space", "ünïcode", "a/b", &"a".repeat(65)] {
            assert!(ServerName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_errors_name_the_field() {
        let err = ServerName::parse("").unwrap_err();
        assert_eq!(err.field, "server_name");
        assert!(err.to_string().starts_with("server_name: "));
    }

    #[test]
    fn a_label_is_one_to_sixty_four_characters_of_any_script() {
        assert_eq!(Label::parse("Work GitHub").unwrap().as_str(), "Work GitHub");
        assert!(Label::parse(&"é".repeat(64)).is_ok(), "64 characters, 128 bytes");
        assert!(Label::parse("").is_err());
        assert!(Label::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn a_label_with_a_control_or_bidirectional_character_is_refused() {
        for bad in ["line\nbreak", "tab\there", "\u{202E}evil", "a\u{2066}b", "nul\u{0}", "a\u{061C}b"] {
            assert!(Label::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_account_a_provider_names_is_kept_as_said_when_clean() {
        assert_eq!(Account::from_provider("ada@example.com").unwrap().as_str(), "ada@example.com");
        assert_eq!(Account::from_provider("  U0123ABC ").unwrap().as_str(), "U0123ABC", "trimmed");
    }

    #[test]
    fn a_hostile_account_is_cleaned_cut_to_255_characters_or_dropped_when_nothing_is_left() {
        let cleaned = Account::from_provider("\u{202E}moc.evil\u{2066}@ada\n").unwrap();
        assert_eq!(cleaned.as_str(), "moc.evil@ada");
        let long = Account::from_provider(&"é".repeat(300)).unwrap();
        assert_eq!(long.as_str().chars().count(), Account::MAX_CHARS);
        assert!(long.as_str().ends_with('…'), "a cut is marked");
        assert_eq!(Account::from_provider(&"é".repeat(255)).unwrap().as_str(), "é".repeat(255), "255 fit uncut");
        for nothing in ["", "   ", "\u{202E}\n\t"] {
            assert_eq!(Account::from_provider(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn a_stored_account_parses_only_as_it_could_have_been_written() {
        assert!(Account::parse("ada@example.com").is_ok());
        for bad in ["", "a\nb", "\u{202E}x", &"a".repeat(256)] {
            assert!(Account::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
