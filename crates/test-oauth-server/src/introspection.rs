//! RFC 7662 token introspection: how a protected resource that keeps no tokens of its own (the
//! official-SDK MCP server of the proxy's tests) learns whether a bearer token is good. Only an
//! access token issued here that still works ([`State::token_info`], the rule this server's own
//! resources apply) is active; a refresh token never is, as it is no bearer token.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::config::ClientAuth;
use crate::grants::{Form, OAuthFailure};
use crate::routes::{Shared, basic_credentials, lock, oauth_error};
use crate::state::{State, TokenKind};

/// `POST /introspect`: a confidential client known here asks about `token`.
pub(crate) async fn introspect(state: web::Data<Shared>, req: HttpRequest, form: web::Form<Form>) -> HttpResponse {
    let mut st = lock(&state);
    match st.authenticate(basic_credentials(req.headers()), &form) {
        Ok((client, _)) if client.auth == ClientAuth::None => {
            return oauth_error(&OAuthFailure::client("a public client may not introspect"));
        }
        Ok(_) => {}
        Err(failure) => return oauth_error(&failure),
    }
    let Some(token) = form.get("token") else {
        return oauth_error(&OAuthFailure::new(400, "invalid_request", "token is missing"));
    };
    st.counters.introspections += 1;
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(st.introspection(token))
}

impl State {
    /// The introspection response for `token` (RFC 7662 §2.2).
    fn introspection(&self, token: &str) -> Value {
        let Some(info) = self.token_info(token).filter(|i| i.active && i.kind == TokenKind::Access) else {
            return json!({"active": false});
        };
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": info.client_id,
            "iss": self.issuer,
        });
        if !info.scope.is_empty() {
            answer["scope"] = json!(info.scope);
        }
        if let Some(at) = info.expires_at {
            answer["exp"] = json!(unix_seconds(at));
        }
        if let Some(audience) = info.audience {
            answer["aud"] = json!(audience);
        }
        answer
    }
}

/// `at` as seconds since the Unix epoch.
fn unix_seconds(at: Instant) -> u64 {
    let wall = SystemTime::now() + at.saturating_duration_since(Instant::now());
    wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
