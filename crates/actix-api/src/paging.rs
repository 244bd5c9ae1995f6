//! Paged lists over HTTP: the query parameters a list takes (`limit`, `cursor`, and for
//! connections `server_name` and `status`), the opaque cursor, and the `Link: <…>; rel="next"`
//! header that carries the next page's URL, so the body stays the seed's bare array.
//!
//! A cursor is the previous page's last position, base64url-encoded: `<created_at>.<ref_id>`
//! for connections, the user id for users. It is opaque to callers (its form may change); one
//! that does not decode is `422` naming `cursor`. Every parameter is checked: a value out of
//! range, an unknown or repeated parameter is `422` naming it, never repeating a value.

use std::borrow::Cow;

use actix_web::HttpRequest;
use app::events::MAX_WAIT_SECONDS;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{ConnectionStatus, RefId, ServerName, TenantId, Timestamp, UserId};
use ports::{ConnectionPosition, ConnectionQuery, FeedPosition, UserQuery};
use utoipa::IntoParams;

use crate::ApiError;
use crate::extract::plain_name;

/// The page size when none is asked for: the seed's list, which took no parameter, was at most
/// this long in practice.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// The largest page.
pub(crate) const MAX_LIMIT: u32 = 500;

/// The query of a list of connections.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters `connection_query` reads
pub(crate) struct ConnectionListParams {
    /// How many connections a page holds: 1 to 500, 100 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Where the page starts: the `cursor` of the previous answer's `Link` header (opaque).
    cursor: Option<String>,
    /// Only the connections to this server.
    server_name: Option<String>,
    /// Only the connections in this status.
    #[param(schema_with = crate::dto::connection_status_schema)]
    status: Option<String>,
}

/// The query of a list of users.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters `user_query` reads
pub(crate) struct UserListParams {
    /// How many users a page holds: 1 to 500, 100 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Where the page starts: the `cursor` of the previous answer's `Link` header (opaque).
    cursor: Option<String>,
}

/// The query of the event feed.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters `feed_query` reads
pub(crate) struct FeedParams {
    /// Where to start: the `next_cursor` of the previous page (opaque); absent: the oldest event
    /// kept.
    after: Option<String>,
    /// How many events a page holds: 1 to 500, 100 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Seconds to wait for an event when there is none after the cursor yet: 0 to 30, 0 when
    /// absent.
    #[param(minimum = 0, maximum = 30)]
    wait: Option<u32>,
}

/// A feed read as asked: the cursor's position, the limit, the seconds to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FeedQuery {
    pub after: Option<FeedPosition>,
    pub limit: u32,
    pub wait_seconds: u32,
}

/// The feed query `req` asks for.
pub(crate) fn feed_query(req: &HttpRequest) -> Result<FeedQuery, ApiError> {
    let mut query = FeedQuery { after: None, limit: DEFAULT_LIMIT, wait_seconds: 0 };
    for (name, value) in parameters(req, &["after", "limit", "wait"])? {
        match name {
            "limit" => query.limit = limit(&value)?,
            "wait" => {
                query.wait_seconds = value.parse().ok().filter(|n| *n <= MAX_WAIT_SECONDS).ok_or_else(|| {
                    ApiError::validation("wait", format!("wait: must be a whole number from 0 to {MAX_WAIT_SECONDS}"))
                })?
            }
            _ => query.after = Some(feed_position(&value)?),
        }
    }
    Ok(query)
}

/// The feed position in a cursor `event_cursor` made.
fn feed_position(value: &str) -> Result<FeedPosition, ApiError> {
    let refused = || ApiError::validation("after", "after: is not a cursor the feed gave out");
    let text = open_cursor(value).map_err(|_| refused())?;
    let (txid, seq) = text.split_once('.').ok_or_else(refused)?;
    let number = |n: &str| n.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(refused);
    Ok(FeedPosition { txid: number(txid)?, seq: number(seq)? })
}

/// The query of an endpoint's deliveries.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters `delivery_query` reads
pub(crate) struct DeliveryListParams {
    /// How many deliveries a page holds: 1 to 500, 100 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Where the page starts: the `cursor` of the previous answer's `Link` header (opaque).
    cursor: Option<String>,
}

/// The deliveries `req` asks for: before which event (`None`: from the newest), how many.
pub(crate) fn delivery_query(req: &HttpRequest) -> Result<(Option<i64>, u32), ApiError> {
    let (mut before, mut page) = (None, DEFAULT_LIMIT);
    for (name, value) in parameters(req, &["limit", "cursor"])? {
        match name {
            "limit" => page = limit(&value)?,
            _ => before = Some(position(&value).map_err(|_| bad_cursor())?),
        }
    }
    Ok((before, page))
}

/// A delivery's event (`seq`) in a cursor.
fn position(value: &str) -> Result<i64, ApiError> {
    open_cursor(value)?.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(bad_cursor)
}

/// The feed's cursor at `position`: `<txid>.<seq>`, sealed.
pub(crate) fn event_cursor(position: FeedPosition) -> String {
    seal_cursor(&format!("{}.{}", position.txid, position.seq))
}

/// The `Link` header value of the deliveries before the event at `seq`.
pub(crate) fn next_deliveries(req: &HttpRequest, limit: u32, seq: i64) -> String {
    link(&format!("{}?limit={limit}&cursor={}", req.path(), seal_cursor(&seq.to_string())))
}

