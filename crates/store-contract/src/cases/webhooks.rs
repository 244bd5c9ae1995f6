//! Webhook endpoints (`EventStore`): each reads back as written, and only its tenant reaches it.

use domain::{EventType, Timestamp, WebhookId};
use ports::{AttemptOutcome, Attempted, Sealed, SecretRotation, StoreError, Webhook, WebhookUpdate};

use super::events::{announce, feed, settled};
use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

fn at(seconds: i64) -> Timestamp {
    T0.plus_seconds(seconds)
}

/// A rotation over `expected` to a secret tagged `label`, at `T0 + seconds`.
fn rotation(expected: &Sealed, label: &str, seconds: i64) -> SecretRotation {
    SecretRotation {
        expected: expected.clone(),
        secret: fixtures::sealed(&format!("{label}/secret")),
        previous: (fixtures::sealed(&format!("{label}/previous")), at(seconds + 900)),
        at: at(seconds),
    }
}

/// An endpoint reads back with every field (a filter, an empty filter, a previous secret); its
/// tenant lists its own oldest first, updates and deletes it; another tenant finds nothing and
/// changes nothing (no update, rotation nor delete); a duplicate id is a conflict; deleting it
/// deletes its deliveries.
pub async fn a_webhook_reads_back_with_every_field_and_only_its_tenant_reaches_it<S: ContractStore>(store: S) {
    let filtered = Webhook {
        previous_secret: Some((fixtures::every_byte(), T0.plus_seconds(600))),
        disabled_reason: Some("paused by hand".into()),
        enabled: false,
        ..fixtures::webhook(1, "acme", Some(vec![EventType::Expired, EventType::Connected]))
    };
    let everything = fixtures::webhook(3, "acme", None);
    let nothing = fixtures::webhook(2, "acme", Some(vec![]));
    let theirs = fixtures::webhook(4, "globex", None);
    for hook in [&filtered, &everything, &nothing, &theirs] {
        store.insert_webhook(hook).await.expect("insert webhook");
    }
    let acme = filtered.tenant.clone();
    assert_eq!(store.webhook(&acme, &filtered.id).await.expect("webhook"), Some(filtered.clone()));
    assert_eq!(
        store.webhooks(&acme).await.expect("webhooks"),
        vec![filtered.clone(), nothing.clone(), everything.clone()]
    );
    assert_eq!(store.webhook(&acme, &theirs.id).await.expect("webhook"), None, "globex's");
    assert_eq!(store.webhook(&acme, &WebhookId::from_random([9; 16])).await.expect("webhook"), None);
    let again = store.insert_webhook(&Webhook { tenant: theirs.tenant.clone(), ..filtered.clone() }).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let hijack = WebhookUpdate { url: Some("https://evil.example/".into()), events: None, enabled: None, at: at(9) };
    let changed = store.update_webhook(&theirs.tenant, &filtered.id, &hijack).await.expect("update");
    assert_eq!(changed, None, "globex cannot update acme's");
    let rotation = rotation(&filtered.secret, "evil", 9);
    assert!(!store.rotate_webhook_secret(&theirs.tenant, &filtered.id, &rotation).await.expect("rotate"), "nor rotate");
    assert!(!store.delete_webhook(&theirs.tenant, &filtered.id).await.expect("delete"), "nor delete it");
    assert_eq!(store.webhook(&acme, &filtered.id).await.expect("webhook"), Some(filtered.clone()));
    let unknown = WebhookId::from_random([9; 16]);
    assert_eq!(store.update_webhook(&acme, &unknown, &hijack).await.expect("update"), None, "an unknown one");

    let every = WebhookUpdate {
        url: Some("https://hooks.example/v2".into()),
        events: Some(None),
        enabled: Some(true),
        at: at(60),
    };
    let changed = store.update_webhook(&acme, &filtered.id, &every).await.expect("update");
    let expected = Webhook {
        url: "https://hooks.example/v2".into(),
        events: None,
        enabled: true,
        disabled_reason: None,
        updated_at: at(60),
        ..filtered.clone()
    };
    assert_eq!(changed, Some(expected.clone()), "answered as stored");
    assert_eq!(store.webhook(&acme, &filtered.id).await.expect("webhook"), Some(expected.clone()));
    let narrowed = WebhookUpdate { url: None, events: Some(Some(vec![EventType::Failed])), enabled: None, at: at(61) };
    let cleared = store.update_webhook(&acme, &filtered.id, &narrowed).await.expect("update").expect("found");
    assert_eq!(cleared, Webhook { events: Some(vec![EventType::Failed]), updated_at: at(61), ..expected });

    announce(&store, &fixtures::owner("acme", "alice"), 1, 1, EventType::Failed, 0).await;
    assert_eq!(store.deliveries(&acme, &cleared.id, None, 10).await.expect("deliveries").len(), 1);
    assert!(store.delete_webhook(&acme, &cleared.id).await.expect("delete"));
    assert!(!store.delete_webhook(&acme, &cleared.id).await.expect("delete again"));
    assert_eq!(store.webhook(&acme, &cleared.id).await.expect("webhook"), None);
    store.insert_webhook(&cleared).await.expect("the same id again");
    assert_eq!(store.deliveries(&acme, &cleared.id, None, 10).await.expect("deliveries"), vec![], "they went with it");
    assert_eq!(store.webhooks(&theirs.tenant).await.expect("webhooks"), vec![theirs]);
}

