//! TLS to the database, against a stand-in server that speaks PostgreSQL's TLS negotiation with
//! a certificate authority made up for the test: `sslmode=require` encrypts and verifies the
//! server (its authority and its name), and without it the connection stays plaintext.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use ports::{ConnectionStore, StoreError};
use postgres_adapter::{PgConfig, PgStore};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The first message of a client that wants TLS (length 8, request code 80877103).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The client started without asking for TLS.
    Plaintext,
    /// The client asked for TLS; the handshake completed (the client accepted the certificate).
    Encrypted,
    /// The client asked for TLS and then refused the handshake.
    Refused,
}

struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem_file: tempfile::NamedTempFile,
}

fn authority() -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("a CA");
    let mut pem_file = tempfile::NamedTempFile::new().expect("a temporary file");
    pem_file.write_all(issuer.pem().as_bytes()).expect("write the CA");
    Authority { issuer, pem_file }
}

/// Accepts one client on a free port, with a certificate for `name` signed by `authority`.
async fn stand_in_server(authority: &Authority, name: &str) -> (u16, tokio::task::JoinHandle<Outcome>) {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec![name.to_owned()])
        .expect("params")
        .signed_by(&key, &authority.issuer)
        .expect("a server certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .expect("a server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("a client");
        let mut first = [0u8; 8];
        stream.read_exact(&mut first).await.expect("the first message");
        if first != SSL_REQUEST {
            return Outcome::Plaintext;
        }
        stream.write_all(b"S").await.expect("accept TLS");
        match acceptor.accept(stream).await {
            Ok(_) => Outcome::Encrypted,
            Err(_) => Outcome::Refused,
        }
    });
    (port, server)
}

/// Pings through a store with `url` (the stand-in is no database, so the ping itself fails
/// with `Unavailable`) and returns what the stand-in saw.
async fn ping(url: &str, server: tokio::task::JoinHandle<Outcome>) -> Outcome {
    let config = PgConfig { pool_size: 1, timeout: Duration::from_secs(5), worker_threads: 0 };
    let store = PgStore::connect_without_migrating(url, config).expect("a lazy pool");
    let result = store.ping().await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the stand-in finished").expect("no panic")
}

#[tokio::test]
async fn sslmode_require_encrypts_and_trusts_the_authority_in_sslrootcert() {
    let ca = authority();
    let (port, server) = stand_in_server(&ca, "127.0.0.1").await;
    let root = ca.pem_file.path().display();
    let url = format!("postgres://ad:pw@127.0.0.1:{port}/ad?sslmode=require&sslrootcert={root}");
    assert_eq!(ping(&url, server).await, Outcome::Encrypted);
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_authority_is_refused() {
    let ca = authority();
    let (port, server) = stand_in_server(&ca, "127.0.0.1").await;
    let url = format!("postgres://ad:pw@127.0.0.1:{port}/ad?sslmode=require");
    assert_eq!(ping(&url, server).await, Outcome::Refused, "the platform's roots do not hold the test CA");
}

#[tokio::test]
async fn a_server_certificate_for_another_host_is_refused() {
    let ca = authority();
    let (port, server) = stand_in_server(&ca, "db.example").await;
    let root = ca.pem_file.path().display();
    let url = format!("postgres://ad:pw@127.0.0.1:{port}/ad?sslmode=require&sslrootcert={root}");
    assert_eq!(ping(&url, server).await, Outcome::Refused);
}

#[tokio::test]
async fn without_sslmode_require_the_connection_is_plaintext() {
    let ca = authority();
    let (port, server) = stand_in_server(&ca, "127.0.0.1").await;
    let url = format!("postgres://ad:pw@127.0.0.1:{port}/ad");
    assert_eq!(ping(&url, server).await, Outcome::Plaintext);
}
