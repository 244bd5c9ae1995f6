//! `GET /assets/events`: the lifecycle event feed (issue 17), for engines that cannot receive
//! webhooks. With `X-End-User-Id` it lists that user's events; without, the whole tenant's (as
//! its webhooks receive them). `wait` long-polls until an event arrives.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use app::Deps;
use app::events::FeedRequest;

use crate::caller::END_USER_HEADER;
use crate::dto::EventPageDto;
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::paging::{self, FeedParams};
use crate::{ApiError, ApiState, Caller};

pub(crate) fn feed<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_event_feed, event_feed::<D>)
}

/// The caller's lifecycle events, oldest first after `after`; with `wait`, held open until one
/// arrives (or the wait ends, answering an empty page with the same cursor).
#[utoipa::path(get, path = "/assets/events", tag = "events", params(FeedParams), responses(
    (status = 200, description = "A page of events and the cursor of the next read.", body = EventPageDto),
    (status = 422, description = "`VALIDATION_ERROR`: a query parameter (`details.field` names it)", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn event_feed<D: Deps>(
    state: web::Data<ApiState<D>>,
    Caller(owner): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = paging::feed_query(&req)?;
    let user = req.headers().contains_key(END_USER_HEADER).then_some(owner.user);
    let request = FeedRequest {
        tenant: owner.tenant,
        user,
        after: query.after,
        limit: query.limit,
        wait: Duration::from_secs(u64::from(query.wait_seconds)),
    };
    let page = state.directory.event_feed(request).await?;
    Ok(HttpResponse::Ok().json(EventPageDto::new(&page)))
}
