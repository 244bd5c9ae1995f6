//! The one shell of every HTML page the service serves (the callback's result, the hosted
//! connect page): one stylesheet, allowed by its hash in a strict Content-Security-Policy, so a
//! page loads nothing, runs nothing and is framed by no one. Everything shown is escaped by the
//! page that builds the body.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::mime;
use actix_web::{HttpResponse, HttpResponseBuilder};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// One column that reads on a phone, real buttons with a visible focus ring.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;\
color:#1f2328;line-height:1.4}h1{font-size:1.4rem}h2{font-size:1.1rem;margin:0 0 .5rem}p.ref{color:#59636e;\
font-size:.85rem}ul.servers{list-style:none;padding:0}ul.servers>li{border:1px solid #d1d9e0;border-radius:.5rem;\
padding:1rem;margin:0 0 1rem}label{display:block;margin:0 0 .25rem}input[type=password]{box-sizing:border-box;\
width:100%;font:inherit;padding:.5rem;margin:0 0 .5rem;border:1px solid #818b98;border-radius:.375rem}\
button,a.button{display:inline-block;font:inherit;padding:.5rem 1rem;border:0;border-radius:.375rem;\
background:#0969da;color:#fff;cursor:pointer;text-decoration:none}:focus-visible{outline:3px solid #bf3989;\
outline-offset:2px}p.ok{color:#1a7f37;font-weight:600}p.err{color:#d1242f;font-weight:600}";

/// Where the page's forms may post.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Forms {
    /// Nowhere: the page has no form.
    None,
    /// Back to the service only.
    OwnOrigin,
}

fn policy(forms: Forms) -> String {
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    let form_action = match forms {
        Forms::None => "'none'",
        Forms::OwnOrigin => "'self'",
    };
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action {form_action}; \
         frame-ancestors 'none'"
    )
}

static NO_FORMS: LazyLock<String> = LazyLock::new(|| policy(Forms::None));
static OWN_FORMS: LazyLock<String> = LazyLock::new(|| policy(Forms::OwnOrigin));

/// `status` with an HTML document titled `title` around `body` (already escaped), and
/// `head_extra` (already escaped) in its head.
pub(crate) fn page(status: StatusCode, title: &str, head_extra: &str, body: &str, forms: Forms) -> HttpResponse {
    shell(HttpResponse::build(status), title, head_extra, body, forms)
}

/// As [`page`], on a response `builder` the caller has started (for cookies or other headers).
pub(crate) fn shell(
    mut builder: HttpResponseBuilder,
    title: &str,
    head_extra: &str,
    body: &str,
    forms: Forms,
) -> HttpResponse {
    let title = html_escape::encode_text(title);
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{head_extra}\
         <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    );
    let csp = match forms {
        Forms::None => &*NO_FORMS,
        Forms::OwnOrigin => &*OWN_FORMS,
    };
    builder
        .content_type(mime::TEXT_HTML_UTF_8)
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::VARY, HeaderValue::from_static("Accept")))
        .body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_forms_only_where_asked() {
        let expected = format!("'sha256-{}'", STANDARD.encode(Sha256::digest(STYLE.as_bytes())));
        for forms in [Forms::None, Forms::OwnOrigin] {
            let csp = policy(forms);
            assert!(csp.contains(&expected) && csp.starts_with("default-src 'none'"), "{csp}");
        }
        assert!(NO_FORMS.contains("form-action 'none'"));
        assert!(OWN_FORMS.contains("form-action 'self'"));
    }
}
