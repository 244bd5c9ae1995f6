//! A TCP proxy in front of the test server that a test can cut, make silent, and restore: a
//! database that goes away or stops answering, for one store only, while the server stays up
//! for every other test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Pass bytes both ways.
    Forward,
    /// Close every connection at once, as a stopped server's host does.
    Refuse,
    /// Accept connections and never answer, as a hung server or a black-holed network does.
    Silent,
}

struct Links {
    mode: Mode,
    open: Vec<AbortHandle>,
}

pub struct Proxy {
    addr: SocketAddr,
    links: Arc<Mutex<Links>>,
    accept: AbortHandle,
}

impl Proxy {
    /// Starts forwarding to the test server.
    pub async fn start() -> Self {
        let upstream = upstream().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let links = Arc::new(Mutex::new(Links { mode: Mode::Forward, open: Vec::new() }));
        let shared = Arc::clone(&links);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut links = shared.lock().expect("proxy lock");
                let task = match links.mode {
                    Mode::Forward => tokio::spawn(forward(client, upstream)),
                    Mode::Silent => tokio::spawn(async move {
                        let _held = client;
                        std::future::pending::<()>().await;
                    }),
                    Mode::Refuse => continue,
                };
                links.open.push(task.abort_handle());
            }
        })
        .abort_handle();
        Self { addr, links, accept }
    }

    /// The URL of `database` reached through this proxy.
    pub fn url_of(&self, database: &str) -> String {
        let mut url = url::Url::parse(&super::url_of(database)).expect("a URL");
        url.set_ip_host(self.addr.ip()).expect("an IP host");
        url.set_port(Some(self.addr.port())).expect("a port");
        url.into()
    }

    /// The database goes away: open connections close, new ones are closed at once.
    pub fn cut(&self) {
        self.switch(Mode::Refuse);
    }

    /// The database stops answering: open connections close, new ones hang.
    pub fn silence(&self) {
        self.switch(Mode::Silent);
    }

    /// The database is back.
    pub fn restore(&self) {
        self.switch(Mode::Forward);
    }

    fn switch(&self, mode: Mode) {
        let mut links = self.links.lock().expect("proxy lock");
        for link in links.open.drain(..) {
            link.abort();
        }
        links.mode = mode;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.switch(Mode::Refuse);
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

async fn upstream() -> SocketAddr {
    let url = url::Url::parse(&super::server_url()).expect("AD_TEST_DATABASE_URL is a URL");
    let host = url.host_str().expect("AD_TEST_DATABASE_URL names a host").to_owned();
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port)).await.expect("resolve the test server").next().expect("an address")
}
