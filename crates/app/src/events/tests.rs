//! The dispatcher's judgement of each answer, its backoff and breaker, its signing secrets (the
//! rules of the webhook endpoints are in `webhook_tests`). (Event writing and delivery end to end
//! are proven by the store contract and the server's black-box tests.)

use std::sync::{Arc, Mutex};

use domain::{ConnectionStatus, EventId, EventType, Owner, ReasonCode, RefId, ServerName, Standing, WebhookId};
use ports::{AttemptOutcome, Delivery, DeliveryState, DueDelivery, LifecycleEvent, Sealed, SendError};
use secrecy::ExposeSecret;

use super::{Dispatcher, payload::EventPayload, rfc3339};
use crate::test_support::{Mocks, NOW};

fn webhook_id() -> WebhookId {
    WebhookId::from_random([3; 16])
}

fn event(n: u8) -> LifecycleEvent {
    LifecycleEvent {
        seq: i64::from(n),
        id: EventId::from_random([n; 16]),
        kind: EventType::Expired,
        at: NOW,
        ref_id: RefId::from_random([n; 16]),
        server_name: ServerName::parse("linear").unwrap(),
        owner: Owner::default_owner(),
        standing: Standing::Status(ConnectionStatus::Expired),
        previous: Some(Standing::Status(ConnectionStatus::Connected)),
        reason: ReasonCode::InvalidGrant,
    }
}

fn sealed(field: &str, secret: &str) -> Sealed {
    Sealed(format!("webhooks/{}/{field}|{secret}", webhook_id()).into_bytes())
}

fn due(attempts: u32, previous: Option<(Sealed, domain::Timestamp)>) -> DueDelivery {
    DueDelivery {
        delivery: Delivery {
            webhook_id: webhook_id(),
            event: event(1),
            state: DeliveryState::Pending,
            attempts,
            last_status: None,
            last_error: None,
            next_attempt_at: Some(NOW),
            retry_from: NOW,
        },
        url: "https://receiver.example/hooks".into(),
        secret: sealed("secret", "whsec_current"),
        previous_secret: previous,
    }
}

/// Mocks whose store hands out `claimed` once and records every finish; the sender answers with
/// `answer` and records the secrets each message was signed with.
struct Round {
    finished: Arc<Mutex<Vec<AttemptOutcome>>>,
    /// The store writes that recorded them.
    writes: Arc<Mutex<usize>>,
    signed_with: Arc<Mutex<Vec<Vec<String>>>>,
}

fn mocks_for(claimed: Vec<DueDelivery>, answer: fn() -> Result<u16, SendError>) -> (Mocks, Round) {
    let mut mocks = Mocks::new();
    let round = Round { finished: Arc::default(), writes: Arc::default(), signed_with: Arc::default() };
    let claims = Mutex::new(Some(claimed));
    mocks
        .events
        .expect_claim_deliveries()
        .returning(move |_, _, _, _| Ok(claims.lock().unwrap().take().unwrap_or_default()));
    let (finished, writes) = (Arc::clone(&round.finished), Arc::clone(&round.writes));
    mocks.events.expect_finish_deliveries().returning(move |_, attempts| {
        *writes.lock().unwrap() += 1;
        finished.lock().unwrap().extend(attempts.iter().map(|a| a.outcome.clone()));
        Ok(vec![true; attempts.len()])
    });
    let signed_with = Arc::clone(&round.signed_with);
    mocks.webhooks.expect_send().returning(move |message| {
        signed_with.lock().unwrap().push(message.secrets.iter().map(|s| s.expose_secret().to_owned()).collect());
        answer()
    });
    (mocks, round)
}

async fn one_round(claimed: Vec<DueDelivery>, answer: fn() -> Result<u16, SendError>) -> (Vec<AttemptOutcome>, Round) {
    let (mocks, round) = mocks_for(claimed, answer);
    Dispatcher::new(mocks.directory()).round().await.expect("round");
    let finished = round.finished.lock().unwrap().clone();
    (finished, round)
}

#[tokio::test]
async fn a_2xx_answer_is_a_delivery() {
    let (finished, _) = one_round(vec![due(0, None)], || Ok(204)).await;
    assert_eq!(finished, vec![AttemptOutcome::Delivered { status: 204, at: NOW }]);
}

