//! The HTML of the hosted connect page: the session's servers with a Connect button each (a
//! password field for an API-key server), the outcome of the last action, and the pages around it
//! (entering, leaving for the provider, an expired session). Every outside value is escaped, and
//! no page ever holds an API key or a session token.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use app::CatalogEntry;
use domain::AuthSpec;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::html::{self, Forms};

/// Where the page's forms post.
pub(crate) const CONNECT_PATH: &str = "/assets/connect-page/connect";

/// What the last action on the page came to.
pub(crate) enum Notice<'a> {
    None,
    /// Connected to the server with this display name.
    Connected(&'a str),
    /// Refused or failed, in the contract's words.
    Failed(&'a str),
}

/// The list of `servers`, each with its form carrying `csrf`.
pub(crate) fn list(status: StatusCode, servers: &[&CatalogEntry], csrf: &str, notice: &Notice<'_>) -> HttpResponse {
    let notice = match notice {
        Notice::None => String::new(),
        Notice::Connected(name) => format!("<p class=\"ok\" role=\"status\">Connected to {}.</p>", text(name)),
        Notice::Failed(message) => {
            format!("<p class=\"err\" role=\"alert\">That did not work: {}</p>", text(message))
        }
    };
    let items: String = servers.iter().map(|entry| item(entry, csrf)).collect();
    let empty = if servers.is_empty() { "<p>There is nothing to connect here.</p>" } else { "" };
    let body = format!(
        "<main><h1>Connect your accounts</h1>{notice}{empty}<ul class=\"servers\">{items}</ul>\
         <p class=\"ref\">When you are done, close this window and go back to the app.</p></main>"
    );
    html::page(status, "Connect your accounts", "", &body, Forms::OwnOrigin)
}

/// One server: its name, and a form that connects it.
fn item(entry: &CatalogEntry, csrf: &str) -> String {
    let name = entry.spec.name.as_str();
    let display = text(&entry.spec.display_name);
    let id = format!("key-{name}");
    let key_field = match entry.spec.auth {
        AuthSpec::ApiKey(_) => format!(
            "<label for=\"{id}\">API key for {display}</label>\
             <input id=\"{id}\" name=\"api_key\" type=\"password\" autocomplete=\"off\" required>",
            id = attr(&id),
        ),
        AuthSpec::OAuth(_) | AuthSpec::None => String::new(),
    };
    let description = entry.spec.description.as_deref().map(|d| format!("<p>{}</p>", text(d))).unwrap_or_default();
    format!(
        "<li><h2>{display}</h2>{description}<form method=\"post\" action=\"{CONNECT_PATH}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"server_name\" value=\"{name}\">{key_field}\
         <button type=\"submit\">Connect {display}</button></form></li>",
        csrf = attr(csrf),
        name = attr(name),
    )
}

/// The first visit's answer: the token has just moved into a cookie; a client redirect (a
/// same-site navigation, which carries a `SameSite=Strict` cookie) leaves for the clean URL.
pub(crate) fn entering(builder: actix_web::HttpResponseBuilder, clean_url: &str) -> HttpResponse {
    let to = attr(clean_url);
    let head = format!("<meta http-equiv=\"refresh\" content=\"0;url={to}\">");
    let body =
        format!("<main><h1>Opening the connect page…</h1><p><a class=\"button\" href=\"{to}\">Continue</a></p></main>");
    html::shell(builder, "Opening the connect page", &head, &body, Forms::None)
}

/// Leaving for the provider's consent page (a redirect after a form post would be refused by
/// the page's `form-action`, which names only the service).
pub(crate) fn leaving(builder: actix_web::HttpResponseBuilder, display_name: &str, auth_url: &str) -> HttpResponse {
    let to = attr(auth_url);
    let head = format!("<meta http-equiv=\"refresh\" content=\"0;url={to}\">");
    let body = format!(
        "<main><h1>Continuing to {name}…</h1><p>You will be asked to allow access, then brought back.</p>\
         <p><a class=\"button\" href=\"{to}\">Continue to {name}</a></p></main>",
        name = text(display_name),
    );
    html::shell(builder, "Continuing", &head, &body, Forms::None)
}

/// The page for a missing, unknown or expired session.
pub(crate) fn expired() -> HttpResponse {
    let body = "<main><h1>This link has expired.</h1><p>Connect links work for a few minutes only. Go back \
                to the app and start connecting again.</p></main>";
    html::page(StatusCode::UNAUTHORIZED, "Link expired", "", body, Forms::None)
}

/// The page for a form that did not come from this page as it is now.
pub(crate) fn stale_form() -> HttpResponse {
    let body = "<main><h1>This form is out of date.</h1><p>Nothing was connected. Open the connect page \
                again from the app.</p></main>";
    html::page(StatusCode::BAD_REQUEST, "Form out of date", "", body, Forms::None)
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;
    use domain::{ApiKeySpec, ServerName, ServerSpec, Transport};

    use super::*;

    fn body(response: HttpResponse) -> String {
        let bytes = response.into_body().try_into_bytes().unwrap_or_default();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn every_outside_value_on_the_page_is_escaped() {
        let spec = ServerSpec {
            name: ServerName::parse("tricky").unwrap(),
            display_name: "<script>alert(1)</script>".into(),
            transport: Transport::StreamableHttp,
            url: Some("https://tricky.example/mcp".into()),
            description: Some("\"quoted\" & <b>bold</b>".into()),
            auth: AuthSpec::ApiKey(ApiKeySpec { header: "X-Api-Key".into(), scheme: None }),
            exportable: true,
        };
        let entry = CatalogEntry::resolve(spec, |_| None);
        let notice = Notice::Failed("<img src=x>");
        let html = body(list(StatusCode::OK, &[&entry], "c\"srf", &notice));
        for raw in ["<script>", "<b>", "<img", "c\"srf"] {
            assert!(!html.contains(raw), "{raw} unescaped in {html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && html.contains("&lt;img src=x&gt;"));
        let leaving = body(leaving(HttpResponse::Ok(), "A\"B", "https://as.example/a?x=1&y=\"2\""));
        assert!(leaving.contains("url=https://as.example/a?x=1&amp;y=&quot;2&quot;\""), "{leaving}");
    }
}
