//! Lifecycle events (`EventStore`): each is written by the very write that records the audit
//! event announcing it, and the feed lists a tenant's (or one user's) in order after a cursor.

use domain::{ConnectionStatus, EventType, Owner, Scopes, TenantId, UserId};
use ports::{
    AuditEvent, AuditKind, Delivery, DeliveryState, EventQuery, FeedPosition, LifecycleEvent, SecretsUpdate,
    StoredSecrets,
};

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// Every event of `tenant` (`user`'s only when named) after `after`, with its position.
pub(crate) async fn positioned<S: ContractStore>(
    store: &S,
    tenant: &TenantId,
    user: Option<&UserId>,
    after: FeedPosition,
    limit: u32,
) -> Vec<(FeedPosition, LifecycleEvent)> {
    let query = EventQuery { tenant: tenant.clone(), user: user.cloned(), after, limit };
    let listed = store.events_after(&query).await.expect("events after");
    assert!(listed.windows(2).all(|w| w[0].0 < w[1].0), "in feed order: {listed:?}");
    assert!(listed.iter().all(|(p, _)| *p > after), "after the cursor: {listed:?}");
    listed
}

/// Every event of `tenant` (`user`'s only when named) from the first, at most `limit`.
pub(crate) async fn feed<S: ContractStore>(
    store: &S,
    tenant: &TenantId,
    user: Option<&UserId>,
    limit: u32,
) -> Vec<LifecycleEvent> {
    positioned(store, tenant, user, FeedPosition::default(), limit).await.into_iter().map(|(_, e)| e).collect()
}

/// Waits until `tenant`'s whole feed lists `count` events, and returns it. A store whose writers
/// commit concurrently lists an event only once no transaction that could precede it still runs
/// (on PostgreSQL, any of the cluster's: other databases' tests too), so the feed may lag behind
/// the writes for a while; once listed, an event stays listed and in place. The bound only keeps
/// a broken store from hanging the suite.
pub(crate) async fn settled<S: ContractStore>(store: &S, tenant: &TenantId, count: usize) -> Vec<LifecycleEvent> {
    for _ in 0..3_000 {
        let listed = feed(store, tenant, None, 1_000).await;
        if listed.len() >= count {
            return listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{tenant:?}'s feed never listed {count} events");
}

/// `owner`'s audit event of connection `ref_n` announcing the `n`-th event, a `kind`, at `T0 + at`.
pub(crate) fn announced(owner: &Owner, ref_n: u8, n: u32, kind: EventType, at: i64) -> AuditEvent {
    let event = fixtures::event(&fixtures::ref_id(ref_n), AuditKind::Connected, None, T0.plus_seconds(at));
    fixtures::announcing(fixtures::event_of(owner, event), fixtures::notice(n, kind))
}

/// Records `owner`'s announcing audit event (see [`announced`]) and returns it.
pub(crate) async fn announce<S: ContractStore>(
    store: &S,
    owner: &Owner,
    ref_n: u8,
    n: u32,
    kind: EventType,
    at: i64,
) -> AuditEvent {
    let event = announced(owner, ref_n, n, kind, at);
    store.record(&event).await.expect("record");
    event
}

fn assert_in_seq_order(events: &[LifecycleEvent]) {
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "in seq order: {events:?}");
}

/// An insert with several audit events, an update, `record` and a delete each write the
/// notices of their audit events as events (the ones without a notice write none), in their
/// order, each with a pending delivery to the tenant's endpoint, due at once.
pub async fn every_connection_write_and_recorded_event_writes_its_notice_as_an_event<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    let mut connection = fixtures::owned_by(&alice, fixtures::pending_connection(1, T0));
    let ref_id = connection.ref_id.clone();
    let of = |kind, at| fixtures::event_of(&alice, fixtures::event(&ref_id, kind, None, T0.plus_seconds(at)));
    let created = fixtures::announcing(of(AuditKind::Created, 0), fixtures::notice(1, EventType::Failed));
    let silent = of(AuditKind::Reauthorized, 0);
    let asked =
        fixtures::announcing(of(AuditKind::Reauthorized, 1), fixtures::notice(2, EventType::ReauthorizationRequired));
    let written = [created.clone(), silent, asked.clone()];
    store.insert(&connection, &StoredSecrets::default(), None, &written).await.expect("insert");

    connection.complete_authorization(Scopes::parse_delimited("read").expect("scopes"), None, T0).expect("complete");
    let connected = fixtures::announcing(of(AuditKind::Connected, 2), fixtures::notice(3, EventType::Connected));
    let tokens = SecretsUpdate::Tokens { access_token: fixtures::sealed("a"), refresh_token: None };
    assert!(store.update(&connection, ConnectionStatus::PendingOAuth, &tokens, &connected).await.expect("update"));
    let failing = fixtures::announcing(of(AuditKind::RefreshFailed, 3), fixtures::notice(4, EventType::RefreshFailing));
    store.record(&failing).await.expect("record");
    let gone = fixtures::announcing(of(AuditKind::Disconnected, 4), fixtures::notice(5, EventType::Disconnected));
    assert!(store.delete(&alice, &ref_id, &gone).await.expect("delete").is_some());

    let expected: Vec<LifecycleEvent> =
        [created, asked, connected, failing, gone].iter().map(fixtures::lifecycle).collect();
    // Deliveries are rows like any other (the feed may lag, see `settled`): checked first.
    let deliveries = store.deliveries(&alice.tenant, &hook.id, None, 100).await.expect("deliveries");
    let delivered: Vec<_> = deliveries.iter().map(|d| d.event.id.clone()).collect();
    assert_eq!(delivered, expected.iter().rev().map(|e| e.id.clone()).collect::<Vec<_>>(), "one per event");
    let events = settled(&store, &alice.tenant, expected.len()).await;
    assert_in_seq_order(&events);
    assert_eq!(fixtures::unnumbered(&events), expected);
    let queued: Vec<Delivery> = events
        .iter()
        .rev()
        .map(|event| Delivery {
            webhook_id: hook.id.clone(),
            event: event.clone(),
            state: DeliveryState::Pending,
            attempts: 0,
            last_status: None,
            last_error: None,
            next_attempt_at: Some(event.at),
            retry_from: event.at,
        })
        .collect();
    assert_eq!(deliveries, queued, "one pending delivery per event, due at its time");
}

