//! A tenant's webhook endpoints: registered with a signing secret shown once, changed, paused,
//! rotated (the old secret signing on for `WEBHOOK_SECRET_OVERLAP_SECONDS`), removed; and their
//! deliveries, listed and retried.

use domain::{EventId, EventType, TenantId, WebhookId};
use ports::{Cipher, Clock, Delivery, EventStore, IdSource, SecretRotation, Webhook, WebhookSender, WebhookUpdate};
use secrecy::SecretString;

use super::webhook_aad;
use crate::{Deps, Directory, Error};

/// Endpoints one tenant may have.
pub const MAX_WEBHOOKS: usize = 20;

/// Reads of an endpoint a rotation makes before giving up on one whose secret keeps changing.
const ROTATION_ATTEMPTS: usize = 3;

/// What registering an endpoint takes.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    /// The event types it takes; `None`: every type.
    pub events: Option<Vec<EventType>>,
}

/// What changing an endpoint takes: each `Some` replaces that part.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    /// `Some(None)`: every type again.
    pub events: Option<Option<Vec<EventType>>>,
    /// `true` enables an endpoint the service disabled (a `410 Gone`) or the tenant paused.
    pub enabled: Option<bool>,
}

/// An endpoint, with its signing secret when it was just made (registered or rotated): the only
/// time the secret is ever shown.
#[derive(Debug)]
pub struct RegisteredWebhook {
    pub webhook: Webhook,
    pub secret: Option<SecretString>,
}

impl<D: Deps> Directory<D> {
    /// Registers an endpoint for `tenant`'s events, answering its signing secret once.
    pub async fn create_webhook(&self, tenant: &TenantId, new: NewWebhook) -> Result<RegisteredWebhook, Error> {
        let ports = self.ports();
        self.check_webhook_url(&new.url).await?;
        if ports.events.webhooks(tenant).await?.len() >= MAX_WEBHOOKS {
            return Err(Error::validation("url", format!("a tenant may register at most {MAX_WEBHOOKS} endpoints")));
        }
        let id = ports.ids.webhook_id();
        let secret = ports.ids.signing_secret();
        let now = ports.clock.now();
        let webhook = Webhook {
            secret: ports.cipher.seal(&secret, &webhook_aad(&id, "secret")),
            id,
            tenant: tenant.clone(),
            url: new.url,
            events: new.events.map(normalized),
            previous_secret: None,
            enabled: true,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        };
        ports.events.insert_webhook(&webhook).await?;
        Ok(RegisteredWebhook { webhook, secret: Some(secret) })
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>, Error> {
        Ok(self.ports().events.webhooks(tenant).await?)
    }

    pub async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Webhook, Error> {
        self.ports().events.webhook(tenant, id).await?.ok_or(Error::WebhookNotFound)
    }

    /// Changes an endpoint's URL, filter or state: only those, so a concurrent `410 Gone`, rotation
    /// or rekey of the endpoint is kept.
    pub async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        change: WebhookChange,
    ) -> Result<Webhook, Error> {
        if let Some(url) = &change.url {
            self.check_webhook_url(url).await?;
        }
        let update = WebhookUpdate {
            url: change.url,
            events: change.events.map(|events| events.map(normalized)),
            enabled: change.enabled,
            at: self.ports().clock.now(),
        };
        self.ports().events.update_webhook(tenant, id, &update).await?.ok_or(Error::WebhookNotFound)
    }

    pub async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<(), Error> {
        match self.ports().events.delete_webhook(tenant, id).await? {
            true => Ok(()),
            false => Err(Error::WebhookNotFound),
        }
    }

    /// Gives the endpoint a new signing secret, answered once; the current one keeps signing too
    /// (a second signature) until the overlap ends, so a receiver can switch without a gap. Written
    /// only over the secret it read: one that lost to a concurrent rotation or rekey reads again.
    pub async fn rotate_webhook_secret(&self, tenant: &TenantId, id: &WebhookId) -> Result<RegisteredWebhook, Error> {
        let ports = self.ports();
        for _ in 0..ROTATION_ATTEMPTS {
            let webhook = self.webhook(tenant, id).await?;
            let now = ports.clock.now();
            let current = ports.cipher.open(&webhook.secret, &webhook_aad(id, "secret"))?;
            let until = now.plus_seconds(self.settings().events.secret_overlap_seconds.max(0));
            let secret = ports.ids.signing_secret();
            let rotation = SecretRotation {
                previous: (ports.cipher.seal(&current, &webhook_aad(id, "previous_secret")), until),
                secret: ports.cipher.seal(&secret, &webhook_aad(id, "secret")),
                expected: webhook.secret.clone(),
                at: now,
            };
            if ports.events.rotate_webhook_secret(tenant, id, &rotation).await? {
                let SecretRotation { secret: sealed, previous, at, .. } = rotation;
                let webhook = Webhook { secret: sealed, previous_secret: Some(previous), updated_at: at, ..webhook };
                return Ok(RegisteredWebhook { webhook, secret: Some(secret) });
            }
        }
        // Others keep rotating it (or a rekey keeps rewriting it): the caller may try again.
        Err(Error::Unavailable("the endpoint's secret kept changing while it was rotated".into()))
    }

    /// The endpoint's deliveries, newest event first, before the event `before_seq` when given.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, Error> {
        self.webhook(tenant, id).await?;
        Ok(self.ports().events.deliveries(tenant, id, before_seq, limit).await?)
    }

    /// Sends a delivered or failed delivery again, as soon as the dispatcher gets to it, with a
    /// fresh retry period.
    pub async fn retry_delivery(&self, tenant: &TenantId, id: &WebhookId, event: &EventId) -> Result<(), Error> {
        self.webhook(tenant, id).await?;
        let now = self.ports().clock.now();
        match self.ports().events.retry_delivery(tenant, id, event, now).await? {
            true => Ok(()),
            false => Err(Error::DeliveryNotFound),
        }
    }

    /// A URL webhooks may go to: absolute http(s), and allowed by the outbound rule.
    async fn check_webhook_url(&self, url: &str) -> Result<(), Error> {
        if !crate::use_cases::is_http_url(url) {
            return Err(Error::validation("url", "must be an absolute https URL"));
        }
        self.ports().webhooks.check_url(url).await.map_err(|reason| Error::validation("url", reason))
    }
}

/// A filter in one order, each type once.
fn normalized(mut events: Vec<EventType>) -> Vec<EventType> {
    events.sort_unstable();
    events.dedup();
    events
}
