//! `WebhookAdapter`: the lifecycle events' webhook requests (issue 17), signed as the Standard
//! Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one signature per secret, space-separated),
//! sent through the guarded client: the SSRF rule, no redirects followed, bounded time.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use ports::{SendError, WebhookMessage, WebhookSender};
use secrecy::ExposeSecret;
use sha2::Sha256;
use url::Url;

use crate::guard::{Blocked, check_resolved};
use crate::http::{HttpBuildError, HttpConfig, HttpError, SafeHttp};

/// How much of a receiver's answer is read (and dropped), so its connection can serve again.
const ANSWER_LIMIT: usize = 64 * 1024;
/// How long a registration waits for its URL's name to resolve.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const UNREACHABLE_NAME: &str = "the host name does not resolve";

/// Sends signed webhook requests.
#[derive(Debug, Clone)]
pub struct WebhookAdapter {
    http: SafeHttp,
}

impl WebhookAdapter {
    /// A sender whose requests are bounded by `config` (`WEBHOOK_TIMEOUT_SECONDS` as its request
    /// timeout) and follow its SSRF rule.
    pub fn new(config: &HttpConfig) -> Result<Self, HttpBuildError> {
        Ok(Self { http: SafeHttp::new(config)? })
    }
}

/// The Standard Webhooks signature of `body` with `secret` (`whsec_` and base64, or bare
/// base64): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; `None` for a secret that is not
/// base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[async_trait]
impl WebhookSender for WebhookAdapter {
    async fn send(&self, message: &WebhookMessage) -> Result<u16, SendError> {
        let url = Url::parse(&message.url).map_err(|_| SendError::Refused("the endpoint URL is not a URL".into()))?;
        let id = message.id.as_str();
        let signatures: Vec<String> = message
            .secrets
            .iter()
            .filter_map(|secret| sign(secret.expose_secret(), id, message.timestamp, &message.body))
            .collect();
        if signatures.is_empty() {
            return Err(SendError::Refused("the endpoint has no usable signing secret".into()));
        }
        let request = self
            .http
            .request(reqwest::Method::POST, url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", message.timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(message.body.clone());
        let response = self.http.send(request).await.map_err(failure)?;
        let status = response.status().as_u16();
        // The answer's body is the receiver's; only its status counts.
        let _ = SafeHttp::read_body(response, ANSWER_LIMIT).await;
        Ok(status)
    }

    async fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = Url::parse(url).map_err(|_| "must be an absolute https URL".to_owned())?;
        self.http.check(&parsed).map_err(|blocked| blocked.to_string())?;
        if self.http.allows_private_networks() {
            return Ok(());
        }
        // Names are judged again at every connection (rebinding); this answers early, within a
        // bound, and never says what a name resolved to (no map of the service's network).
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await;
        let addrs: Vec<_> = match lookup {
            Ok(Ok(addrs)) => addrs.collect(),
            _ => return Err(UNREACHABLE_NAME.to_owned()),
        };
        check_resolved(&host, &addrs).map_err(|blocked| hidden(&blocked))
    }
}

fn failure(e: HttpError) -> SendError {
    match e {
        HttpError::Timeout { .. } => SendError::Timeout,
        // A name that resolves to nothing now may resolve later.
        HttpError::Blocked(Blocked::Unresolvable { .. }) => SendError::Unreachable(UNREACHABLE_NAME.into()),
        HttpError::Blocked(blocked) => SendError::Refused(hidden(&blocked)),
        other => SendError::Unreachable(Box::new(other)),
    }
}

/// What the outbound rule refused, without the address a name resolved to (a tenant could map
/// the service's network with it); an address the tenant wrote itself is said as written.
fn hidden(blocked: &Blocked) -> String {
    match blocked {
        Blocked::Resolved { host, class, .. } => format!("{host} resolves to a {class} address"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_the_standard_webhooks_specifications_example() {
        // The example of the specification's reference libraries.
        let signed = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signed.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn a_refusal_never_says_what_a_name_resolved_to() {
        let resolved = Blocked::Resolved {
            host: "db.corp.internal".into(),
            ip: "10.0.3.7".parse().unwrap(),
            class: crate::AddressClass::Private,
        };
        let said = hidden(&resolved);
        assert!(said.contains("db.corp.internal") && !said.contains("10.0.3.7"), "{said}");
    }

    #[test]
    fn a_secret_that_is_not_base64_signs_nothing() {
        assert_eq!(sign("whsec_not base64!", "evt", 1, b"{}"), None);
    }
}
