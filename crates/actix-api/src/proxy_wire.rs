//! What the MCP proxy changes on the wire (issue 16): which headers pass each way, and the legacy
//! SSE transport's `endpoint` event, rewritten so the client posts its messages to the proxy and
//! never learns the server's address.

use actix_web::http::header::HeaderMap;
use bytes::{Bytes, BytesMut};
use url::Url;

/// The client's headers that reach the MCP server. Everything else stays: hop-by-hop headers,
/// cookies, the caller's `Authorization` and `X-Engine-Key`, `X-End-User-Id`, `Host`.
const TO_SERVER: [&str; 5] = ["accept", "content-type", "mcp-session-id", "mcp-protocol-version", "last-event-id"];

/// The server's headers that reach the client: the transport's, `Retry-After` of a `429` or
/// `503`, and `Content-Encoding` (the body passes as it came). Never a cookie, a challenge of the
/// server's own authorization, or a hop-by-hop header.
const TO_CLIENT: [&str; 5] =
    ["content-type", "content-encoding", "mcp-session-id", "mcp-protocol-version", "retry-after"];

/// The client's headers that may pass to the server, as text (a value that is not is dropped).
pub(crate) fn to_server(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| TO_SERVER.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// Whether the server's header `name` may reach the client.
pub(crate) fn to_client(name: &str) -> bool {
    TO_CLIENT.iter().any(|allowed| allowed.eq_ignore_ascii_case(name))
}

/// The query parameter of the proxy's `…/messages` that carries where the server wants them.
pub(crate) const ENDPOINT_PARAM: &str = "endpoint";

/// Why a legacy SSE stream cannot be passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RewriteError {
    #[error("the MCP server's endpoint event names another origin")]
    ForeignEndpoint,
    #[error("the MCP server's stream sent no endpoint event in its first {0} bytes")]
    TooLong(usize),
}

/// Most bytes held while waiting for the `endpoint` event.
const MAX_HELD: usize = 64 * 1024;

/// Rewrites the first `endpoint` event of a legacy SSE stream; then passes bytes through.
pub(crate) struct EndpointRewriter<S> {
    server_url: Url,
    held: Option<BytesMut>,
    /// Seals the path and query the server named (`Directory::seal_endpoint`).
    seal: S,
}

impl<S: Fn(&str) -> String> EndpointRewriter<S> {
    /// For the stream of the server at `server_url` (the connection's SSE URL).
    pub(crate) fn new(server_url: Url, seal: S) -> Self {
        Self { server_url, held: Some(BytesMut::new()), seal }
    }

    /// What to send the client for `chunk`: nothing while the endpoint event is incomplete.
    pub(crate) fn feed(&mut self, chunk: Bytes) -> Result<Bytes, RewriteError> {
        let Some(held) = self.held.as_mut() else { return Ok(chunk) };
        held.extend_from_slice(&chunk);
        let mut out = BytesMut::new();
        while let Some(end) = event_end(held) {
            let event = held.split_to(end);
            match endpoint_data(&event) {
                Some(data) => {
                    let rest = held.split();
                    self.held = None;
                    out.extend_from_slice(rewrite(&self.server_url, &data, &self.seal)?.as_bytes());
                    out.extend_from_slice(&rest);
                    return Ok(out.freeze());
                }
                None => out.extend_from_slice(&event),
            }
        }
        if held.len() > MAX_HELD {
            return Err(RewriteError::TooLong(MAX_HELD));
        }
        Ok(out.freeze())
    }
}

/// The `endpoint` event naming the proxy's `messages` (relative to the proxy's `…/sse`) instead
/// of `data`, a URL on `server_url`'s origin, which `seal` makes opaque.
fn rewrite(server_url: &Url, data: &str, seal: impl Fn(&str) -> String) -> Result<String, RewriteError> {
    let named = server_url.join(data.trim()).map_err(|_| RewriteError::ForeignEndpoint)?;
    if named.origin() != server_url.origin() {
        return Err(RewriteError::ForeignEndpoint);
    }
    let mut path = named.path().to_owned();
    if let Some(query) = named.query() {
        path.push('?');
        path.push_str(query);
    }
    Ok(format!("event: endpoint\ndata: messages?{ENDPOINT_PARAM}={}\n\n", seal(&path)))
}

