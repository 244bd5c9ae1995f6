//! `/assets/webhooks`: the tenant's webhook endpoints for lifecycle events (issue 17), their
//! signing secrets (shown once, rotated with an overlap) and their deliveries. Endpoints belong
//! to the engine key's tenant: another tenant's id is as unknown as one never made.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use app::Deps;
use app::events::{NewWebhook, WebhookChange};
use domain::{EventId, WebhookId};

use crate::dto::{DeliveryDto, WebhookBody, WebhookDto, WebhookPatch, WebhookWithSecret};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::extract::JsonObject;
use crate::paging::{self, DeliveryListParams};
use crate::{ApiError, ApiState, Caller};

pub(crate) fn collection<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_list_webhooks, list_webhooks::<D>).and(__path_create_webhook, create_webhook::<D>)
}

pub(crate) fn one<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_get_webhook, get_webhook::<D>)
        .and(__path_update_webhook, update_webhook::<D>)
        .and(__path_delete_webhook, delete_webhook::<D>)
}

pub(crate) fn rotate<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_rotate_secret, rotate_secret::<D>)
}

pub(crate) fn deliveries<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_list_deliveries, list_deliveries::<D>)
}

pub(crate) fn retry<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_retry_delivery, retry_delivery::<D>)
}

/// A webhook id from the path; a malformed one names no endpoint.
fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| app::Error::WebhookNotFound.into())
}

/// Registers an endpoint for the tenant's lifecycle events. The answer carries its signing
/// secret, this once.
#[utoipa::path(post, path = "/assets/webhooks", tag = "events", request_body = WebhookBody, responses(
    (status = 201, description = "Registered. The secret is shown this once.", body = WebhookWithSecret),
    (status = 400, description = "`INVALID_REQUEST`", body = ErrorBody),
    (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = ErrorBody),
    (status = 422, description = "`VALIDATION_ERROR`: `url` (not https, or a private address) or `events`", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn create_webhook<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    JsonObject(body): JsonObject<WebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let events = body.events()?;
    let made = state.directory.create_webhook(&owner.tenant, NewWebhook { url: body.url, events }).await?;
    let answer = WebhookWithSecret::new(made).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Created().json(answer))
}

/// The tenant's endpoints, oldest first; never a secret.
#[utoipa::path(get, path = "/assets/webhooks", tag = "events", responses(
    (status = 200, description = "The tenant's endpoints.", body = [WebhookDto]),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn list_webhooks<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
) -> Result<HttpResponse, ApiError> {
    let webhooks = state.directory.webhooks(&owner.tenant).await?;
    Ok(HttpResponse::Ok().json(webhooks.iter().map(WebhookDto::from).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/assets/webhooks/{id}", tag = "events",
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`).")),
    responses(
        (status = 200, description = "The endpoint; never its secret.", body = WebhookDto),
        (status = 404, description = "`WEBHOOK_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn get_webhook<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let webhook = state.directory.webhook(&owner.tenant, &webhook_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(WebhookDto::from(&webhook)))
}

/// Changes an endpoint's URL or filter, pauses it, or enables it again (after a `410 Gone`).
#[utoipa::path(patch, path = "/assets/webhooks/{id}", tag = "events", request_body = WebhookPatch,
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`).")),
    responses(
        (status = 200, description = "Changed.", body = WebhookDto),
        (status = 400, description = "`INVALID_REQUEST`", body = ErrorBody),
        (status = 404, description = "`WEBHOOK_NOT_FOUND`", body = ErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: `url` or `events`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn update_webhook<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
    JsonObject(body): JsonObject<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let change = WebhookChange { events: body.events()?, url: body.url, enabled: body.enabled };
    let webhook = state.directory.update_webhook(&owner.tenant, &id, change).await?;
    Ok(HttpResponse::Ok().json(WebhookDto::from(&webhook)))
}

/// Removes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/assets/webhooks/{id}", tag = "events",
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`).")),
    responses(
        (status = 204, description = "Gone."),
        (status = 404, description = "`WEBHOOK_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn delete_webhook<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.directory.delete_webhook(&owner.tenant, &webhook_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives the endpoint a new signing secret, shown this once. The old one keeps signing too (a
/// second `v1,` signature) for `WEBHOOK_SECRET_OVERLAP_SECONDS`.
#[utoipa::path(post, path = "/assets/webhooks/{id}/rotate-secret", tag = "events",
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`).")),
    responses(
        (status = 200, description = "Rotated. The new secret is shown this once.", body = WebhookWithSecret),
        (status = 404, description = "`WEBHOOK_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn rotate_secret<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rotated = state.directory.rotate_webhook_secret(&owner.tenant, &webhook_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(WebhookWithSecret::new(rotated).ok_or_else(ApiError::internal)?))
}

/// The endpoint's deliveries, newest event first, a page at a time.
#[utoipa::path(get, path = "/assets/webhooks/{id}/deliveries", tag = "events",
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)."), DeliveryListParams),
    responses(
        (status = 200, description = "One page of deliveries.", body = [DeliveryDto],
            headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page's URL; absent on the last page."))),
        (status = 404, description = "`WEBHOOK_NOT_FOUND`", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: a query parameter (`details.field` names it)", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn list_deliveries<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let (before, limit) = paging::delivery_query(&req)?;
    let deliveries = state.directory.deliveries(&owner.tenant, &id, before, limit).await?;
    let mut response = HttpResponse::Ok();
    if let Some(last) = deliveries.last().filter(|_| deliveries.len() == limit as usize) {
        response.insert_header((header::LINK, paging::next_deliveries(&req, limit, last.event.seq)));
    }
    Ok(response.json(deliveries.iter().map(DeliveryDto::from).collect::<Vec<_>>()))
}

/// Sends a delivered or failed delivery again, as soon as the dispatcher gets to it, with a
/// fresh `WEBHOOK_RETRY_HOURS`.
#[utoipa::path(post, path = "/assets/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "events",
    params(
        ("id" = String, Path, description = "The endpoint's id (`wh_…`)."),
        ("delivery_id" = String, Path, description = "The delivery's id: its event's (`evt_…`)."),
    ),
    responses(
        (status = 202, description = "Queued."),
        (status = 404, description = "`WEBHOOK_NOT_FOUND`, or `DELIVERY_NOT_FOUND`: no delivered or failed \
            delivery of that event to it (a pending one is on its way already)", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn retry_delivery<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, event) = path.into_inner();
    let id = webhook_id(&id)?;
    let event = EventId::parse(&event).map_err(|_| ApiError::from(app::Error::DeliveryNotFound))?;
    state.directory.retry_delivery(&owner.tenant, &id, &event).await?;
    Ok(HttpResponse::Accepted().finish())
}