/// A write the store refuses (an update from a stale status, a delete of a connection that is
/// not there, a duplicate insert) writes no event and queues no delivery.
pub async fn a_refused_write_writes_no_event_and_queues_no_delivery<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let hook = fixtures::webhook(1, "acme", None);
    store.insert_webhook(&hook).await.expect("insert webhook");
    let mut connection = fixtures::owned_by(&alice, fixtures::connected_oauth_connection(1));
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");

    let duplicate = [announced(&alice, 1, 1, EventType::Connected, 0)];
    let refused = store.insert(&connection, &StoredSecrets::default(), None, &duplicate).await;
    assert!(matches!(refused, Err(ports::StoreError::Conflict(_))), "{refused:?}");
    connection.expire("invalid_grant", T0).expect("expires");
    let expired = announced(&alice, 1, 2, EventType::Expired, 1);
    let stale = store.update(&connection, ConnectionStatus::PendingOAuth, &SecretsUpdate::Keep, &expired).await;
    assert!(!stale.expect("update"), "the status is not the expected one");
    let absent = announced(&alice, 2, 3, EventType::Disconnected, 2);
    assert_eq!(store.delete(&alice, &fixtures::ref_id(2), &absent).await.expect("delete"), None);

    assert_eq!(feed(&store, &alice.tenant, None, 100).await, vec![]);
    assert_eq!(store.deliveries(&alice.tenant, &hook.id, None, 100).await.expect("deliveries"), vec![]);
}

/// An audit event without a notice, recorded alone or with a write, writes no event.
pub async fn an_audit_event_without_a_notice_writes_no_event<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    store.insert_webhook(&fixtures::webhook(1, "acme", None)).await.expect("insert webhook");
    let connection = fixtures::owned_by(&alice, fixtures::bare_connection(1));
    let created = fixtures::event_of(&alice, fixtures::event(&connection.ref_id, AuditKind::Created, None, T0));
    store.insert(&connection, &StoredSecrets::default(), None, std::slice::from_ref(&created)).await.expect("insert");
    store.record(&created).await.expect("record");
    assert_eq!(feed(&store, &alice.tenant, None, 100).await, vec![]);

    let announced = announce(&store, &alice, 1, 1, EventType::Connected, 1).await;
    let events = settled(&store, &alice.tenant, 1).await;
    assert_eq!(fixtures::unnumbered(&events), vec![fixtures::lifecycle(&announced)]);
}

