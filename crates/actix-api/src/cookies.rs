//! The two cookies of the hosted connect page, written and read in this one place.
//!
//! - The **session cookie** holds the connect session's token once the page moved it out of
//!   `connect_url`: `HttpOnly`, `SameSite=Strict`, scoped to the page's path, gone when the
//!   session expires.
//! - The **browser cookie** holds a random nonce whose SHA-256 is stored with every flow the page
//!   starts: `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a cross-site top-level
//!   navigation), scoped to `/assets`, so both the page (which reuses the browser's nonce for
//!   every flow it starts: two tabs never strand each other) and the OAuth callback receive it.
//!   The callback completes such a flow only when it comes with the nonce.
//!
//! Both are `Secure` when the public base URL is `https`. Their values are secrets: nothing here
//! logs them, and a value that is not a token of ours reads as no cookie.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use secrecy::SecretString;

use crate::routes::connect_page::PAGE_PATH;

/// The connect session's token, for the page.
pub(crate) const SESSION: &str = "ad_connect_session";
/// The browser's nonce, for the callback.
pub(crate) const BROWSER: &str = "ad_browser";
/// Where the browser cookie is sent: the page, which reuses it for every flow, and the shared
/// callback and every per-issuer one (all below `/assets`).
const BROWSER_PATH: &str = "/assets";

/// Our tokens: 43 characters of unpadded base64url (256 random bits).
fn is_token(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The value of the cookie `name` the request sends, if it is one of our tokens. Two cookies of
/// that name (another path's, or a planted one) read as none: which one is ours is unknowable.
pub(crate) fn read(req: &HttpRequest, name: &str) -> Option<SecretString> {
    let mut found = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v);
    let (Some(only), None) = (found.next(), found.next()) else { return None };
    is_token(only).then(|| SecretString::from(only.to_owned()))
}

/// `Set-Cookie` for the session cookie, living `max_age` seconds.
pub(crate) fn session(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    build(SESSION, token, PAGE_PATH, "Strict", max_age, secure)
}

/// `Set-Cookie` for the browser cookie, living `max_age` seconds.
pub(crate) fn browser(nonce: &str, max_age: i64, secure: bool) -> HeaderValue {
    build(BROWSER, nonce, BROWSER_PATH, "Lax", max_age, secure)
}

fn build(name: &str, value: &str, path: &str, same_site: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age.max(0);
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}");
    // Our values are base64url and our names and paths ASCII: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("ad_invalid=; Max-Age=0"))
}

/// Whether cookies must be `Secure`: the service is reached over `https`.
pub(crate) fn secure(public_base_url: &str) -> bool {
    public_base_url.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use secrecy::ExposeSecret;

    use super::*;

    const TOKEN: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_9";

    #[test]
    fn a_cookie_is_read_only_when_it_is_one_token_of_ours() {
        let read_from = |value: &str| {
            let req = TestRequest::default().insert_header((header::COOKIE, value)).to_http_request();
            read(&req, SESSION).map(|s| s.expose_secret().to_owned())
        };
        assert_eq!(read_from(&format!("other=1; ad_connect_session={TOKEN}")), Some(TOKEN.to_owned()));
        assert_eq!(read_from("ad_connect_session=short"), None);
        assert_eq!(read_from(&format!("ad_connect_session={TOKEN}; ad_connect_session={TOKEN}")), None);
        assert_eq!(read_from(&format!("ad_connect_session_x={TOKEN}")), None);
    }

    #[test]
    fn the_cookies_are_http_only_scoped_and_secure_over_https() {
        let session = session(TOKEN, 600, true);
        let session = session.to_str().unwrap();
        assert!(session.contains("; Path=/assets/connect-page;") && session.contains("SameSite=Strict"));
        assert!(session.contains("HttpOnly") && session.ends_with("; Secure"), "{session}");
        assert!(!super::session(TOKEN, 600, false).to_str().unwrap().contains("Secure"));
        let browser = browser(TOKEN, 600, false);
        let browser = browser.to_str().unwrap();
        assert!(browser.contains("; Path=/assets;") && browser.contains("SameSite=Lax"));
        assert!(browser.contains("HttpOnly") && !browser.contains("Secure"), "{browser}");
        assert!(secure("https://ad.example") && !secure("http://127.0.0.1:8080"));
    }
}