/// The end (past the blank line) of the first whole event in `held`.
fn event_end(held: &[u8]) -> Option<usize> {
    let lf = held.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    let crlf = held.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The data of `event` if it is an `endpoint` event (SSE: `field: value` lines, data joined).
fn endpoint_data(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut name = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value),
            "data" => data.push(value),
            _ => {}
        }
    }
    (name == Some("endpoint")).then(|| data.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the cipher: hex, so a test can read what was sealed.
    fn rewriter() -> EndpointRewriter<fn(&str) -> String> {
        EndpointRewriter::new(Url::parse("https://mcp.example.com/v1/sse").unwrap(), |path| hex::encode(path))
    }

    #[test]
    fn the_endpoint_event_names_the_proxys_messages_and_seals_the_servers_path() {
        let mut r = rewriter();
        let out = r
            .feed(Bytes::from_static(b": ping\n\nevent: endpoint\ndata: /messages?sessionId=abc\n\nevent: message\n"))
            .unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with(": ping\n\nevent: endpoint\ndata: messages?endpoint="), "{text}");
        assert!(!text.contains("mcp.example.com") && !text.contains("sessionId"), "{text}");
        let encoded = text.split("endpoint=").nth(1).unwrap().split('\n').next().unwrap();
        assert_eq!(hex::decode(encoded).unwrap(), b"/messages?sessionId=abc");
        assert!(text.ends_with("event: message\n"), "what followed passes: {text}");
        // Then bytes pass untouched.
        assert_eq!(r.feed(Bytes::from_static(b"data: x\n\n")).unwrap(), Bytes::from_static(b"data: x\n\n"));
    }

    #[test]
    fn an_endpoint_event_split_across_chunks_is_held_until_whole() {
        let mut r = rewriter();
        assert!(r.feed(Bytes::from_static(b"event: endpo")).unwrap().is_empty());
        assert!(r.feed(Bytes::from_static(b"int\r\ndata: /m?s=1")).unwrap().is_empty());
        let out = r.feed(Bytes::from_static(b"\r\n\r\n")).unwrap();
        assert!(String::from_utf8(out.to_vec()).unwrap().starts_with("event: endpoint\ndata: messages?endpoint="));
    }

    #[test]
    fn an_endpoint_on_another_origin_ends_the_stream() {
        for foreign in ["https://evil.example/messages", "//evil.example/m", "http://mcp.example.com/m"] {
            let event = format!("event: endpoint\ndata: {foreign}\n\n");
            assert_eq!(rewriter().feed(Bytes::from(event)), Err(RewriteError::ForeignEndpoint), "{foreign}");
        }
    }

    #[test]
    fn a_stream_without_an_endpoint_event_is_not_held_forever() {
        let mut r = rewriter();
        let chunk = Bytes::from(vec![b'x'; MAX_HELD + 1]);
        assert_eq!(r.feed(chunk), Err(RewriteError::TooLong(MAX_HELD)));
    }

    #[test]
    fn only_the_transports_headers_pass_to_the_server() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("accept", "text/event-stream"),
            ("mcp-session-id", "s1"),
            ("authorization", "Bearer mine"),
            ("x-engine-key", "k"),
            ("cookie", "a=b"),
            ("connection", "keep-alive"),
            ("x-end-user-id", "u"),
        ] {
            headers.insert(name.parse().unwrap(), value.parse().unwrap());
        }
        let mut passed = to_server(&headers);
        passed.sort();
        assert_eq!(passed, [("accept".into(), "text/event-stream".into()), ("mcp-session-id".into(), "s1".into())]);
        assert!(to_client("Mcp-Session-Id") && !to_client("set-cookie") && !to_client("www-authenticate"));
    }
}