/// Once its endpoint is deleted, a pending delivery is not claimed nor listed (not even to an
/// endpoint registered again with the same id), and does not keep its event from pruning; another
/// endpoint's deliveries go on.
pub async fn deliveries_of_a_deleted_endpoint_are_neither_claimed_nor_listed_nor_keep_their_event<S: ContractStore>(
    store: S,
) {
    let alice = fixtures::owner("acme", "alice");
    let (gone, kept) = (fixtures::webhook(1, "acme", None), fixtures::webhook(2, "acme", None));
    store.insert_webhook(&gone).await.expect("insert webhook");
    store.insert_webhook(&kept).await.expect("insert webhook");
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    announce(&store, &alice, 2, 2, EventType::Connected, 1).await;
    assert!(store.delete_webhook(&gone.tenant, &gone.id).await.expect("delete"));

    let due = store.claim_deliveries("d", T0.plus_seconds(10), T0.plus_seconds(70), 10).await.expect("claim");
    let claimed: Vec<_> = due.iter().map(|d| (d.delivery.webhook_id.clone(), d.delivery.event.seq)).collect();
    assert!(claimed.iter().all(|(id, _)| *id == kept.id), "only the kept endpoint's: {claimed:?}");
    assert_eq!(claimed.len(), 2);
    assert_eq!(store.deliveries(&gone.tenant, &gone.id, None, 10).await.expect("deliveries"), vec![]);
    store.insert_webhook(&gone).await.expect("the same id again");
    assert_eq!(store.deliveries(&gone.tenant, &gone.id, None, 10).await.expect("deliveries"), vec![]);
    assert!(store.delete_webhook(&gone.tenant, &gone.id).await.expect("delete again"));

    let outcome = AttemptOutcome::Delivered { status: 200, at: T0.plus_seconds(11) };
    let attempts: Vec<_> = due
        .iter()
        .map(|due| Attempted {
            webhook: kept.id.clone(),
            event: due.delivery.event.id.clone(),
            outcome: outcome.clone(),
        })
        .collect();
    assert_eq!(store.finish_deliveries("d", &attempts).await.expect("finish"), vec![true, true]);
    assert_eq!(settled(&store, &alice.tenant, 2).await.len(), 2);
    assert_eq!(store.prune_events(T0.plus_seconds(50), 10).await.expect("prune"), 2, "nothing waits on them");
    assert_eq!(feed(&store, &alice.tenant, None, 100).await, vec![]);
}

