//! Deliveries (`EventStore`): queued with their event for the endpoints that take it, claimed by
//! one dispatcher at a time in order per connection, finished, retried on request, paged, and
//! pruned with their events once settled.

use std::collections::BTreeSet;

use domain::{EventId, EventType, Timestamp, WebhookId};
use ports::{AttemptOutcome, Attempted, Delivery, DeliveryState, DueDelivery, Webhook};

use super::events::{announce, feed, settled};
use crate::fixtures::{self, T0};
use crate::{ContractStore, race::race};

fn at(seconds: i64) -> Timestamp {
    T0.plus_seconds(seconds)
}

/// The event ids of `hook`'s deliveries, newest first.
async fn delivered_events<S: ContractStore>(store: &S, hook: &Webhook) -> Vec<EventId> {
    let deliveries = store.deliveries(&hook.tenant, &hook.id, None, 1000).await.expect("deliveries");
    deliveries.into_iter().map(|d| d.event.id).collect()
}

/// The delivery of event `n` to `hook`.
async fn delivery<S: ContractStore>(store: &S, hook: &Webhook, n: u32) -> Delivery {
    let all = store.deliveries(&hook.tenant, &hook.id, None, 1000).await.expect("deliveries");
    all.into_iter().find(|d| d.event.id == fixtures::event_id(n)).expect("a delivery of the event")
}

/// What a claim leased: (endpoint, event) pairs in the claim's order.
fn claimed(due: &[DueDelivery]) -> Vec<(WebhookId, EventId)> {
    due.iter().map(|d| (d.delivery.webhook_id.clone(), d.delivery.event.id.clone())).collect()
}

async fn claim<S: ContractStore>(store: &S, owner: &str, now: i64, limit: u32) -> Vec<(WebhookId, EventId)> {
    claimed(&store.claim_deliveries(owner, at(now), at(now + 60), limit).await.expect("claim"))
}

fn attempted(hook: &Webhook, n: u32, outcome: AttemptOutcome) -> Attempted {
    Attempted { webhook: hook.id.clone(), event: fixtures::event_id(n), outcome }
}

/// Finishes one delivery alone; whether it was recorded.
async fn finish<S: ContractStore>(store: &S, hook: &Webhook, n: u32, owner: &str, outcome: AttemptOutcome) -> bool {
    let written = store.finish_deliveries(owner, &[attempted(hook, n, outcome)]).await.expect("finish");
    assert_eq!(written.len(), 1, "one answer per attempt");
    written[0]
}

fn pair(hook: &Webhook, n: u32) -> (WebhookId, EventId) {
    (hook.id.clone(), fixtures::event_id(n))
}

/// An event is queued for each enabled endpoint of its tenant whose filter takes its type (an
/// empty filter takes none), not for a disabled one, another tenant's, or one registered after it.
pub async fn deliveries_are_queued_only_for_enabled_endpoints_of_the_tenant_that_take_the_type<S: ContractStore>(
    store: S,
) {
    let alice = fixtures::owner("acme", "alice");
    let all = fixtures::webhook(1, "acme", None);
    let some = fixtures::webhook(2, "acme", Some(vec![EventType::Expired, EventType::Failed]));
    let none = fixtures::webhook(3, "acme", Some(vec![]));
    let paused = Webhook { enabled: false, ..fixtures::webhook(4, "acme", None) };
    let elsewhere = fixtures::webhook(5, "globex", None);
    for hook in [&all, &some, &none, &paused, &elsewhere] {
        store.insert_webhook(hook).await.expect("insert webhook");
    }
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    announce(&store, &alice, 1, 2, EventType::Expired, 1).await;
    announce(&store, &fixtures::owner("globex", "alice"), 1, 3, EventType::Failed, 2).await;
    let late = fixtures::webhook(6, "acme", None);
    store.insert_webhook(&late).await.expect("insert late webhook");
    announce(&store, &alice, 2, 4, EventType::Disconnected, 3).await;

    let ids = |ns: &[u32]| ns.iter().map(|n| fixtures::event_id(*n)).collect::<Vec<_>>();
    assert_eq!(delivered_events(&store, &all).await, ids(&[4, 2, 1]));
    assert_eq!(delivered_events(&store, &some).await, ids(&[2]));
    assert_eq!(delivered_events(&store, &none).await, ids(&[]));
    assert_eq!(delivered_events(&store, &paused).await, ids(&[]));
    assert_eq!(delivered_events(&store, &elsewhere).await, ids(&[3]));
    assert_eq!(delivered_events(&store, &late).await, ids(&[4]), "only events after its registration");
    let across = store.deliveries(&alice.tenant, &elsewhere.id, None, 100).await.expect("deliveries");
    assert_eq!(across, vec![], "another tenant's endpoint has no deliveries for acme");
}

