use actix_web::{HttpResponse, Resource, web};
use app::Deps;

use crate::ApiState;
use crate::dto::ServerDto;

pub(crate) fn resource<D: Deps>() -> Resource {
    super::resource("/servers").route(web::get().to(list::<D>))
}

async fn list<D: Deps>(state: web::Data<ApiState<D>>) -> HttpResponse {
    let servers: Vec<ServerDto> = state.directory.catalog().entries().iter().map(ServerDto::from).collect();
    HttpResponse::Ok().json(servers)
}
