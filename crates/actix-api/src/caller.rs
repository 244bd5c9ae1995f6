//! Who a keyed request acts for: the tenant its engine key belongs to (put in the request's
//! extensions by the key guard) and the end user it names in `X-End-User-Id` (`default` when it
//! names none, so the seed API works as before). Handlers take a [`Caller`] and pass its
//! [`Owner`] to the use case; nothing of another owner is reachable from it.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use domain::{Owner, TenantId, UserId};

use crate::ApiError;

pub const END_USER_HEADER: &str = "X-End-User-Id";

/// The owner a keyed request acts for.
#[derive(Debug, Clone)]
pub struct Caller(pub Owner);

impl Caller {
    /// The tenant is the key guard's word only: a request it did not pass (a route mounted
    /// without it, by mistake) acts for no one, rather than for tenant `default`, which owns
    /// every row stored before tenants existed.
    fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        let tenant = req.extensions().get::<TenantId>().cloned();
        let tenant =
            tenant.ok_or_else(|| ApiError::new(crate::ErrorCode::InvalidKey, "missing or invalid X-Engine-Key"))?;
        Ok(Self(Owner::new(tenant, end_user(req)?)))
    }
}

/// The `X-End-User-Id` of `req`: `default` when absent; one header of the allowed form;
/// anything else (two headers, bytes that are not text, a malformed id) is `422`, naming the
/// header and never repeating its value.
fn end_user(req: &HttpRequest) -> Result<UserId, ApiError> {
    let mut values = req.headers().get_all(END_USER_HEADER);
    let refuse = |reason: &str| ApiError::validation(END_USER_HEADER, format!("{END_USER_HEADER}: {reason}"));
    match (values.next(), values.next()) {
        (None, _) => Ok(UserId::default_user()),
        (Some(_), Some(_)) => Err(refuse("sent more than once")),
        (Some(one), None) => {
            let text = one.to_str().map_err(|_| refuse("must be 1 to 255 characters of A-Z a-z 0-9 . _ : @ + -"))?;
            UserId::parse(text).map_err(|e| refuse(&e.reason))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::of(req))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// The owner of `req` once the key guard passed it for tenant `default`.
    fn caller(req: TestRequest) -> Result<Owner, ApiError> {
        let req = req.to_http_request();
        req.extensions_mut().insert(TenantId::default_tenant());
        Caller::of(&req).map(|c| c.0)
    }

    #[test]
    fn a_request_that_names_no_user_acts_for_its_tenants_default_user() {
        assert_eq!(caller(TestRequest::default()).unwrap(), Owner::default_owner());
    }

    #[test]
    fn a_request_the_key_guard_did_not_pass_acts_for_no_one() {
        let e = Caller::of(&TestRequest::default().to_http_request()).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidKey);
    }

    #[test]
    fn the_tenant_comes_from_the_key_guard_and_the_user_from_the_header() {
        let req = TestRequest::default().insert_header((END_USER_HEADER, "alice@example.com")).to_http_request();
        req.extensions_mut().insert(TenantId::parse("acme").unwrap());
        let owner = Caller::of(&req).unwrap().0;
        assert_eq!((owner.tenant.as_str(), owner.user.as_str()), ("acme", "alice@example.com"));
    }

    #[test]
    fn a_malformed_or_repeated_user_header_is_a_validation_error_that_repeats_nothing() {
        let repeated =
            TestRequest::default().append_header((END_USER_HEADER, "alice")).append_header((END_USER_HEADER, "bob"));
        for req in [TestRequest::default().insert_header((END_USER_HEADER, "sk live secret")), repeated] {
            let e = caller(req).unwrap_err();
            assert_eq!(e.details.field.as_deref(), Some(END_USER_HEADER));
            assert!(!e.message.contains("secret") && !e.message.contains("alice"), "{}", e.message);
        }
    }
}
