//! Pages: an owner's connections a page at a time (keyset after the last row's
//! `(created_at, ref_id)`), filtered by server and status; a tenant's users with their counts;
//! and forgetting a user's flows. Another owner's rows never appear in any of them.

use domain::{Connection, ConnectionStatus, Owner, ServerName};
use ports::{ConnectionPosition, ConnectionQuery, StatusCounts, StoredSecrets, UserQuery, UserSummary};

use crate::ContractStore;
use crate::fixtures::{self, T0};

/// The query for the first page of `limit`, without filters.
fn first(limit: u32) -> ConnectionQuery {
    ConnectionQuery { after: None, limit, server_name: None, status: None }
}

/// Every page of `query` from the first, in order.
async fn every_page<S: ContractStore>(store: &S, owner: &Owner, mut query: ConnectionQuery) -> Vec<Vec<Connection>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list_page(owner, &query).await.expect("list page");
        let Some(last) = page.last() else { return pages };
        query.after = Some(ConnectionPosition { created_at: last.created_at, ref_id: last.ref_id.clone() });
        pages.push(page);
    }
}

/// Stores `n` as `owner`'s connection in `status` on server `server`, created at `T0 + at`.
async fn stored<S: ContractStore>(
    store: &S,
    owner: &Owner,
    n: u8,
    server: &str,
    status: ConnectionStatus,
    at: i64,
) -> Connection {
    let shape = fixtures::connection_with(n, status, domain::AuthMethod::OAuth, domain::Transport::StreamableHttp);
    let mut connection = fixtures::owned_by(owner, shape);
    connection.server_name = ServerName::parse(server).expect("a valid server name");
    connection.created_at = T0.plus_seconds(at);
    store.insert(&connection, &StoredSecrets::default(), None, &[]).await.expect("insert");
    connection
}

/// Pages of 3 cover each of Alice's 8 connections exactly once, in the order of `list` (ties
/// of `created_at` by ref id), whatever Bob and another tenant's Alice store meanwhile.
pub async fn pages_cover_every_connection_once_in_order<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    for (n, at) in [(9u8, 5), (3, 5), (1, 7), (7, 1), (5, 5), (2, 3), (8, 9), (4, 5)] {
        stored(&store, &alice, n, "linear", ConnectionStatus::Connected, at).await;
    }
    for (n, owner) in [(20u8, fixtures::owner("acme", "bob")), (21, fixtures::owner("globex", "alice"))] {
        stored(&store, &owner, n, "linear", ConnectionStatus::Connected, 5).await;
    }
    let all = store.list(&alice).await.expect("list");
    assert_eq!(all.len(), 8);

    let pages = every_page(&store, &alice, first(3)).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 2]);
    assert_eq!(pages.concat(), all, "every row once, in the listing's order");
    assert_eq!(store.list_page(&alice, &first(500)).await.expect("one page"), all);
    assert_eq!(every_page(&store, &fixtures::owner("acme", "carol"), first(3)).await, Vec::<Vec<Connection>>::new());
}

/// `server_name` and `status` keep only the matching connections, each alone and together, and
/// pages of a filtered query still cover each match once.
pub async fn pages_keep_only_the_server_and_status_asked_for<S: ContractStore>(store: S) {
    let alice = fixtures::owner("acme", "alice");
    let mut mine = Vec::new();
    for n in 0..10u8 {
        let server = if n % 2 == 0 { "linear" } else { "github" };
        let status = if n % 3 == 0 { ConnectionStatus::Failed } else { ConnectionStatus::Connected };
        mine.push(stored(&store, &alice, n, server, status, i64::from(n)).await);
    }
    stored(&store, &fixtures::owner("acme", "bob"), 30, "linear", ConnectionStatus::Failed, 0).await;
    let linear = ServerName::parse("linear").expect("valid");
    let cases = [
        (Some(linear.clone()), None),
        (None, Some(ConnectionStatus::Failed)),
        (Some(linear.clone()), Some(ConnectionStatus::Failed)),
        (Some(linear), Some(ConnectionStatus::Expired)),
    ];
    for (server_name, status) in cases {
        let expected: Vec<Connection> = mine
            .iter()
            .filter(|c| server_name.as_ref().is_none_or(|s| &c.server_name == s))
            .filter(|c| status.is_none_or(|s| c.status() == s))
            .cloned()
            .collect();
        let query = ConnectionQuery { after: None, limit: 2, server_name: server_name.clone(), status };
        assert_eq!(every_page(&store, &alice, query).await.concat(), expected, "{server_name:?} {status:?}");
    }
}

