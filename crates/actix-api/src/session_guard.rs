//! Connect sessions at the edge: `POST /assets/connect` also accepts `Authorization: Bearer
//! <session_token>` instead of `X-Engine-Key`, and acts as the session's owner. Only endpoints
//! built with [`crate::endpoint::Endpoint::accepting_sessions`] get this guard; every other keyed
//! route keeps the engine-key guard alone, so a session token is `401 INVALID_KEY` there.
//!
//! The guard only sets the token aside; [`Acting`], the handler's first extractor, looks the
//! session up (before the body is read) and refuses an unknown or expired one with `401`.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use app::Deps;
use domain::{ConnectSession, Owner, TenantId};
use secrecy::{ExposeSecret, SecretString};

use crate::caller::END_USER_HEADER;
use crate::key_guard::{self, HEADER as ENGINE_KEY_HEADER};
use crate::{ApiError, ApiState, Caller, ErrorCode};

/// A session token presented as a bearer credential, set aside by the guard.
struct PresentedSession(SecretString);

/// The one `Authorization: Bearer …` value of `req`, if it sends exactly one.
fn bearer(req: &HttpRequest) -> Option<SecretString> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let (Some(only), None) = (values.next(), values.next()) else { return None };
    let text = only.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| SecretString::from(token.trim().to_owned()))
}

/// The middleware of an endpoint that accepts a session: a request without `X-Engine-Key` that
/// carries a bearer token goes on with the token set aside; anything else meets the engine-key
/// guard as on every keyed route.
pub(crate) async fn require_engine_key_or_session(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !req.headers().contains_key(ENGINE_KEY_HEADER) {
        if let Some(token) = bearer(req.request()) {
            req.extensions_mut().insert(PresentedSession(token));
            return Ok(next.call(req).await?.map_into_left_body());
        }
    }
    match key_guard::verdict(req.request()) {
        Ok(tenant) => {
            req.extensions_mut().insert::<TenantId>(tenant);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
    }
}

/// The bearer token the guard set aside on `req`, taken (the proxy routes: a proxy token).
pub(crate) fn take_bearer(req: &HttpRequest) -> Option<SecretString> {
    req.extensions_mut().remove::<PresentedSession>().map(|PresentedSession(token)| token)
}

fn invalid_session() -> ApiError {
    ApiError::new(ErrorCode::InvalidKey, "missing, unknown or expired connect session token")
}

/// Whom a request to an endpoint accepting sessions acts for.
#[derive(Debug)]
pub(crate) enum Acting {
    /// The engine, with its key, for the owner its `Caller` names.
    Engine(Owner),
    /// A browser front end with an open connect session.
    Session(ConnectSession),
}

impl Acting {
    async fn of<D: Deps>(req: HttpRequest) -> Result<Self, ApiError> {
        let token = req.extensions_mut().remove::<PresentedSession>();
        let Some(PresentedSession(token)) = token else {
            return Caller::extract(&req).await.map(|Caller(owner)| Self::Engine(owner));
        };
        let state = req.app_data::<web::Data<ApiState<D>>>().ok_or_else(ApiError::internal)?;
        let session = state.directory.session_by_token(token.expose_secret()).await?.ok_or_else(invalid_session)?;
        // The session names its user; a header naming one too is a mistake, not a choice.
        if req.headers().contains_key(END_USER_HEADER) {
            return Err(ApiError::validation(
                END_USER_HEADER,
                format!("{END_USER_HEADER}: not with a connect session, which acts for its own user"),
            ));
        }
        Ok(Self::Session(session))
    }
}

/// `Acting` for the endpoints of `Directory<D>`.
pub(crate) struct ActingFor<D>(pub Acting, pub std::marker::PhantomData<fn() -> D>);

impl<D: Deps> FromRequest for ActingFor<D> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Acting::of::<D>(req).await.map(|a| Self(a, std::marker::PhantomData)) })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_one_bearer_authorization_presents_a_token() {
        let token = |req: TestRequest| bearer(&req.to_http_request()).map(|t| t.expose_secret().to_owned());
        assert_eq!(token(TestRequest::default().insert_header(("Authorization", "Bearer abc"))), Some("abc".into()));
        assert_eq!(token(TestRequest::default().insert_header(("Authorization", "bearer abc"))), Some("abc".into()));
        assert_eq!(token(TestRequest::default().insert_header(("Authorization", "Basic abc"))), None);
        assert_eq!(token(TestRequest::default()), None);
        let twice = TestRequest::default()
            .append_header(("Authorization", "Bearer a"))
            .append_header(("Authorization", "Bearer b"));
        assert_eq!(token(twice), None);
    }
}