/// Pages after a cursor cover a tenant's events once, in order; a user's feed holds only theirs;
/// no feed holds another tenant's.
pub async fn the_feed_lists_a_tenants_events_in_order_after_its_cursor<S: ContractStore>(store: S) {
    let owners = [fixtures::owner("acme", "alice"), fixtures::owner("acme", "bob"), fixtures::owner("globex", "alice")];
    let mut recorded: Vec<AuditEvent> = Vec::new();
    for n in 0..12u32 {
        let owner = &owners[n as usize % 3];
        let ref_n = u8::try_from(n % 4).expect("small");
        recorded.push(announce(&store, owner, ref_n, n, EventType::ALL[n as usize % 8], i64::from(n)).await);
    }
    let of = |keep: &dyn Fn(&Owner) -> bool| -> Vec<LifecycleEvent> {
        recorded.iter().filter(|e| keep(&e.owner)).map(fixtures::lifecycle).collect()
    };
    let acme = owners[0].tenant.clone();
    settled(&store, &acme, 8).await;
    settled(&store, &owners[2].tenant, 4).await;

    let (mut paged, mut after) = (Vec::new(), FeedPosition::default());
    loop {
        let page = positioned(&store, &acme, None, after, 3).await;
        assert!(page.len() <= 3, "at most the limit");
        let Some((last, _)) = page.last() else { break };
        after = *last;
        paged.extend(page.into_iter().map(|(_, e)| e));
    }
    assert_in_seq_order(&paged);
    assert_eq!(fixtures::unnumbered(&paged), of(&|o| o.tenant == acme), "every acme event once, in order");
    assert_eq!(positioned(&store, &acme, None, after, 3).await, vec![], "nothing after the newest");

    let alices = feed(&store, &acme, Some(&owners[0].user), 100).await;
    assert_eq!(fixtures::unnumbered(&alices), of(&|o| o == &owners[0]), "only Alice's of acme");
    let globex = feed(&store, &owners[2].tenant, None, 100).await;
    assert_eq!(fixtures::unnumbered(&globex), of(&|o| o == &owners[2]), "only globex's");
    let nobody = fixtures::tenant("initech");
    assert_eq!(feed(&store, &nobody, None, 100).await, vec![]);
}

/// Random owners (users that share ids across tenants) record random events; random feed reads
/// (tenant, perhaps a user, a cursor, a limit) list exactly what a model of the contract lists.
pub async fn random_feed_reads_never_reach_another_tenants_or_users_events<S: ContractStore>(store: S) {
    let owners: Vec<Owner> =
        ["acme", "globex"].iter().flat_map(|t| ["alice", "bob", "default"].map(|u| fixtures::owner(t, u))).collect();
    let mut rng = fixtures::Rng(0xFEED_0F0A_110C_E5E5);
    let mut recorded = Vec::new();
    for n in 0..40u32 {
        let owner = &owners[rng.below(owners.len())];
        let kind = EventType::ALL[rng.below(EventType::ALL.len())];
        recorded.push(announce(&store, owner, u8::try_from(rng.below(5)).expect("small"), n, kind, i64::from(n)).await);
    }
    // The model: each tenant's whole feed, which must be exactly its recorded events.
    let mut model: Vec<(FeedPosition, LifecycleEvent)> = Vec::new();
    for tenant in ["acme", "globex"].map(fixtures::tenant) {
        let theirs: Vec<LifecycleEvent> =
            recorded.iter().filter(|e| e.owner.tenant == tenant).map(fixtures::lifecycle).collect();
        let listed = settled(&store, &tenant, theirs.len()).await;
        assert_eq!(fixtures::unnumbered(&listed), theirs, "{tenant:?}");
        model.extend(positioned(&store, &tenant, None, FeedPosition::default(), 1_000).await);
    }
    model.sort_by_key(|(position, _)| *position);
    for _ in 0..200 {
        let prober = &owners[rng.below(owners.len())];
        let user = (rng.below(2) == 0).then_some(&prober.user);
        let after = if rng.below(3) == 0 { FeedPosition::default() } else { model[rng.below(model.len())].0 };
        let limit = u32::try_from(1 + rng.below(12)).expect("small");
        let expected: Vec<(FeedPosition, LifecycleEvent)> = model
            .iter()
            .filter(|(p, e)| e.owner.tenant == prober.tenant && user.is_none_or(|u| &e.owner.user == u) && *p > after)
            .take(limit as usize)
            .cloned()
            .collect();
        let listed = positioned(&store, &prober.tenant, user, after, limit).await;
        assert_eq!(listed, expected, "{prober:?} {user:?} {after:?}");
    }
}