#[tokio::test]
async fn a_round_records_every_outcome_in_one_store_write() {
    let claimed: Vec<_> = (1..=3)
        .map(|n| DueDelivery { delivery: Delivery { event: event(n), ..due(0, None).delivery }, ..due(0, None) })
        .collect();
    let (finished, round) = one_round(claimed, || Ok(200)).await;
    assert_eq!(finished.len(), 3, "{finished:?}");
    assert_eq!(*round.writes.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_5xx_429_or_timeout_is_retried_after_a_backoff_that_grows_with_the_attempts() {
    for answer in [|| Ok(503), || Ok(429), || Err(SendError::Timeout)] as [fn() -> Result<u16, SendError>; 3] {
        let (first, _) = one_round(vec![due(0, None)], answer).await;
        let (later, _) = one_round(vec![due(6, None)], answer).await;
        let wait = |outcome: &[AttemptOutcome]| match outcome {
            [AttemptOutcome::Retry { next_at, .. }] => NOW.seconds_until(*next_at),
            other => panic!("not a retry: {other:?}"),
        };
        // Base 5 s: the first retry within 2..=5 s (the upper half of 5 s, from its whole-second
        // half), the seventh within 160..=320 s.
        assert!((2..=5).contains(&wait(&first)), "{first:?}");
        assert!((160..=320).contains(&wait(&later)), "{later:?}");
    }
}

#[tokio::test]
async fn a_delivery_is_failed_once_its_retry_time_is_spent() {
    let mut old = due(12, None);
    old.delivery.retry_from = NOW.plus_seconds(-24 * 3600 + 60);
    let (finished, _) = one_round(vec![old], || Ok(500)).await;
    assert!(
        matches!(&finished[..], [AttemptOutcome::Failed { status: Some(500), error, .. }] if error.contains("given up")),
        "{finished:?}"
    );
}

#[tokio::test]
async fn a_410_is_gone_and_any_other_4xx_fails_without_retrying() {
    let (gone, _) = one_round(vec![due(0, None)], || Ok(410)).await;
    assert_eq!(gone, vec![AttemptOutcome::Gone { at: NOW }]);
    let (refused, _) = one_round(vec![due(0, None)], || Ok(400)).await;
    assert!(matches!(&refused[..], [AttemptOutcome::Failed { status: Some(400), .. }]), "{refused:?}");
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_opens_its_breaker_and_waits_without_being_called() {
    let threshold = 5;
    let claimed: Vec<_> = (0..threshold).map(|_| due(0, None)).collect();
    let (mocks, round) = mocks_for(claimed, || Err(SendError::Unreachable("refused".into())));
    let dispatcher = Dispatcher::new(mocks.directory());
    dispatcher.round().await.expect("failing round");
    assert_eq!(round.signed_with.lock().unwrap().len(), threshold);
    // The store hands out nothing more; a further delivery to the same endpoint is postponed.
    let sent_before = round.signed_with.lock().unwrap().len();
    let postponed = super::dispatcher::tests_support::attempt_now(&dispatcher, due(0, None)).await;
    assert!(matches!(postponed, AttemptOutcome::Postponed { next_at } if next_at > NOW), "{postponed:?}");
    assert_eq!(round.signed_with.lock().unwrap().len(), sent_before, "the open breaker called the endpoint");
}

#[tokio::test]
async fn a_rotated_out_secret_signs_too_until_its_overlap_ends() {
    let during = due(0, Some((sealed("previous_secret", "whsec_previous"), NOW.plus_seconds(60))));
    let after = due(0, Some((sealed("previous_secret", "whsec_previous"), NOW.plus_seconds(-1))));
    let (_, round) = one_round(vec![during], || Ok(200)).await;
    assert_eq!(round.signed_with.lock().unwrap()[0], ["whsec_current", "whsec_previous"]);
    let (_, round) = one_round(vec![after], || Ok(200)).await;
    assert_eq!(round.signed_with.lock().unwrap()[0], ["whsec_current"]);
}

#[test]
fn the_payload_has_the_documented_fields_and_no_secret() {
    let json: serde_json::Value = serde_json::from_slice(&EventPayload::from(&event(1)).body()).unwrap();
    assert_eq!(json["type"], "connection.expired");
    assert_eq!(json["id"], event(1).id.as_str());
    assert_eq!(json["created_at"], rfc3339(NOW));
    let data = json["data"].as_object().unwrap();
    let keys: Vec<_> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["previous_status", "reason_code", "ref_id", "server_name", "status", "user_id"]);
    assert_eq!(data["reason_code"], "invalid_grant");
    assert_eq!(data["previous_status"], "connected");
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339(domain::Timestamp::from_unix(1_780_000_000)), "2026-05-28T20:26:40Z");
}

/// With `WEBHOOK_CONCURRENCY` 4 one endpoint may have 2 sends under way; a claim of 6 to it sends
/// every one, 2 at a time: the rest wait in the replica for their endpoint's room rather than
/// being put back for a later claim (which halved a lone endpoint's throughput).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_over_an_endpoints_share_wait_for_its_room_instead_of_being_put_back() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let claimed: Vec<_> = (1..=6)
        .map(|n| DueDelivery { delivery: Delivery { event: event(n), ..due(0, None).delivery }, ..due(0, None) })
        .collect();
    let (mut mocks, round) = mocks_for(claimed, || Ok(200));
    mocks.event_settings.batch = 4;
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (under_way, widest) = (Arc::clone(&now), Arc::clone(&most));
    mocks.webhooks = ports::mocks::MockWebhookSender::new();
    mocks.webhooks.expect_send().returning(move |_| {
        let sending = under_way.fetch_add(1, Ordering::SeqCst) + 1;
        widest.fetch_max(sending, Ordering::SeqCst);
        // Blocking on purpose: the sends overlap on the runtime's four threads.
        std::thread::sleep(std::time::Duration::from_millis(40));
        under_way.fetch_sub(1, Ordering::SeqCst);
        Ok(200)
    });
    let report = Dispatcher::new(mocks.directory()).round().await.expect("round");
    assert_eq!((report.claimed, report.delivered, report.postponed), (6, 6, 0), "{report:?}");
    assert_eq!(round.finished.lock().unwrap().len(), 6);
    assert!(most.load(Ordering::SeqCst) <= 2, "{} sends to one endpoint at once", most.load(Ordering::SeqCst));
}

