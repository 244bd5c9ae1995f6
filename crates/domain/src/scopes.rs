use std::fmt;

use crate::ParseError;

/// A set of OAuth scope tokens (RFC 6749 §3.3), kept in first-seen order without duplicates.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Most scopes a connection may carry; a provider that grants more is cut off with an error.
    pub const MAX: usize = 128;

    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// Parses a space-delimited scope string as OAuth sends it.
    pub fn parse_delimited(input: &str) -> Result<Self, ParseError> {
        Self::from_tokens(input.split(' ').filter(|s| !s.is_empty()))
    }

    /// Builds scopes from separate tokens, refusing any that RFC 6749 does not allow.
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, ParseError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out: Vec<String> = Vec::new();
        for token in tokens {
            let token = token.as_ref();
            let valid = !token.is_empty()
                && token.len() <= 256
                && token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(ParseError::new("scopes", "contains a character OAuth scopes may not hold"));
            }
            if !out.iter().any(|s| s == token) {
                if out.len() == Self::MAX {
                    return Err(ParseError::new("scopes", "too many scopes"));
                }
                out.push(token.to_owned());
            }
        }
        Ok(Self(out))
    }

    /// This set with `scope` added at the end, unless it is there already.
    #[must_use]
    pub fn with(mut self, scope: &str) -> Self {
        if !self.contains(scope) && Self::from_tokens([scope]).is_ok() {
            self.0.push(scope.to_owned());
        }
        self
    }

    /// This set without `scope`.
    #[must_use]
    pub fn without(mut self, scope: &str) -> Self {
        self.0.retain(|s| s != scope);
        self
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The OAuth wire form: tokens joined by single spaces.
    pub fn to_delimited(&self) -> String {
        self.0.join(" ")
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_drops_empty_tokens_and_duplicates_but_keeps_order() {
        let s = Scopes::parse_delimited("  chat:write channels:read  chat:write ").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), ["chat:write", "channels:read"]);
        assert_eq!(s.to_delimited(), "chat:write channels:read");
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_refused() {
        for bad in ["a\"b", "a\\b", "a\tb", "é"] {
            assert!(Scopes::from_tokens([bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn with_adds_a_scope_once() {
        let s = Scopes::parse_delimited("read").unwrap().with("offline_access").with("offline_access");
        assert_eq!(s.to_delimited(), "read offline_access");
    }

    #[test]
    fn without_removes_a_scope_and_keeps_the_order_of_the_others() {
        let s = Scopes::parse_delimited("read offline_access write").unwrap().without("offline_access");
        assert_eq!(s.to_delimited(), "read write");
        assert_eq!(s.clone().without("absent"), s);
    }
}