/// An update writes its parts only: a disable by `410 Gone` survives a change of the filter, the
/// secrets survive a change of the URL; enabling or pausing clears the reason; an empty filter
/// stays apart from none.
pub async fn an_update_writes_only_its_parts_and_keeps_a_gone_disable_and_the_secrets<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook =
        Webhook { previous_secret: Some((fixtures::every_byte(), at(600))), ..fixtures::webhook(1, "acme", None) };
    let acme = hook.tenant.clone();
    store.insert_webhook(&hook).await.expect("insert webhook");
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    let due = store.claim_deliveries("d", at(10), at(70), 10).await.expect("claim");
    assert_eq!(due.len(), 1);
    let gone = AttemptOutcome::Gone { at: at(11) };
    let attempt = Attempted { webhook: hook.id.clone(), event: fixtures::event_id(1), outcome: gone };
    assert_eq!(store.finish_deliveries("d", &[attempt]).await.expect("finish"), vec![true]);

    let update = |events, enabled, seconds| WebhookUpdate { url: None, events, enabled, at: at(seconds) };
    let filter = update(Some(Some(vec![EventType::Expired])), None, 20);
    let changed = store.update_webhook(&acme, &hook.id, &filter).await.expect("update").expect("found");
    let disabled = Webhook {
        events: Some(vec![EventType::Expired]),
        enabled: false,
        disabled_reason: Some(AttemptOutcome::GONE_REASON.to_owned()),
        updated_at: at(20),
        ..hook.clone()
    };
    assert_eq!(changed, disabled, "the Gone stays");
    let moved = WebhookUpdate { url: Some("https://hooks.example/moved".into()), ..update(None, None, 21) };
    let changed = store.update_webhook(&acme, &hook.id, &moved).await.expect("update").expect("found");
    assert_eq!(changed, Webhook { url: "https://hooks.example/moved".into(), updated_at: at(21), ..disabled.clone() });
    assert_eq!((changed.secret, changed.previous_secret), (hook.secret.clone(), hook.previous_secret.clone()));

    let enabled = store.update_webhook(&acme, &hook.id, &update(None, Some(true), 22)).await.expect("update");
    assert_eq!(enabled.map(|w| (w.enabled, w.disabled_reason)), Some((true, None)));
    let empty = update(Some(Some(vec![])), Some(false), 23);
    let paused = store.update_webhook(&acme, &hook.id, &empty).await.expect("update").expect("found");
    assert_eq!((paused.enabled, paused.disabled_reason, paused.events), (false, None, Some(vec![])));
    let every = store.update_webhook(&acme, &hook.id, &update(Some(None), None, 24)).await.expect("update");
    assert_eq!(every.map(|w| (w.events, w.enabled, w.updated_at)), Some((None, false, at(24))));
}

/// A rotation writes the new secret and the previous one only over the secret it read: one made
/// from a secret since rotated (or rekeyed) changes nothing; of twenty from the same secret,
/// exactly one is written.
pub async fn a_rotation_is_written_only_over_the_secret_it_read<S: ContractStore>(store: S) {
    let hook = Webhook {
        enabled: false,
        disabled_reason: Some(AttemptOutcome::GONE_REASON.to_owned()),
        ..fixtures::webhook(1, "acme", None)
    };
    let acme = hook.tenant.clone();
    store.insert_webhook(&hook).await.expect("insert webhook");

    let first = rotation(&hook.secret, "first", 30);
    assert!(store.rotate_webhook_secret(&acme, &hook.id, &first).await.expect("rotate"));
    let rotated = Webhook {
        secret: first.secret.clone(),
        previous_secret: Some(first.previous.clone()),
        updated_at: at(30),
        ..hook.clone()
    };
    assert_eq!(store.webhook(&acme, &hook.id).await.expect("webhook"), Some(rotated.clone()), "nothing else");
    let stale = rotation(&hook.secret, "stale", 31);
    assert!(!store.rotate_webhook_secret(&acme, &hook.id, &stale).await.expect("rotate"), "made from the old one");
    assert_eq!(store.webhook(&acme, &hook.id).await.expect("webhook"), Some(rotated.clone()), "changed nothing");

    let outcomes = race(&store, 20, |store, index| {
        let (acme, id, rotation) = (acme.clone(), hook.id.clone(), rotation(&first.secret, &format!("r{index}"), 40));
        async move { store.rotate_webhook_secret(&acme, &id, &rotation).await.expect("rotate").then_some(rotation) }
    })
    .await;
    let winners: Vec<SecretRotation> = outcomes.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "exactly one of twenty");
    let stored = store.webhook(&acme, &hook.id).await.expect("webhook").expect("found");
    assert_eq!((stored.secret, stored.previous_secret), (winners[0].secret.clone(), Some(winners[0].previous.clone())));
}