/// The parameters of `req`'s query among `known`, each at most once; any other is refused.
fn parameters<'a>(req: &'a HttpRequest, known: &[&'static str]) -> Result<Vec<(&'static str, Cow<'a, str>)>, ApiError> {
    let mut found: Vec<(&'static str, Cow<'a, str>)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let Some(known) = known.iter().copied().find(|k| *k == name) else {
            let field = plain_name(&name).map_or(Cow::Borrowed("*"), |n| Cow::Owned(n.to_owned()));
            return Err(ApiError::validation(field, "the list takes no such query parameter"));
        };
        if found.iter().any(|(n, _)| *n == known) {
            return Err(ApiError::validation(known, format!("{known}: given more than once")));
        }
        found.push((known, value));
    }
    Ok(found)
}

fn limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| ApiError::validation("limit", format!("limit: must be a whole number from 1 to {MAX_LIMIT}")))
}

fn bad_cursor() -> ApiError {
    ApiError::validation("cursor", "cursor: is not a cursor this list gave out")
}

/// The text inside a cursor.
fn open_cursor(value: &str) -> Result<String, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(value).map_err(|_| bad_cursor())?;
    String::from_utf8(bytes).map_err(|_| bad_cursor())
}

fn seal_cursor(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The connection query `req` asks for.
pub(crate) fn connection_query(req: &HttpRequest) -> Result<ConnectionQuery, ApiError> {
    let mut query = ConnectionQuery { after: None, limit: DEFAULT_LIMIT, server_name: None, status: None };
    for (name, value) in parameters(req, &["limit", "cursor", "server_name", "status"])? {
        match name {
            "limit" => query.limit = limit(&value)?,
            "cursor" => {
                let text = open_cursor(&value)?;
                let (at, id) = text.split_once('.').ok_or_else(bad_cursor)?;
                let created_at = Timestamp::from_unix(at.parse().map_err(|_| bad_cursor())?);
                query.after =
                    Some(ConnectionPosition { created_at, ref_id: RefId::parse(id).map_err(|_| bad_cursor())? });
            }
            "server_name" => {
                let name = ServerName::parse(&value).map_err(|e| ApiError::validation("server_name", e.to_string()))?;
                query.server_name = Some(name);
            }
            _ => {
                let status = ConnectionStatus::parse(&value).ok_or_else(|| {
                    ApiError::validation("status", "status: must be pending_oauth, connected, expired or failed")
                })?;
                query.status = Some(status);
            }
        }
    }
    Ok(query)
}

/// The user query `req` asks for, in `tenant`.
pub(crate) fn user_query(req: &HttpRequest, tenant: TenantId) -> Result<UserQuery, ApiError> {
    let mut query = UserQuery { tenant, after: None, limit: DEFAULT_LIMIT };
    for (name, value) in parameters(req, &["limit", "cursor"])? {
        match name {
            "limit" => query.limit = limit(&value)?,
            _ => query.after = Some(UserId::parse(&open_cursor(&value)?).map_err(|_| bad_cursor())?),
        }
    }
    Ok(query)
}

/// The `Link` header value of the page after `next` of `query`, at `req`'s path.
pub(crate) fn next_connections(req: &HttpRequest, query: &ConnectionQuery, next: &ConnectionPosition) -> String {
    let cursor = seal_cursor(&format!("{}.{}", next.created_at.unix(), next.ref_id));
    let mut url = format!("{}?limit={}&cursor={cursor}", req.path(), query.limit);
    if let Some(server_name) = &query.server_name {
        url.push_str(&format!("&server_name={server_name}"));
    }
    if let Some(status) = query.status {
        url.push_str(&format!("&status={}", status.as_str()));
    }
    link(&url)
}

/// The `Link` header value of the page of users after `next`.
pub(crate) fn next_users(req: &HttpRequest, query: &UserQuery, next: &UserId) -> String {
    link(&format!("{}?limit={}&cursor={}", req.path(), query.limit, seal_cursor(next.as_str())))
}

fn link(url: &str) -> String {
    format!("<{url}>; rel=\"next\"")
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn query(uri: &str) -> Result<ConnectionQuery, ApiError> {
        connection_query(&TestRequest::get().uri(uri).to_http_request())
    }

    fn refused_field(uri: &str) -> String {
        query(uri).unwrap_err().details.field.map(|f| f.into_owned()).unwrap_or_default()
    }

    #[test]
    fn no_parameters_ask_for_the_first_hundred() {
        let q = query("/assets/connections").unwrap();
        assert_eq!((q.limit, q.after, q.server_name, q.status), (100, None, None, None));
    }

    #[test]
    fn a_cursor_given_out_in_a_link_reads_back_as_the_same_position() {
        let req = TestRequest::get().uri("/assets/connections").to_http_request();
        let position =
            ConnectionPosition { created_at: Timestamp::from_unix(1_800_000_000), ref_id: RefId::from_random([7; 16]) };
        let asked = ConnectionQuery { status: Some(ConnectionStatus::Failed), ..query("/x?limit=2").unwrap() };
        let header = next_connections(&req, &asked, &position);
        let url = header.strip_prefix('<').and_then(|h| h.strip_suffix(">; rel=\"next\"")).unwrap();
        let again = query(url).unwrap();
        assert_eq!(again, ConnectionQuery { after: Some(position), ..asked });
    }

    #[test]
    fn each_bad_parameter_is_refused_by_name_without_repeating_its_value() {
        for (uri, field) in [
            ("/x?limit=0", "limit"),
            ("/x?limit=501", "limit"),
            ("/x?limit=ten", "limit"),
            ("/x?cursor=not*base64", "cursor"),
            ("/x?cursor=bm9wZQ", "cursor"),
            ("/x?status=sleeping", "status"),
            ("/x?server_name=Not%20A%20Name", "server_name"),
            ("/x?limit=1&limit=2", "limit"),
            ("/x?colour=red", "colour"),
            ("/x?sk%20live%20secret=1", "*"),
        ] {
            assert_eq!(refused_field(uri), field, "{uri}");
            assert!(!query(uri).unwrap_err().message.contains("secret"), "{uri}");
        }
    }
}