/// A later event of a connection is not claimed while an earlier one's delivery to the same
/// endpoint is pending (leased or waiting for its retry), and is once that one is delivered or
/// failed; other connections' events do not wait.
pub async fn a_later_event_of_a_connection_waits_for_the_earlier_ones_delivery_or_failure<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    announce(&store, &alice, 2, 2, EventType::Connected, 0).await;
    announce(&store, &alice, 1, 3, EventType::RefreshFailing, 0).await;
    announce(&store, &alice, 1, 4, EventType::Expired, 0).await;

    assert_eq!(claim(&store, "d1", 10, 10).await, vec![pair(&hook, 1), pair(&hook, 2)], "the first of each");
    assert_eq!(claim(&store, "d2", 10, 10).await, vec![], "3 waits for 1, which is leased");
    assert!(finish(&store, &hook, 2, "d1", delivered(11)).await);
    let retry = AttemptOutcome::Retry { status: Some(503), error: "503".into(), next_at: at(100) };
    assert!(finish(&store, &hook, 1, "d1", retry).await);
    assert_eq!(claim(&store, "d2", 20, 10).await, vec![], "3 waits for 1, which waits for its retry");
    assert!(!finish(&store, &hook, 1, "d2", delivered(100)).await, "d2 never held it");
    assert_eq!(claim(&store, "d2", 100, 10).await, vec![pair(&hook, 1)], "1 again, still before 3");
    assert!(finish(&store, &hook, 1, "d2", delivered(101)).await);
    assert_eq!(claim(&store, "d3", 101, 10).await, vec![pair(&hook, 3)], "3 once 1 is delivered");
    let failed = AttemptOutcome::Failed { status: Some(400), error: "refused".into(), at: at(102) };
    assert!(finish(&store, &hook, 3, "d3", failed).await);
    assert_eq!(claim(&store, "d3", 102, 10).await, vec![pair(&hook, 4)], "4 once 3 has failed");
}

fn delivered(seconds: i64) -> AttemptOutcome {
    AttemptOutcome::Delivered { status: 200, at: at(seconds) }
}

