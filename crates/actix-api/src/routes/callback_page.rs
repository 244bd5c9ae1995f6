//! The small HTML page a browser gets at the end of an OAuth flow started without `return_to`.
//! Everything shown is HTML-escaped, in the shell of `html.rs` (strict Content-Security-Policy).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, Accept, Header};
use actix_web::mime::{self, Mime};
use actix_web::{HttpRequest, HttpResponse};

use super::html::{self, Forms};
use crate::ApiError;

/// Whether the caller prefers `text/html` to `application/json`. A browser says so
/// (`text/html,…,*/*;q=0.8`); `*/*` alone, or no `Accept`, means JSON.
pub(crate) fn prefers_html(req: &HttpRequest) -> bool {
    let Ok(accept) = Accept::parse(req) else { return false };
    let html = quality(&accept, &mime::TEXT_HTML);
    let json = quality(&accept, &mime::APPLICATION_JSON);
    html.is_some_and(|h| json.is_none_or(|j| h > j))
}

/// The quality the most specific matching media range gives `target` (RFC 9110 §12.5.1), or
/// `None` when no range matches or it says `q=0`.
fn quality(accept: &Accept, target: &Mime) -> Option<header::Quality> {
    accept
        .iter()
        .filter_map(|item| {
            let range = &item.item;
            let specificity = match (range.type_() == mime::STAR, range.subtype() == mime::STAR) {
                (true, _) => 0,
                (false, true) if range.type_() == target.type_() => 1,
                (false, false) if range.type_() == target.type_() && range.subtype() == target.subtype() => 2,
                _ => return None,
            };
            Some((specificity, item.quality))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(_, q)| q)
        .filter(|q| *q > header::Quality::ZERO)
}

/// "Connected to Linear. You can close this window."
pub(crate) fn connected(display_name: &str) -> HttpResponse {
    let name = html_escape::encode_text(display_name);
    page(StatusCode::OK, "Connected", &format!("<h1>Connected to {name}.</h1><p>You can close this window.</p>"), None)
}

/// The failure page: the stable code and the message, and the request id to quote.
pub(crate) fn failed(error: &ApiError, request_id: Option<&str>) -> HttpResponse {
    let code = error.code.as_str();
    let message = html_escape::encode_text(&error.message);
    let body = format!(
        "<h1>The connection failed.</h1><p>{message}</p><p>Error code: <code>{code}</code>. \
         You can close this window and try again.</p>"
    );
    page(error.status(), "Connection failed", &body, request_id)
}

fn page(status: StatusCode, title: &str, body: &str, request_id: Option<&str>) -> HttpResponse {
    let reference = request_id
        .map(|id| format!("<p class=\"ref\">Request id: {}</p>", html_escape::encode_text(id)))
        .unwrap_or_default();
    html::page(status, title, "", &format!("{body}{reference}"), Forms::None)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn accepts(value: &str) -> bool {
        prefers_html(&TestRequest::default().insert_header((header::ACCEPT, value)).to_http_request())
    }

    #[test]
    fn a_browser_gets_html_and_an_api_client_gets_json() {
        assert!(accepts("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
        assert!(accepts("text/*"));
        assert!(!accepts("*/*"));
        assert!(!accepts("application/json"));
        assert!(!accepts("application/json, text/html;q=0.5"));
        assert!(!accepts("text/html;q=0, */*"));
        assert!(!prefers_html(&TestRequest::default().to_http_request()));
    }
}
