//! The tenant-wide view for operators: the users of the caller's tenant (those who have a
//! connection), one user's connections, and forgetting a user. The path's user replaces
//! `X-End-User-Id`; the tenant is always the engine key's, so another tenant's users are never
//! reached. A malformed user id is `422` naming `user_id`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use app::Deps;
use domain::{Owner, UserId};

use super::connections::connections_page;
use crate::dto::{ConnectionDto, ForgetResponse, UserDto};
use crate::endpoint::Endpoint;
use crate::error::ErrorBody;
use crate::paging::{self, ConnectionListParams, UserListParams};
use crate::{ApiError, ApiState, Caller};

pub(crate) fn list<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_list_users, list_users::<D>)
}

pub(crate) fn one<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_forget_user, forget_user::<D>)
}

pub(crate) fn connections<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_user_connections, user_connections::<D>)
}

/// The user `raw` (from the path) of the caller's tenant.
fn user_of(caller: &Caller, raw: &str) -> Result<Owner, ApiError> {
    let user = UserId::parse(raw).map_err(|e| ApiError::validation("user_id", format!("user_id: {}", e.reason)))?;
    Ok(Owner::new(caller.0.tenant.clone(), user))
}

/// The users of the caller's tenant who have a connection, by user id (byte order), a page at a
/// time, each with their connections by status.
#[utoipa::path(get, path = "/assets/users", tag = "users", params(UserListParams), responses(
    (status = 200, description = "One page of the tenant's users.", body = [UserDto],
        headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page's URL; absent on the last page."))),
    (status = 422, description = "`VALIDATION_ERROR`: a query parameter (`details.field` names it)", body = ErrorBody),
    (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
))]
async fn list_users<D: Deps>(
    state: web::Data<ApiState<D>>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = paging::user_query(&req, caller.0.tenant)?;
    let (users, next) = state.directory.list_users(&query).await?;
    let mut response = HttpResponse::Ok();
    if let Some(next) = &next {
        response.insert_header((header::LINK, paging::next_users(&req, &query, next)));
    }
    Ok(response.json(users.iter().map(UserDto::from).collect::<Vec<_>>()))
}

/// One user's connections, exactly as `GET /assets/connections` lists them for that user.
#[utoipa::path(get, path = "/assets/users/{user_id}/connections", tag = "users",
    params(("user_id" = String, Path, description = "The user's id, as `X-End-User-Id` names it.",
        min_length = 1, max_length = 255, pattern = r"^[A-Za-z0-9._:@+-]+$"), ConnectionListParams),
    responses(
        (status = 200, description = "One page of the user's connections, oldest first.", body = [ConnectionDto],
            headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page's URL; absent on the last page."))),
        (status = 422, description = "`VALIDATION_ERROR`: the user id or a query parameter", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn user_connections<D: Deps>(
    state: web::Data<ApiState<D>>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let owner = user_of(&caller, &path)?;
    connections_page(&state, &owner, &req).await
}

/// Forgets a user: deletes every connection they have (recording `disconnected` for each), then
/// revokes their tokens at the providers (best effort, bounded, as a disconnect does), and
/// erases their pending OAuth flows. A user with nothing left answers the same with zeros.
#[utoipa::path(delete, path = "/assets/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "The user's id, as `X-End-User-Id` names it.",
        min_length = 1, max_length = 255, pattern = r"^[A-Za-z0-9._:@+-]+$")),
    responses(
        (status = 200, description = "What was deleted.", body = ForgetResponse),
        (status = 422, description = "`VALIDATION_ERROR`: the user id", body = ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`", body = ErrorBody),
    ))]
async fn forget_user<D: Deps>(
    state: web::Data<ApiState<D>>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = user_of(&caller, &path)?;
    let done = state.directory.forget_user(&owner).await?;
    Ok(HttpResponse::Ok().json(ForgetResponse::new(&owner.user, done)))
}