/// A claim takes due deliveries in event order up to its limit, with the endpoint's url and
/// secrets (the previous one only while it signs); not leased ones, nor ones not yet due; a
/// lease that ran out is claimable again.
pub async fn a_claim_takes_due_unleased_deliveries_in_order_up_to_its_limit<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let previous = (fixtures::every_byte(), at(150));
    let hook = Webhook { previous_secret: Some(previous.clone()), ..fixtures::webhook(1, "acme", None) };
    store.insert_webhook(&hook).await.expect("insert webhook");
    for n in 0..5u32 {
        announce(&store, &alice, u8::try_from(n).expect("small"), n, EventType::Connected, i64::from(n)).await;
    }

    let due = store.claim_deliveries("d1", at(2), at(60), 10).await.expect("claim");
    assert_eq!(claimed(&due), vec![pair(&hook, 0), pair(&hook, 1), pair(&hook, 2)], "only the due ones");
    assert!(due.iter().all(|d| d.url == hook.url && d.secret == hook.secret));
    assert!(due.iter().all(|d| d.previous_secret == Some(previous.clone())), "the previous secret still signs");
    assert_eq!(due[0].delivery, delivery(&store, &hook, 0).await, "the delivery as the page shows it");
    assert_eq!(claim(&store, "d2", 30, 10).await, vec![pair(&hook, 3), pair(&hook, 4)], "leased ones are not");
    assert_eq!(claim(&store, "d3", 61, 2).await, vec![pair(&hook, 0), pair(&hook, 1)], "an ended lease, by limit");

    let late = store.claim_deliveries("d4", at(200), at(260), 10).await.expect("claim");
    assert_eq!(claimed(&late), vec![pair(&hook, 0), pair(&hook, 1), pair(&hook, 2), pair(&hook, 3), pair(&hook, 4)]);
    assert!(late.iter().all(|d| d.previous_secret.is_none()), "the previous secret no longer signs");
}

/// Twenty dispatchers claiming at once never get the same delivery, and together with one more
/// claim miss none.
pub async fn of_twenty_concurrent_claimers_no_two_get_the_same_delivery<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hooks = [fixtures::webhook(1, "acme", None), fixtures::webhook(2, "acme", None)];
    for hook in &hooks {
        store.insert_webhook(hook).await.expect("insert webhook");
    }
    for n in 0..20u32 {
        announce(&store, &alice, u8::try_from(n).expect("small"), n, EventType::Connected, 0).await;
    }
    let outcomes = race(&store, 20, |store, index| async move {
        let owner = format!("dispatcher-{index}");
        claimed(&store.claim_deliveries(&owner, at(10), at(70), 3).await.expect("claim"))
    })
    .await;
    let mut seen = BTreeSet::new();
    for pair in outcomes.into_iter().flatten() {
        assert!(seen.insert(pair.clone()), "{pair:?} was claimed twice");
    }
    seen.extend(claim(&store, "last", 10, 100).await);
    let all: BTreeSet<_> = hooks.iter().flat_map(|h| (0..20).map(|n| pair(h, n))).collect();
    assert_eq!(seen, all, "every delivery claimed once");
}

/// Each outcome writes what it says and lets the lease go: delivered, a retry (due again at its
/// time), failed, postponed (no attempt counted); a finish by a dispatcher that does not hold the
/// lease, or of a settled delivery, changes nothing.
pub async fn every_finish_outcome_is_recorded_and_lets_the_lease_go<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    for n in 1..=5u32 {
        announce(&store, &alice, u8::try_from(n).expect("small"), n, EventType::Expired, 0).await;
    }
    assert_eq!(claim(&store, "d", 10, 10).await.len(), 5);

    let before = delivery(&store, &hook, 5).await;
    assert!(!finish(&store, &hook, 5, "intruder", delivered(11)).await, "not the holder");
    assert_eq!(delivery(&store, &hook, 5).await, before, "nothing changed");

    assert!(finish(&store, &hook, 1, "d", delivered(11)).await);
    let retry = AttemptOutcome::Retry { status: Some(503), error: "the receiver answered 503".into(), next_at: at(30) };
    assert!(finish(&store, &hook, 2, "d", retry).await);
    let failed =
        AttemptOutcome::Failed { status: None, error: "the receiver did not answer in time".into(), at: at(12) };
    assert!(finish(&store, &hook, 3, "d", failed).await);
    assert!(finish(&store, &hook, 4, "d", AttemptOutcome::Postponed { next_at: at(40) }).await);
    assert!(!finish(&store, &hook, 1, "d", delivered(13)).await, "a delivered one is settled");

    let seen = |d: Delivery| (d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at);
    let error = |e: &str| Some(e.to_owned());
    assert_eq!(seen(delivery(&store, &hook, 1).await), (DeliveryState::Delivered, 1, Some(200), None, None));
    assert_eq!(
        seen(delivery(&store, &hook, 2).await),
        (DeliveryState::Pending, 1, Some(503), error("the receiver answered 503"), Some(at(30)))
    );
    assert_eq!(
        seen(delivery(&store, &hook, 3).await),
        (DeliveryState::Failed, 1, None, error("the receiver did not answer in time"), None)
    );
    assert_eq!(seen(delivery(&store, &hook, 4).await), (DeliveryState::Pending, 0, None, None, Some(at(40))));
    assert_eq!(delivery(&store, &hook, 2).await.retry_from, at(0), "retries count from the event");

    // The lease of d (until 70) is gone: the retry and the postponed one are claimed when due.
    assert_eq!(claim(&store, "e", 30, 10).await, vec![pair(&hook, 2)]);
    assert_eq!(claim(&store, "e", 40, 10).await, vec![pair(&hook, 4)]);
}

