//! How one database connection is opened: the URL is read once, TLS is chosen by `sslmode`,
//! and the resulting connector is shared by every connection the pool opens.
//!
//! - `sslmode=disable` or `prefer` (tokio-postgres's default): plaintext. Unlike libpq,
//!   `prefer` does not try TLS first; say `require` to get it.
//! - `sslmode=require`: TLS with rustls, and the server certificate *is* verified (stricter
//!   than libpq's `require`, like its `verify-full`): against the platform's trust store, or
//!   against the PEM file named by `sslrootcert=<path>` (a private CA such as a cloud
//!   provider's bundle).

use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why a database URL cannot be used. Never repeats the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("the database URL is not valid: {0}")]
    Invalid(String),
    #[error("the TLS root certificates in `sslrootcert` cannot be used: {0}")]
    RootCert(String),
}

/// A parsed database URL with its TLS connector, ready to open connections.
#[derive(Clone)]
pub(crate) struct Target {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, UrlError> {
        let (url, root_cert) = take_root_cert(url)?;
        let config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| UrlError::Invalid(e.to_string()))?;
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(MakeRustlsConnect::new(tls_config(root_cert.as_deref())?)),
            _ => None,
        };
        Ok(Self { config, tls })
    }

    #[cfg(test)]
    pub(crate) fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub(crate) async fn establish(&self) -> Result<AsyncPgConnection, ConnectionError> {
        let bad = |e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string());
        match &self.tls {
            None => {
                let (client, conn) = self.config.connect(tokio_postgres::NoTls).await.map_err(bad)?;
                AsyncPgConnection::try_from_client_and_connection(client, conn).await
            }
            Some(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await.map_err(bad)?;
                AsyncPgConnection::try_from_client_and_connection(client, conn).await
            }
        }
    }
}

/// Removes `sslrootcert=<path>` from a URL's query (tokio-postgres refuses options it does not
/// know) and returns it separately.
fn take_root_cert(url: &str) -> Result<(String, Option<String>), UrlError> {
    if !url.contains("sslrootcert") {
        return Ok((url.to_owned(), None));
    }
    let mut parsed =
        url::Url::parse(url).map_err(|e| UrlError::Invalid(format!("sslrootcert needs the URL form: {e}")))?;
    let mut root = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == "sslrootcert" {
                root = Some(v.into_owned());
                None
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.into(), root))
}

fn tls_config(root_cert: Option<&str>) -> Result<rustls::ClientConfig, UrlError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| UrlError::RootCert(e.to_string()))?;
    let config = match root_cert {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| UrlError::RootCert(format!("{path}: {e}")))?;
            for cert in certs {
                let cert = cert.map_err(|e| UrlError::RootCert(format!("{path}: {e}")))?;
                roots.add(cert).map_err(|e| UrlError::RootCert(format!("{path}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(UrlError::RootCert(format!("{path} holds no certificate")));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder.with_platform_verifier().map_err(|e| UrlError::RootCert(e.to_string()))?.with_no_client_auth()
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_out_of_the_url_and_the_rest_is_kept() {
        let (url, root) = take_root_cert(
            "postgres://u:p@db.example:5432/ad?sslmode=require&sslrootcert=%2Fetc%2Fca.pem&application_name=ad",
        )
        .unwrap();
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(url, "postgres://u:p@db.example:5432/ad?sslmode=require&application_name=ad");
    }

    #[test]
    fn a_url_without_sslrootcert_is_left_alone() {
        let url = "postgres://u@localhost/ad?sslmode=disable";
        assert_eq!(take_root_cert(url).unwrap(), (url.to_owned(), None));
    }

    #[test]
    fn tls_is_used_only_when_required() {
        let plain = Target::parse("postgres://u@localhost/ad").unwrap();
        assert!(!plain.uses_tls());
        let prefer = Target::parse("postgres://u@localhost/ad?sslmode=prefer").unwrap();
        assert!(!prefer.uses_tls());
        let tls = Target::parse("postgres://u@localhost/ad?sslmode=require").unwrap();
        assert!(tls.uses_tls());
    }

    #[test]
    fn a_missing_root_certificate_file_is_refused_without_repeating_the_password() {
        let err = Target::parse("postgres://u:hunter2@localhost/ad?sslmode=require&sslrootcert=/nonexistent/ca.pem")
            .err()
            .expect("a missing file is an error");
        let text = err.to_string();
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_invalid_url_is_refused_without_repeating_it() {
        let err = Target::parse("postgres://u:hunter2@localhost/ad?sslmode=sometimes")
            .err()
            .expect("an unknown sslmode is an error");
        assert!(matches!(err, UrlError::Invalid(_)));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
