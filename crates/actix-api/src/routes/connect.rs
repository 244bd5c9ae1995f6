use actix_web::{HttpResponse, Resource, web};
use app::{ConnectOutcome, ConnectRequest, CustomServer, Deps};
use domain::{ServerName, Transport};
use serde_json::json;

use crate::dto::ConnectBody;
use crate::{ApiError, ApiState};

pub(crate) fn resource<D: Deps>() -> Resource {
    super::resource("/connect").route(web::post().to(connect::<D>))
}

async fn connect<D: Deps>(
    state: web::Data<ApiState<D>>,
    body: web::Json<ConnectBody>,
) -> Result<HttpResponse, ApiError> {
    let request = parse(body.into_inner())?;
    let outcome = state.directory.connect(request).await?;
    Ok(HttpResponse::Ok().json(match outcome {
        ConnectOutcome::Connected { ref_id } => json!({ "ref_id": ref_id.as_str(), "status": "connected" }),
        ConnectOutcome::PendingOAuth { ref_id, auth_url } => {
            json!({ "ref_id": ref_id.as_str(), "status": "pending_oauth", "auth_url": auth_url })
        }
    }))
}

fn parse(body: ConnectBody) -> Result<ConnectRequest, ApiError> {
    let server_name =
        ServerName::parse(&body.server_name).map_err(|e| ApiError::validation("server_name", e.to_string()))?;
    let config = body.server_config.unwrap_or_default();
    let custom = match config.url {
        None => None,
        Some(url) => Some(CustomServer {
            url,
            transport: config
                .transport
                .as_deref()
                .map(Transport::parse)
                .transpose()
                .map_err(|e| ApiError::validation("server_config.transport", e.to_string()))?,
            display_name: config.display_name,
        }),
    };
    if body.return_to.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::validation("return_to", "return_to: must not be empty"));
    }
    Ok(ConnectRequest { server_name, api_key: config.api_key, custom, return_to: body.return_to })
}