/// A round's outcomes are recorded together, each only where the finishing dispatcher holds the
/// lease, with an answer per attempt in their order: another's delivery (a `410` on it disables
/// nothing), the same delivery a second time in the batch (its lease is gone by then) and an
/// unknown event are not; a postponement keeps the last attempt's status and error; nothing to
/// record is no write.
pub async fn a_rounds_finishes_are_recorded_together_each_where_its_lease_is_held<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let (hook, gone) =
        (fixtures::webhook(1, "acme", None), fixtures::webhook(2, "acme", Some(vec![EventType::Failed])));
    store.insert_webhook(&hook).await.expect("insert webhook");
    store.insert_webhook(&gone).await.expect("insert webhook");
    for n in 1..=4u32 {
        let kind = if n == 3 { EventType::Failed } else { EventType::Connected };
        announce(&store, &alice, u8::try_from(n).expect("small"), n, kind, 0).await;
    }
    let held: BTreeSet<_> = claim(&store, "d", 10, 4).await.into_iter().collect();
    assert_eq!(held, BTreeSet::from([pair(&hook, 1), pair(&hook, 2), pair(&hook, 3), pair(&gone, 3)]));
    assert_eq!(claim(&store, "e", 10, 4).await, vec![pair(&hook, 4)]);
    assert_eq!(store.finish_deliveries("d", &[]).await.expect("no attempts"), Vec::<bool>::new());

    // The delivery postponed in the round had an attempt before it: that attempt's status stays.
    let answered =
        || AttemptOutcome::Retry { status: Some(503), error: "the receiver answered 503".into(), next_at: at(20) };
    assert!(finish(&store, &hook, 3, "d", answered()).await);
    assert_eq!(claim(&store, "d", 20, 10).await, vec![pair(&hook, 3)]);

    let retry = AttemptOutcome::Retry { status: Some(500), error: "the receiver answered 500".into(), next_at: at(30) };
    let round = [
        attempted(&hook, 1, delivered(11)),
        attempted(&hook, 4, AttemptOutcome::Gone { at: at(11) }),
        attempted(&hook, 2, retry),
        attempted(&gone, 3, AttemptOutcome::Gone { at: at(11) }),
        attempted(&hook, 1, delivered(12)),
        attempted(&hook, 3, AttemptOutcome::Postponed { next_at: at(40) }),
        attempted(&hook, 99, delivered(11)),
    ];
    let written = store.finish_deliveries("d", &round).await.expect("finish a round");
    assert_eq!(written, [true, false, true, true, false, true, false]);

    let seen = |d: Delivery| (d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at);
    let error = |e: &str| Some(e.to_owned());
    assert_eq!(seen(delivery(&store, &hook, 1).await), (DeliveryState::Delivered, 1, Some(200), None, None));
    assert_eq!(
        seen(delivery(&store, &hook, 2).await),
        (DeliveryState::Pending, 1, Some(500), error("the receiver answered 500"), Some(at(30)))
    );
    assert_eq!(
        seen(delivery(&store, &hook, 3).await),
        (DeliveryState::Pending, 1, Some(503), error("the receiver answered 503"), Some(at(40))),
        "a postponement counts no attempt and keeps the last one's status"
    );
    assert_eq!(
        seen(delivery(&store, &gone, 3).await),
        (DeliveryState::Failed, 1, Some(410), error(AttemptOutcome::GONE_REASON), None)
    );
    assert_eq!(seen(delivery(&store, &hook, 4).await), (DeliveryState::Pending, 0, None, None, Some(at(0))), "e's");
    let disabled = store.webhook(&gone.tenant, &gone.id).await.expect("webhook").expect("still there");
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some(AttemptOutcome::GONE_REASON),
        "a 410 in a round disables its endpoint"
    );
    let kept = store.webhook(&hook.tenant, &hook.id).await.expect("webhook").expect("still there");
    assert!(kept.enabled && kept.disabled_reason.is_none(), "a 410 on a delivery d does not hold disables nothing");
    assert!(finish(&store, &hook, 4, "e", delivered(13)).await, "e still holds its own");
}

