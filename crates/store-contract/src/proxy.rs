//! A TCP proxy a test puts in front of a database server and can cut, make silent, and
//! restore: a database that goes away or stops answering, for one store (or one service) only,
//! while the server stays up for every other test.

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

#[derive(Debug)]
struct Links {
    mode: Mode,
    open: Vec<AbortHandle>,
}

/// A cuttable TCP proxy on a loopback port.
#[derive(Debug)]
pub struct CuttableProxy {
    addr: SocketAddr,
    links: Arc<Mutex<Links>>,
    accept: AbortHandle,
}

impl CuttableProxy {
    /// Starts forwarding to the server named by `url` (`postgres://host:port/…`).
    pub async fn in_front_of(url: &str) -> Self {
        let url = url::Url::parse(url).expect("the upstream is a URL");
        let host = url.host_str().expect("the upstream URL names a host").to_owned();
        let port = url.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("resolve the upstream")
            .next()
            .expect("the upstream has an address");
        Self::start(upstream).await
    }

    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
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

    /// `url` with its host and port replaced by this proxy's.
    pub fn route(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a URL");
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

impl Drop for CuttableProxy {
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