/// The running dispatcher holds a delivery from its claim to its record: with a database slow
/// to record, it claims no more than `WEBHOOK_CONCURRENCY` ahead of what is recorded, so a
/// record never grows past that (one of 31,072 outcomes outran the store's bound and every one of
/// them was sent again), and every delivery is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_never_holds_more_than_the_slots_however_slow_the_database_is() {
    use std::sync::atomic::{AtomicU32, Ordering};
    const TOTAL: u32 = 400;
    let mut mocks = Mocks::new();
    mocks.event_settings.batch = 16;
    mocks.event_settings.poll_interval = std::time::Duration::from_millis(5);
    let claimed = Arc::new(AtomicU32::new(0));
    mocks.events.expect_claim_deliveries().returning(move |_, _, _, limit| {
        let from = claimed.fetch_add(limit, Ordering::SeqCst).min(TOTAL);
        let to = (from + limit).min(TOTAL);
        Ok((from..to)
            .map(|n| {
                let mut id = [0; 16];
                id[..4].copy_from_slice(&n.to_be_bytes());
                let event = LifecycleEvent { id: EventId::from_random(id), seq: i64::from(n), ..event(1) };
                DueDelivery { delivery: Delivery { event, ..due(0, None).delivery }, ..due(0, None) }
            })
            .collect())
    });
    let (batches, recorded) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let (sizes, ids) = (Arc::clone(&batches), Arc::clone(&recorded));
    mocks.events.expect_finish_deliveries().returning(move |_, attempts| {
        // A slow database: the sends (answered at once) outrun it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        sizes.lock().unwrap().push(attempts.len());
        ids.lock().unwrap().extend(attempts.iter().map(|a| a.event.clone()));
        Ok(vec![true; attempts.len()])
    });
    mocks.events.expect_prune_events().returning(|_, _| Ok(0));
    mocks.webhooks.expect_send().returning(|_| Ok(200));
    let running = tokio::spawn(Dispatcher::new(mocks.directory()).run());
    for _ in 0..500 {
        if recorded.lock().unwrap().len() >= TOTAL as usize {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    running.abort();
    let mut ids = recorded.lock().unwrap().clone();
    let sizes = batches.lock().unwrap().clone();
    assert!(sizes.iter().all(|n| *n <= 16), "records of {sizes:?}");
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.dedup();
    assert_eq!(ids.len(), TOTAL as usize, "every delivery recorded once");
}

/// A claim's lease runs from before its query: deliveries whose claim took longer than they may
/// be held (half a lease of 2 s here) are put back unsent, never sent late in their lease (or
/// after it, when another replica may have claimed them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_of_a_claim_that_took_too_long_are_put_back_unsent() {
    let claimed: Vec<_> = (1..=3)
        .map(|n| DueDelivery { delivery: Delivery { event: event(n), ..due(0, None).delivery }, ..due(0, None) })
        .collect();
    let (mut mocks, round) = mocks_for(Vec::new(), || Ok(200));
    mocks.event_settings.lease_seconds = 2;
    let claims = Mutex::new(Some(claimed));
    mocks.events = ports::mocks::MockEventStore::new();
    mocks.events.expect_claim_deliveries().returning(move |_, _, _, _| {
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        Ok(claims.lock().unwrap().take().unwrap_or_default())
    });
    let finished = Arc::clone(&round.finished);
    mocks.events.expect_finish_deliveries().returning(move |_, attempts| {
        finished.lock().unwrap().extend(attempts.iter().map(|a| a.outcome.clone()));
        Ok(vec![true; attempts.len()])
    });
    let report = Dispatcher::new(mocks.directory()).round().await.expect("round");
    assert_eq!((report.claimed, report.postponed, report.delivered), (3, 3, 0), "{report:?}");
    assert!(round.signed_with.lock().unwrap().is_empty(), "nothing was sent");
}

