use actix_web::{HttpResponse, web};
use app::Deps;

use crate::dto::ServerDto;
use crate::endpoint::Endpoint;
use crate::{ApiState, Caller};

pub(crate) fn list<D: Deps>() -> Endpoint {
    Endpoint::keyed(__path_list_servers, list_servers::<D>)
}

/// The catalog: every MCP server the engine can connect to.
#[utoipa::path(get, path = "/assets/servers", tag = "catalog", responses(
    (status = 200, description = "Every catalog entry, available or not.", body = [ServerDto]),
))]
async fn list_servers<D: Deps>(state: web::Data<ApiState<D>>, _caller: Caller) -> HttpResponse {
    let servers: Vec<ServerDto> = state.directory.catalog().entries().iter().map(ServerDto::from).collect();
    HttpResponse::Ok().json(servers)
}