/// A `410 Gone` fails the delivery with that status and disables its endpoint, whose pending
/// deliveries are no longer claimed and which is queued no new ones; other endpoints go on.
pub async fn a_gone_answer_fails_the_delivery_and_disables_its_endpoint<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let (gone, other) = (fixtures::webhook(1, "acme", None), fixtures::webhook(2, "acme", None));
    store.insert_webhook(&gone).await.expect("insert webhook");
    store.insert_webhook(&other).await.expect("insert webhook");
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    announce(&store, &alice, 2, 2, EventType::Connected, 0).await;
    assert_eq!(claim(&store, "d", 10, 10).await.len(), 4);

    assert!(finish(&store, &gone, 1, "d", AttemptOutcome::Gone { at: at(11) }).await);
    let failed = delivery(&store, &gone, 1).await;
    assert_eq!((failed.state, failed.attempts, failed.last_status), (DeliveryState::Failed, 1, Some(410)));
    assert_eq!(failed.last_error.as_deref(), Some(AttemptOutcome::GONE_REASON));
    let disabled = store.webhook(&gone.tenant, &gone.id).await.expect("webhook").expect("still there");
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some(AttemptOutcome::GONE_REASON));

    let retry = AttemptOutcome::Retry { status: None, error: "unreachable".into(), next_at: at(20) };
    assert!(finish(&store, &gone, 2, "d", retry).await);
    assert!(finish(&store, &other, 1, "d", delivered(12)).await);
    assert!(finish(&store, &other, 2, "d", delivered(12)).await);
    assert_eq!(claim(&store, "d", 100, 10).await, vec![], "a disabled endpoint's deliveries wait");
    announce(&store, &alice, 3, 3, EventType::Expired, 100).await;
    assert_eq!(claim(&store, "d", 100, 10).await, vec![pair(&other, 3)], "none is queued for it");
}

/// A settled delivery of the tenant's endpoint is made pending again on request, due now and
/// retried for as long from now, its attempts kept; a pending one, another tenant's or an
/// unknown one is not.
pub async fn a_settled_delivery_is_retried_on_request_and_no_other<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    announce(&store, &alice, 2, 2, EventType::Connected, 0).await;
    announce(&store, &alice, 3, 3, EventType::Connected, 0).await;
    assert_eq!(claim(&store, "d", 10, 2).await.len(), 2);
    let failed = AttemptOutcome::Failed { status: Some(500), error: "500".into(), at: at(11) };
    assert!(finish(&store, &hook, 1, "d", failed).await);
    assert!(finish(&store, &hook, 2, "d", delivered(11)).await);

    let retry = |tenant: &str, n| {
        let tenant = fixtures::tenant(tenant);
        let store = store.clone();
        let id = hook.id.clone();
        async move { store.retry_delivery(&tenant, &id, &fixtures::event_id(n), at(500)).await.expect("retry") }
    };
    assert!(!retry("globex", 1).await, "another tenant's endpoint");
    assert!(!retry("acme", 3).await, "a pending one");
    assert!(!retry("acme", 9).await, "an unknown event");
    assert!(retry("acme", 1).await);
    assert!(retry("acme", 2).await, "a delivered one too");
    assert!(!retry("acme", 1).await, "pending again by now");
    let again = delivery(&store, &hook, 1).await;
    assert_eq!(
        (again.state, again.attempts, again.next_attempt_at, again.retry_from),
        (DeliveryState::Pending, 1, Some(at(500)), at(500))
    );
    assert_eq!(claim(&store, "e", 500, 10).await, vec![pair(&hook, 1), pair(&hook, 2), pair(&hook, 3)]);
}

