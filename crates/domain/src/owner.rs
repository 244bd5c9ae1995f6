//! Whose a connection is: the tenant (whose engine key called) and the end user that engine acts
//! for. Every connection, flow and audit event belongs to exactly one [`Owner`], and nothing of
//! one owner is visible to another.

use std::fmt;

use crate::ParseError;

/// Whether `b` may appear in a tenant or end-user id: `[A-Za-z0-9._:@+-]`.
fn id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._:@+-".contains(&b)
}

/// Parses an id of 1 to `max` characters of `[A-Za-z0-9._:@+-]` (ASCII, so bytes are characters).
fn parse_id(field: &'static str, input: &str, max: usize) -> Result<String, ParseError> {
    if input.is_empty() || input.len() > max || !input.bytes().all(id_byte) {
        return Err(ParseError::new(field, format!("must be 1 to {max} characters of A-Z a-z 0-9 . _ : @ + -")));
    }
    Ok(input.to_owned())
}

/// A tenant: the party an engine key belongs to. Tenants share the catalog and nothing else.
/// 1 to 64 characters of `[A-Za-z0-9._:@+-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub const MAX_CHARS: usize = 64;
    /// The tenant of the single-key variables (`ENGINE_API_KEY`, `ENGINE_KEY_HASH`, …) and of
    /// every row stored before tenants existed.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        parse_id("tenant", input, Self::MAX_CHARS).map(Self)
    }

    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The end user an engine call acts for (`X-End-User-Id`): 1 to 255 characters of
/// `[A-Za-z0-9._:@+-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub const MAX_CHARS: usize = 255;
    /// The user of a call that names none, and of every row stored before users existed.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        parse_id("X-End-User-Id", input, Self::MAX_CHARS).map(Self)
    }

    pub fn default_user() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! display_as_str {
    ($($ty:ident),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.0)
            }
        }
    )*};
}
display_as_str!(TenantId, UserId);

/// The (tenant, end user) pair every connection, flow and audit event is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    pub tenant: TenantId,
    pub user: UserId,
}

impl Owner {
    pub fn new(tenant: TenantId, user: UserId) -> Self {
        Self { tenant, user }
    }

    /// Tenant `default`, user `default`: the owner of a call that names neither, and of every
    /// row stored before owners existed.
    pub fn default_owner() -> Self {
        Self::new(TenantId::default_tenant(), UserId::default_user())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_id_takes_every_allowed_character_up_to_255() {
        let all = "AZaz09._:@+-";
        assert_eq!(UserId::parse(all).unwrap().as_str(), all);
        assert!(UserId::parse(&"u".repeat(255)).is_ok());
        assert!(UserId::parse("user@example.com").is_ok());
    }

    #[test]
    fn a_user_id_refuses_empty_long_and_other_characters() {
        for bad in ["", " ", "a b", "a/b", "é", "a\u{202e}b", "a\nb", "a%2F", &"u".repeat(256)] {
            let e = UserId::parse(bad).unwrap_err();
            assert_eq!(e.field, "X-End-User-Id", "{bad:?}");
            assert!(!e.reason.contains(bad) || bad.is_empty() || bad == " ", "{bad:?}: {}", e.reason);
        }
    }

    #[test]
    fn a_tenant_id_is_at_most_64_characters() {
        assert!(TenantId::parse(&"t".repeat(64)).is_ok());
        assert_eq!(TenantId::parse(&"t".repeat(65)).unwrap_err().field, "tenant");
    }

    #[test]
    fn the_default_owner_is_tenant_default_and_user_default() {
        let owner = Owner::default_owner();
        assert_eq!((owner.tenant.as_str(), owner.user.as_str()), ("default", "default"));
    }
}
