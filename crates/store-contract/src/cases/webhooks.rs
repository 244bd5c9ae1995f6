//! Webhook endpoints (`EventStore`): each reads back as written, and only its tenant reaches it.

use domain::{EventType, WebhookId};
use ports::{AttemptOutcome, StoreError, Webhook};

use super::events::{announce, feed, settled};
use crate::ContractStore;
use crate::fixtures::{self, T0};

/// An endpoint reads back with every field (a filter, an empty filter, a previous secret); its
/// tenant lists its own oldest first, updates and deletes it; another tenant finds nothing and
/// changes nothing; a duplicate id is a conflict; deleting it deletes its deliveries.
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

    let hijacked = Webhook { tenant: theirs.tenant.clone(), url: "https://evil.example/".into(), ..filtered.clone() };
    assert!(!store.update_webhook(&hijacked).await.expect("update"), "globex cannot update acme's");
    assert!(!store.delete_webhook(&theirs.tenant, &filtered.id).await.expect("delete"), "nor delete it");
    assert_eq!(store.webhook(&acme, &filtered.id).await.expect("webhook"), Some(filtered.clone()));

    let rotated = Webhook {
        url: "https://hooks.example/v2".into(),
        events: None,
        secret: fixtures::sealed("rotated"),
        previous_secret: Some((filtered.secret.clone(), T0.plus_seconds(900))),
        enabled: true,
        disabled_reason: None,
        updated_at: T0.plus_seconds(60),
        ..filtered.clone()
    };
    assert!(store.update_webhook(&rotated).await.expect("update"));
    assert_eq!(store.webhook(&acme, &filtered.id).await.expect("webhook"), Some(rotated.clone()));
    let cleared = Webhook { previous_secret: None, events: Some(vec![EventType::Failed]), ..rotated.clone() };
    assert!(store.update_webhook(&cleared).await.expect("update"));
    assert_eq!(store.webhook(&acme, &filtered.id).await.expect("webhook"), Some(cleared.clone()));

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

    for due in &due {
        let outcome = AttemptOutcome::Delivered { status: 200, at: T0.plus_seconds(11) };
        let finished = store.finish_delivery(&kept.id, &due.delivery.event.id, "d", &outcome).await;
        assert!(finished.expect("finish"));
    }
    assert_eq!(settled(&store, &alice.tenant, 2).await.len(), 2);
    assert_eq!(store.prune_events(T0.plus_seconds(50), 10).await.expect("prune"), 2, "nothing waits on them");
    assert_eq!(feed(&store, &alice.tenant, None, 100).await, vec![]);
}