/// An endpoint's deliveries come in pages, newest event first, before a cursor; only its own,
/// and only to its tenant.
pub async fn deliveries_are_paged_newest_first_for_the_endpoints_tenant_only<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    let mine_too = fixtures::webhook(2, "acme", Some(vec![EventType::Expired]));
    store.insert_webhook(&hook).await.expect("insert webhook");
    store.insert_webhook(&mine_too).await.expect("insert webhook");
    for n in 0..7u32 {
        announce(&store, &alice, 1, n, EventType::Connected, i64::from(n)).await;
    }
    announce(&store, &alice, 1, 7, EventType::Expired, 7).await;

    let (mut paged, mut before) = (Vec::new(), None);
    loop {
        let page = store.deliveries(&hook.tenant, &hook.id, before, 3).await.expect("deliveries");
        assert!(page.len() <= 3, "at most the limit");
        let Some(last) = page.last() else { break };
        before = Some(last.event.seq);
        paged.extend(page.into_iter().map(|d| d.event.id));
    }
    assert_eq!(paged, (0..8).rev().map(fixtures::event_id).collect::<Vec<_>>());
    assert_eq!(delivered_events(&store, &mine_too).await, vec![fixtures::event_id(7)]);
    let globex = fixtures::tenant("globex");
    assert_eq!(store.deliveries(&globex, &hook.id, None, 100).await.expect("deliveries"), vec![]);
}

/// Pruning deletes up to its limit of the events recorded before its cutoff whose deliveries are
/// all settled (or that have none), oldest first; an event with a pending delivery stays.
pub async fn pruning_deletes_old_settled_events_and_keeps_those_with_pending_deliveries<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    announce(&store, &alice, 1, 1, EventType::Connected, 0).await;
    announce(&store, &alice, 2, 2, EventType::Connected, 1).await;
    announce(&store, &alice, 3, 3, EventType::Connected, 2).await;
    announce(&store, &fixtures::owner("globex", "bob"), 1, 4, EventType::Connected, 3).await;
    announce(&store, &alice, 4, 5, EventType::Connected, 100).await;
    assert_eq!(claim(&store, "d", 10, 2).await.len(), 2);
    assert!(finish(&store, &hook, 1, "d", delivered(11)).await);
    let failed = AttemptOutcome::Failed { status: None, error: "refused".into(), at: at(11) };
    assert!(finish(&store, &hook, 2, "d", failed).await);

    assert_eq!(store.prune_events(at(50), 2).await.expect("prune"), 2, "the limit");
    assert_eq!(store.prune_events(at(50), 10).await.expect("prune"), 1, "globex's, which had no delivery");
    assert_eq!(store.prune_events(at(50), 10).await.expect("prune"), 0, "3 waits for its delivery");
    let left = settled(&store, &alice.tenant, 2).await;
    assert_eq!(
        left.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        vec![fixtures::event_id(3), fixtures::event_id(5)]
    );
    assert_eq!(delivered_events(&store, &hook).await, vec![fixtures::event_id(5), fixtures::event_id(3)]);
    assert_eq!(feed(&store, &fixtures::tenant("globex"), None, 100).await, vec![]);
}
