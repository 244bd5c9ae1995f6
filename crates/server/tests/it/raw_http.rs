//! Bytes no HTTP client library would send, over a plain TCP socket: a body that stalls,
//! malformed heads. The answer is read until the service closes the connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a test waits for the service to answer and close before it fails. Only a broken
/// service is that slow; nothing is asserted about how fast a working one is.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// An answer as it came over the wire, up to the service closing the connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// The head's header lines, lower-cased.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers.iter().find_map(|h| h.strip_prefix(&prefix)).map(str::trim)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("a JSON body: {self:?}"))
    }
}

/// Sends `request` to `address` (`http://host:port` or `host:port`) without ever finishing it
/// on the client's side, and reads the answer until the service closes the connection.
///
/// # Panics
/// When the service has not closed the connection after [`GIVE_UP_AFTER`].
pub async fn exchange(address: &str, request: Vec<u8>) -> RawAnswer {
    let address = address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).expect("the service accepts connections");
        stream.set_read_timeout(Some(GIVE_UP_AFTER)).unwrap();
        stream.write_all(&request).expect("the request is sent");
        let mut received = Vec::new();
        if let Err(e) = stream.read_to_end(&mut received) {
            let partial = String::from_utf8_lossy(&received);
            panic!("the service did not answer and close the connection ({e}); received so far: {partial:?}");
        }
        parse(&received)
    })
    .await
    .expect("the exchange's thread finishes")
}

fn parse(received: &[u8]) -> RawAnswer {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n");
    let end = end.unwrap_or_else(|| panic!("an HTTP answer: {:?}", String::from_utf8_lossy(received)));
    let head = String::from_utf8_lossy(&received[..end]);
    let body = received[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{status_line}"));
    RawAnswer { status, headers: lines.map(str::to_ascii_lowercase).collect(), body }
}