/// The claim and the record run on the runtime they are given, not on the dispatcher's own
/// (whose thread yields the CPU): a store connection they open is driven there.
#[tokio::test]
async fn the_claim_and_the_record_run_on_the_store_runtime_they_are_given() {
    let store = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("store-rt")
        .enable_all()
        .build()
        .expect("runtime");
    let mut mocks = Mocks::new();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (claimed_on, recorded_on) = (Arc::clone(&threads), Arc::clone(&threads));
    let claims = Mutex::new(Some(vec![due(0, None)]));
    mocks.events.expect_claim_deliveries().returning(move |_, _, _, _| {
        claimed_on.lock().unwrap().push(std::thread::current().name().map(str::to_owned));
        Ok(claims.lock().unwrap().take().unwrap_or_default())
    });
    mocks.events.expect_finish_deliveries().returning(move |_, attempts| {
        recorded_on.lock().unwrap().push(std::thread::current().name().map(str::to_owned));
        Ok(vec![true; attempts.len()])
    });
    mocks.events.expect_prune_events().returning(|_, _| Ok(0));
    mocks.webhooks.expect_send().returning(|_| Ok(200));
    let dispatcher = Dispatcher::new(mocks.directory()).with_store_runtime(store.handle().clone());
    let running = tokio::spawn(dispatcher.run());
    for _ in 0..200 {
        if threads.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    running.abort();
    let threads = threads.lock().unwrap().clone();
    assert!(threads.len() >= 2, "a claim and a record: {threads:?}");
    assert!(threads.iter().all(|name| name.as_deref() == Some("store-rt")), "{threads:?}");
    store.shutdown_background();
}

/// Given a store of its own (a pool the dispatcher alone draws from), the dispatcher claims and
/// records through it; the directory's events port is not called (its mock expects nothing).
#[tokio::test]
async fn a_dispatcher_with_a_store_of_its_own_claims_and_records_through_it() {
    let (mut own, round) = mocks_for(vec![due(0, None)], || Ok(200));
    let mut mocks = Mocks::new();
    mocks.webhooks = std::mem::replace(&mut own.webhooks, ports::mocks::MockWebhookSender::new());
    let store = std::mem::replace(&mut own.events, ports::mocks::MockEventStore::new());
    let report = Dispatcher::new(mocks.directory()).with_events_store(store).round().await.expect("round");
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert_eq!(*round.writes.lock().unwrap(), 1, "recorded through its own store");
}
