//! The SSRF rule of spec §5.3: outbound calls go only to `https` URLs whose addresses are public.
//!
//! Two checks cover every way an address reaches the connector: [`check_url`] judges the URL
//! (scheme, and the host when it is an IP literal, which reqwest never hands to a resolver), and
//! [`PublicOnlyResolver`] judges every address a host name resolves to at connection time, so a
//! DNS answer that changes between a check and the call (rebinding) is caught too.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::address::{AddressClass, classify};

/// Why a URL may not be called. The message names the rule or the address class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("only https URLs are allowed, not {scheme}")]
    Scheme { scheme: String },
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} is a {class} address")]
    Literal { host: String, class: AddressClass },
    #[error("{host} resolves to a {class} address ({ip})")]
    Resolved { host: String, ip: IpAddr, class: AddressClass },
    #[error("{host} resolves to no address")]
    Unresolvable { host: String },
}

impl Blocked {
    /// The address class at fault, when an address (rather than the scheme) was refused.
    pub fn class(&self) -> Option<AddressClass> {
        match self {
            Self::Literal { class, .. } | Self::Resolved { class, .. } => Some(*class),
            _ => None,
        }
    }
}

/// Checks that `url` may be called: `https` with a public host, or, with `allow_private`,
/// `http`/`https` to any host. A host name is checked again when it resolves.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), Blocked> {
    let scheme = url.scheme();
    let scheme_allowed = scheme == "https" || (allow_private && scheme == "http");
    if !scheme_allowed {
        return Err(Blocked::Scheme { scheme: scheme.to_owned() });
    }
    let host = url.host().ok_or(Blocked::NoHost)?;
    if allow_private {
        return Ok(());
    }
    let refuse = |class| Blocked::Literal { host: host.to_string(), class };
    match host {
        Host::Ipv4(ip) => classify(IpAddr::V4(ip)).map_or(Ok(()), |c| Err(refuse(c))),
        Host::Ipv6(ip) => classify(IpAddr::V6(ip)).map_or(Ok(()), |c| Err(refuse(c))),
        // Names are judged on what they resolve to, by the resolver, at connection time.
        Host::Domain(_) => Ok(()),
    }
}

/// Checks every address `host` resolved to; one non-public address refuses the host.
pub fn check_resolved(host: &str, addrs: &[SocketAddr]) -> Result<(), Blocked> {
    if addrs.is_empty() {
        return Err(Blocked::Unresolvable { host: host.to_owned() });
    }
    for addr in addrs {
        if let Some(class) = classify(addr.ip()) {
            return Err(Blocked::Resolved { host: host.to_owned(), ip: addr.ip(), class });
        }
    }
    Ok(())
}

/// A resolver for reqwest that answers only with public addresses (the system resolver does the
/// lookup). Installed by [`crate::SafeHttp`] unless private networks are allowed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_resolved(&host, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, allow_private: bool) -> Result<(), Blocked> {
        check_url(&Url::parse(text).unwrap(), allow_private)
    }

    #[test]
    fn plain_http_is_refused_unless_private_networks_are_allowed() {
        let err = check("http://auth.example.com/token", false).unwrap_err();
        assert_eq!(err.to_string(), "only https URLs are allowed, not http");
        assert!(check("http://auth.example.com/token", true).is_ok());
        assert!(check("https://auth.example.com/token", false).is_ok());
    }

    #[test]
    fn other_schemes_are_refused_even_when_private_networks_are_allowed() {
        for url in ["ftp://a.example/x", "file:///etc/passwd", "gopher://a.example/"] {
            assert!(matches!(check(url, true), Err(Blocked::Scheme { .. })), "{url}");
        }
    }

    #[test]
    fn ip_literal_hosts_are_judged_without_resolution() {
        let cases = [
            ("https://127.0.0.1/token", AddressClass::Loopback),
            ("https://[::1]:8443/token", AddressClass::Loopback),
            ("https://10.1.2.3/", AddressClass::Private),
            ("https://169.254.169.254/latest/meta-data", AddressClass::LinkLocal),
            ("https://[fe80::1]/", AddressClass::LinkLocal),
            ("https://[fd00::1]/", AddressClass::UniqueLocal),
            ("https://[::ffff:10.0.0.1]/", AddressClass::Private),
            ("https://100.64.1.1/", AddressClass::SharedCgnat),
            ("https://0x7f.1/", AddressClass::Loopback),
        ];
        for (url, class) in cases {
            let err = check(url, false).unwrap_err();
            assert_eq!(err.class(), Some(class), "{url}");
            assert!(err.to_string().contains(class.as_str()), "{url}: {err}");
        }
        assert!(check("https://8.8.8.8/", false).is_ok());
    }

    #[test]
    fn private_literals_pass_when_private_networks_are_allowed() {
        assert!(check("http://127.0.0.1:8080/token", true).is_ok());
        assert!(check("http://[::1]:8080/token", true).is_ok());
    }

    #[test]
    fn one_private_address_among_the_resolved_ones_refuses_the_host() {
        let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
        let metadata: SocketAddr = "169.254.169.254:0".parse().unwrap();
        assert!(check_resolved("a.example", &[public]).is_ok());
        let err = check_resolved("a.example", &[public, metadata]).unwrap_err();
        assert_eq!(err.to_string(), "a.example resolves to a link-local address (169.254.169.254)");
        assert!(matches!(check_resolved("a.example", &[]), Err(Blocked::Unresolvable { .. })));
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let name: Name = "localhost".parse().unwrap();
        let Err(err) = PublicOnlyResolver.resolve(name).await else {
            panic!("localhost resolved to an allowed address");
        };
        let blocked = err.downcast_ref::<Blocked>().expect("a Blocked error");
        assert_eq!(blocked.class(), Some(AddressClass::Loopback));
    }
}
