//! The rules of the webhook endpoints: a URL the outbound rule allows, a change that writes only
//! what it changes, a rotation written only over the secret it read. (Against a real store: the
//! store contract and the server's black-box tests.)

use std::sync::{Arc, Mutex};

use domain::{EventType, TenantId, WebhookId};
use ports::{Sealed, SecretRotation, Webhook, WebhookUpdate};
use secrecy::ExposeSecret;

use super::{NewWebhook, WebhookChange};
use crate::Error;
use crate::test_support::{Mocks, NOW};

fn id() -> WebhookId {
    WebhookId::from_random([3; 16])
}

/// `secret` as the test cipher seals it for `field` of the endpoint.
fn sealed(field: &str, secret: &str) -> Sealed {
    Sealed(format!("webhooks/{}/{field}|{secret}", id()).into_bytes())
}

fn endpoint(secret: &str) -> Webhook {
    Webhook {
        id: id(),
        tenant: TenantId::default_tenant(),
        url: "https://receiver.example/hooks".into(),
        events: None,
        secret: sealed("secret", secret),
        previous_secret: None,
        enabled: true,
        disabled_reason: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

#[tokio::test]
async fn an_endpoint_url_must_be_http_and_pass_the_outbound_rule() {
    let tenant = TenantId::default_tenant();
    let mut mocks = Mocks::new();
    mocks.webhooks.expect_check_url().returning(|url| match url.contains("10.0.0.1") {
        true => Err("resolves to a private address".into()),
        false => Ok(()),
    });
    mocks.events.expect_webhooks().returning(|_| Ok(vec![]));
    mocks.events.expect_insert_webhook().returning(|_| Ok(()));
    let directory = mocks.directory();
    for bad in ["ftp://receiver.example/x", "not a url", "https://10.0.0.1/hooks"] {
        let new = NewWebhook { url: bad.into(), events: None };
        let err = directory.create_webhook(&tenant, new).await.unwrap_err();
        assert!(matches!(err, Error::Validation { field: "url", .. }), "{bad}: {err:?}");
    }
    let new = NewWebhook { url: "https://receiver.example/hooks".into(), events: Some(vec![EventType::Expired; 2]) };
    let made = directory.create_webhook(&tenant, new).await.expect("made");
    assert_eq!(made.webhook.events, Some(vec![EventType::Expired]));
    assert!(made.secret.expect("shown once").expose_secret().starts_with("whsec_"));
    assert_ne!(made.webhook.secret.0, b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "the secret is stored sealed");
}

/// A PATCH of the filter writes the filter (normalised) and its time only, so a `410 Gone` that
/// disabled the endpoint after the caller last saw it is kept; it answers the endpoint as stored.
#[tokio::test]
async fn a_change_writes_only_the_parts_it_changes_and_answers_the_endpoint_as_stored() {
    let tenant = TenantId::default_tenant();
    let mut mocks = Mocks::new();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&asked);
    let stored = Webhook { enabled: false, disabled_reason: Some("gone".into()), ..endpoint("whsec_current") };
    let answer = stored.clone();
    mocks.events.expect_update_webhook().returning(move |_, _, update| {
        record.lock().unwrap().push(update.clone());
        Ok(Some(answer.clone()))
    });
    let change = WebhookChange { events: Some(Some(vec![EventType::Expired; 2])), ..WebhookChange::default() };
    let changed = mocks.directory().update_webhook(&tenant, &id(), change).await.expect("changed");
    assert_eq!(changed, stored);
    let expected = WebhookUpdate { url: None, events: Some(Some(vec![EventType::Expired])), enabled: None, at: NOW };
    assert_eq!(*asked.lock().unwrap(), [expected]);
}

/// A new URL is checked before anything is written; an endpoint the store does not find is
/// `WebhookNotFound`.
#[tokio::test]
async fn a_changed_url_is_checked_before_it_is_written_and_a_missing_endpoint_is_not_found() {
    let tenant = TenantId::default_tenant();
    let mut mocks = Mocks::new();
    mocks.webhooks.expect_check_url().returning(|url| match url.contains("10.0.0.1") {
        true => Err("resolves to a private address".into()),
        false => Ok(()),
    });
    mocks.events.expect_update_webhook().times(1).returning(|_, _, _| Ok(None));
    let directory = mocks.directory();
    let private = WebhookChange { url: Some("https://10.0.0.1/hooks".into()), ..WebhookChange::default() };
    let err = directory.update_webhook(&tenant, &id(), private).await.unwrap_err();
    assert!(matches!(err, Error::Validation { field: "url", .. }), "{err:?}");
    let fine = WebhookChange { url: Some("https://receiver.example/v2".into()), ..WebhookChange::default() };
    let err = directory.update_webhook(&tenant, &id(), fine).await.unwrap_err();
    assert!(matches!(err, Error::WebhookNotFound), "{err:?}");
}

/// A rotation is written over the secret it read; when another rotation (or a rekey) changed it
/// first, it reads again and rotates the secret that is there now, which then signs as the
/// previous one. The secret answered is the one stored.
#[tokio::test]
async fn a_rotation_that_loses_to_another_reads_again_and_rotates_the_secret_there_now() {
    let tenant = TenantId::default_tenant();
    let mut mocks = Mocks::new();
    let reads = Mutex::new(vec![endpoint("whsec_theirs"), endpoint("whsec_mine")]);
    mocks.events.expect_webhook().times(2).returning(move |_, _| Ok(reads.lock().unwrap().pop()));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&asked);
    mocks.events.expect_rotate_webhook_secret().times(2).returning(move |_, _, rotation| {
        let mut asked = record.lock().unwrap();
        asked.push(rotation.clone());
        Ok(asked.len() == 2)
    });
    let rotated = mocks.directory().rotate_webhook_secret(&tenant, &id()).await.expect("rotated");

    let asked = asked.lock().unwrap();
    assert_eq!(asked[0].expected, sealed("secret", "whsec_mine"), "the first read");
    let SecretRotation { expected, secret, previous, at } = &asked[1];
    assert_eq!(*expected, sealed("secret", "whsec_theirs"), "read again");
    assert_eq!(previous.0, sealed("previous_secret", "whsec_theirs"), "the secret there now signs on");
    assert!(previous.1 > NOW, "for the overlap");
    let shown = rotated.secret.expect("shown once");
    assert_eq!(*secret, sealed("secret", shown.expose_secret()), "the secret shown is the one stored");
    assert_eq!(
        (&rotated.webhook.secret, rotated.webhook.previous_secret.as_ref(), rotated.webhook.updated_at),
        (secret, Some(previous), *at)
    );
}

/// A rotation whose secret keeps changing under it gives up after a few reads, with an error the
/// caller may retry on, and never answers a secret that was not stored.
#[tokio::test]
async fn a_rotation_that_keeps_losing_gives_up_unavailable() {
    let tenant = TenantId::default_tenant();
    let mut mocks = Mocks::new();
    mocks.events.expect_webhook().returning(|_, _| Ok(Some(endpoint("whsec_current"))));
    mocks.events.expect_rotate_webhook_secret().times(3).returning(|_, _, _| Ok(false));
    let err = mocks.directory().rotate_webhook_secret(&tenant, &id()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
}
