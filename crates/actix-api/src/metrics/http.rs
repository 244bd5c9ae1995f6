//! The request-metrics middleware and the label values it may use.

use std::rc::Rc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use domain::TenantId;

use super::ApiMetrics;
use crate::endpoint::Route;

/// Longest issuer label kept; longer ones are cut (a label is not a place for a whole URL).
const MAX_ISSUER_LABEL: usize = 120;

/// Times and counts every request by method, route pattern and status (and tenant, when on).
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<ApiMetrics>>().cloned();
    let method = req.method().clone();
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let (route, status, tenant) = match &result {
            Ok(response) => {
                let extensions = response.request().extensions();
                let route = extensions.get::<Route>().map(|r| Rc::clone(&r.0));
                (route, response.status().as_u16(), extensions.get::<TenantId>().cloned())
            }
            Err(error) => (None, error.as_response_error().status_code().as_u16(), None),
        };
        let route = route.as_deref().unwrap_or("unmatched");
        metrics.observe_request(&method, route, status, tenant.as_ref(), started.elapsed());
    }
    result
}

/// Standard methods by name; anything else (actix accepts extension methods) is `OTHER`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// An issuer as a label: scheme, host, port and path. User info, query and fragment (where a
/// careless URL could hold a secret) are dropped; what does not parse is `invalid`.
pub(crate) fn issuer_label(issuer: &str) -> String {
    let Ok(url) = url::Url::parse(issuer) else { return "invalid".to_owned() };
    let Some(host) = url.host_str() else { return "invalid".to_owned() };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    let mut label = format!("{}://{host}{port}{path}", url.scheme());
    if label.len() > MAX_ISSUER_LABEL {
        let mut end = MAX_ISSUER_LABEL;
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        label.truncate(end);
    }
    label
}
