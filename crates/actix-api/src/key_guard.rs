//! The `X-Engine-Key` guard (spec §3): the presented key is checked against every tenant's keys
//! (`engine_keys`), and an accepted request carries its key's [`TenantId`] in its extensions,
//! where [`crate::Caller`] reads it.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use domain::TenantId;

use crate::engine_keys::{EngineKeys, KeyCheck};
use crate::{ApiError, ErrorCode};

pub const HEADER: &str = "X-Engine-Key";

/// The tenant whose accepted engine key `req` carries; the contract error when none. Failed
/// attempts are logged without the key.
pub(crate) fn verdict(req: &HttpRequest) -> Result<TenantId, ApiError> {
    let keys = req.app_data::<web::Data<EngineKeys>>();
    let presented = single_key(req);
    let outcome = match keys {
        Some(keys) => keys.check(presented, Instant::now()),
        None => KeyCheck::Invalid,
    };
    match outcome {
        KeyCheck::Accepted(tenant) => Ok(tenant),
        KeyCheck::RotationPending(tenant) => {
            // The tenant says whose engine still sends its old key; it is a name, not a secret.
            tracing::warn!(
                path = req.path(),
                tenant = %tenant,
                "request with the previous engine key after its grace period"
            );
            Err(ApiError::new(
                ErrorCode::KeyRotationPending,
                "the previous engine key is being retired; retry with the new key",
            ))
        }
        KeyCheck::Invalid => {
            let keys_presented = req.headers().get_all(HEADER).count();
            tracing::warn!(path = req.path(), keys_presented, "rejected engine key");
            Err(ApiError::new(ErrorCode::InvalidKey, "missing or invalid X-Engine-Key"))
        }
    }
}

/// The one key presented. Two `X-Engine-Key` headers present none: which of them a proxy or a
/// framework would read is not something a credential may depend on.
fn single_key(req: &HttpRequest) -> Option<&[u8]> {
    let mut values = req.headers().get_all(HEADER);
    match (values.next(), values.next()) {
        (Some(only), None) => Some(HeaderValue::as_bytes(only)),
        _ => None,
    }
}

/// The middleware of every keyed endpoint. A refusal is an answer, not an `Err`, so the layers
/// outside (request id, metrics) see it like any other.
pub(crate) async fn require_engine_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match verdict(req.request()) {
        Ok(tenant) => {
            req.extensions_mut().insert(tenant);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test};

    use super::*;
    use crate::{Caller, TenantKeys};

    async fn tenant_of(caller: Caller) -> HttpResponse {
        HttpResponse::Ok().body(caller.0.tenant.to_string())
    }

    fn keys() -> web::Data<EngineKeys> {
        let tenant = |name: &str, key: &str| TenantKeys {
            tenant: TenantId::parse(name).unwrap(),
            current: vec![EngineKeys::digest(key)],
            previous: vec![],
        };
        web::Data::new(EngineKeys::of_tenants(vec![tenant("acme", "key-a"), tenant("beta", "key-b")]))
    }

    #[actix_web::test]
    async fn an_accepted_key_puts_its_own_tenant_on_the_request_and_others_are_refused() {
        // Every request reaches the handler through the guard (no route builder: see the openapi test).
        let app = test::init_service(
            App::new().app_data(keys()).default_service(web::to(tenant_of)).wrap(from_fn(require_engine_key)),
        )
        .await;
        let call = |headers: &[&'static str]| {
            headers
                .iter()
                .fold(test::TestRequest::get().uri("/t"), |r, key| r.append_header((HEADER, *key)))
                .to_request()
        };
        for (key, tenant) in [("key-a", "acme"), ("key-b", "beta")] {
            let answer = test::call_service(&app, call(&[key])).await;
            assert_eq!(answer.status(), 200);
            assert_eq!(test::read_body(answer).await, tenant.as_bytes());
        }
        for refused in [&[][..], &["key-c"], &["key-a", "key-a"], &["key-a", "key-b"]] {
            assert_eq!(test::call_service(&app, call(refused)).await.status(), 401, "{}", refused.len());
        }
    }
}