/// A tenant's users, in byte order of their ids, each once across pages, with their
/// connections counted by status; another tenant's users (even one with the same id) never
/// appear nor count.
pub async fn a_tenants_users_are_listed_once_with_their_counts_by_status<S: ContractStore>(store: S) {
    let acme = domain::TenantId::parse("acme").expect("valid");
    let page_after = |after: Option<domain::UserId>| UserQuery { tenant: acme.clone(), after, limit: 3 };
    let (c, f) = (ConnectionStatus::Connected, ConnectionStatus::Failed);
    let owned: [(&str, &[ConnectionStatus]); 4] =
        [("bob", &[c]), ("alice", &[c, f, c]), ("Zed", &[f, f]), ("carol@example.com", &[c])];
    let mut n = 0u8;
    for (user, statuses) in owned {
        for status in statuses {
            stored(&store, &fixtures::owner("acme", user), n, "linear", *status, 0).await;
            n += 1;
        }
    }
    for user in ["alice", "dave"] {
        stored(&store, &fixtures::owner("globex", user), n, "linear", ConnectionStatus::Expired, 0).await;
        n += 1;
    }

    let mut seen: Vec<UserSummary> = Vec::new();
    let mut after = None;
    loop {
        let page = store.users(&page_after(after.clone())).await.expect("users");
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 3);
        after = Some(last.user.clone());
        seen.extend(page);
    }
    let ids: Vec<&str> = seen.iter().map(|u| u.user.as_str()).collect();
    assert_eq!(ids, vec!["Zed", "alice", "bob", "carol@example.com"], "byte order, each once, acme's only");
    let counts = |connected, failed| StatusCounts { connected, failed, ..StatusCounts::default() };
    let by_user: Vec<StatusCounts> = seen.iter().map(|u| u.connections).collect();
    assert_eq!(by_user, vec![counts(0, 2), counts(2, 1), counts(1, 0), counts(1, 0)]);
    let nobody = UserQuery { tenant: domain::TenantId::parse("initech").expect("valid"), after: None, limit: 3 };
    assert_eq!(store.users(&nobody).await.expect("users"), vec![]);
}

/// Deleting an owner's flows deletes exactly those (and says how many), not their connections
/// nor another owner's flows.
pub async fn deleting_an_owners_flows_leaves_connections_and_other_owners_flows<S: ContractStore>(store: S) {
    let [alice, bob] = [fixtures::owner("acme", "alice"), fixtures::owner("acme", "bob")];
    let mut bobs_flow = None;
    for (n, owner) in [(1u8, &alice), (2, &alice), (3, &bob)] {
        let connection = fixtures::owned_by(owner, fixtures::pending_connection(n, T0));
        let flow = fixtures::bare_flow(&fixtures::state_hash(n.into()), &connection.ref_id, T0.plus_seconds(600));
        store.insert(&connection, &StoredSecrets::default(), Some(flow.clone()), &[]).await.expect("insert");
        bobs_flow = Some(flow);
    }
    let bobs_flow = bobs_flow.expect("three flows");
    assert_eq!(store.delete_flows_of(&alice).await.expect("delete flows"), 2);
    assert_eq!(store.delete_flows_of(&alice).await.expect("delete flows again"), 0);
    assert_eq!(store.list(&alice).await.expect("list").len(), 2, "her connections stay");
    for n in [1, 2] {
        assert_eq!(store.take_flow(&fixtures::state_hash(n)).await.expect("take"), None);
    }
    assert_eq!(store.take_flow(&bobs_flow.state_hash).await.expect("take"), Some(bobs_flow));
}
