//! The `oauth_flows` table: a pending OAuth flow with its sealed PKCE verifier, and the queries of
//! `FlowStore`. A flow is taken by `DELETE … RETURNING`, so it is handed to exactly one caller.

use diesel::dsl::{Asc, Eq, EqAny, Filter, Find, IsNull, Limit, Lt, Or, Order, Returning, Select, Values};
use diesel::prelude::*;
use domain::{Owner, ParseError, RefId, Scopes, Timestamp};
use ports::{PendingFlow, Sealed, StoreError};

use crate::connections::{OwnedBy, owned_by};
use crate::corrupt;
use crate::schema::{connections, oauth_flows};

columns! {
    /// The columns of a [`FlowRow`], in its order (it reads them by position).
    FlowColumns, FLOW = oauth_flows(
        state_hash, ref_id, issuer, iss_required, pkce_verifier, redirect_uri, scopes, resource, return_to,
        created_at, expires_at, browser_hash,
    )
}

/// A pending OAuth flow, read and written whole (its `Debug` shows no secret).
/// `None` is inserted as `NULL`, so the insert's text never varies.
#[derive(Queryable, Insertable)]
#[diesel(table_name = oauth_flows, treat_none_as_default_value = false)]
pub struct FlowRow {
    state_hash: String,
    ref_id: String,
    issuer: Option<String>,
    iss_required: bool,
    pkce_verifier: Vec<u8>,
    redirect_uri: String,
    scopes: String,
    resource: Option<String>,
    return_to: Option<String>,
    created_at: i64,
    expires_at: i64,
    browser_hash: Option<String>,
}

impl std::fmt::Debug for FlowRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowRow").field("ref_id", &self.ref_id).finish_non_exhaustive()
    }
}

impl FlowRow {
    pub fn new(f: &PendingFlow) -> Self {
        Self {
            state_hash: f.state_hash.clone(),
            ref_id: f.ref_id.as_str().to_owned(),
            issuer: f.issuer.clone(),
            iss_required: f.iss_required,
            pkce_verifier: f.pkce_verifier.0.clone(),
            redirect_uri: f.redirect_uri.clone(),
            scopes: f.scopes.to_delimited(),
            resource: f.resource.clone(),
            return_to: f.return_to.clone(),
            created_at: f.created_at.unix(),
            expires_at: f.expires_at.unix(),
            browser_hash: f.browser_hash.clone(),
        }
    }

    /// The connection the flow belongs to.
    pub fn ref_id(&self) -> &str {
        &self.ref_id
    }

    pub fn into_domain(self) -> Result<PendingFlow, StoreError> {
        let corrupt = |e: ParseError| corrupt("oauth_flows", &self.ref_id, e);
        Ok(PendingFlow {
            ref_id: RefId::parse(&self.ref_id).map_err(corrupt)?,
            scopes: Scopes::parse_delimited(&self.scopes).map_err(corrupt)?,
            state_hash: self.state_hash,
            issuer: self.issuer,
            iss_required: self.iss_required,
            pkce_verifier: Sealed(self.pkce_verifier),
            redirect_uri: self.redirect_uri,
            resource: self.resource,
            return_to: self.return_to,
            created_at: Timestamp::from_unix(self.created_at),
            expires_at: Timestamp::from_unix(self.expires_at),
            browser_hash: self.browser_hash,
        })
    }
}

/// `INSERT` a flow.
pub fn insert(row: &FlowRow) -> Values<diesel::dsl::insert_into<oauth_flows::table>, &FlowRow> {
    diesel::insert_into(oauth_flows::table).values(row)
}

/// Take the flow `state_hash`: `DELETE … RETURNING` it.
pub fn take(state_hash: &str) -> Returning<diesel::dsl::delete<Find<oauth_flows::table, &str>>, FlowColumns> {
    diesel::delete(oauth_flows::table.find(state_hash)).returning(FLOW)
}

/// A flow bound to no browser, or to the one whose nonce hashes to `browser_hash`.
pub type InBrowser<'a> = Or<IsNull<oauth_flows::browser_hash>, Eq<oauth_flows::browser_hash, Option<&'a str>>>;

/// The type of [`take_in_browser`].
pub type TakeInBrowser<'a> =
    Returning<diesel::dsl::delete<Filter<Find<oauth_flows::table, &'a str>, InBrowser<'a>>>, FlowColumns>;

/// Take the flow `state_hash` only if the callback's browser may complete it (see
/// [`InBrowser`]): a flow bound to another browser is left where it is.
pub fn take_in_browser<'a>(state_hash: &'a str, browser_hash: Option<&'a str>) -> TakeInBrowser<'a> {
    diesel::delete(oauth_flows::table.find(state_hash).filter(in_browser(browser_hash))).returning(FLOW)
}

fn in_browser(browser_hash: Option<&str>) -> InBrowser<'_> {
    oauth_flows::browser_hash.is_null().or(oauth_flows::browser_hash.eq(browser_hash))
}

/// The type of [`take_owned`].
pub type TakeOwned<'a> = Returning<
    diesel::dsl::delete<
        Filter<
            Filter<
                Find<oauth_flows::table, &'a str>,
                EqAny<oauth_flows::ref_id, Select<Filter<connections::table, OwnedBy<'a>>, connections::ref_id>>,
            >,
            InBrowser<'a>,
        >,
    >,
    FlowColumns,
>;

/// Take the flow `state_hash` only if its connection belongs to `owner` (a flow reaches its
/// owner through its connection) and the caller's browser may complete it: another owner's
/// flow, or one bound to another browser, is left where it is.
pub fn take_owned<'a>(state_hash: &'a str, owner: &'a Owner, browser_hash: Option<&'a str>) -> TakeOwned<'a> {
    let owners_connections = connections::table.filter(owned_by(owner)).select(connections::ref_id);
    diesel::delete(
        oauth_flows::table
            .find(state_hash)
            .filter(oauth_flows::ref_id.eq_any(owners_connections))
            .filter(in_browser(browser_hash)),
    )
    .returning(FLOW)
}

/// The type of [`expired`].
pub type Expired = Limit<
    Order<
        Filter<Select<oauth_flows::table, oauth_flows::state_hash>, Lt<oauth_flows::expires_at, i64>>,
        (Asc<oauth_flows::expires_at>, Asc<oauth_flows::state_hash>),
    >,
>;

/// The state hashes of up to `limit` flows that expired before `now`, oldest expiry first (an
/// index on `expires_at` serves it). A backend that sweeps from several processes locks them.
pub fn expired(now: Timestamp, limit: u32) -> Expired {
    oauth_flows::table
        .select(oauth_flows::state_hash)
        .filter(oauth_flows::expires_at.lt(now.unix()))
        .order((oauth_flows::expires_at.asc(), oauth_flows::state_hash.asc()))
        .limit(i64::from(limit))
}

/// The type of [`take_all`].
pub type TakeAll = Returning<
    diesel::dsl::delete<Filter<oauth_flows::table, EqAny<oauth_flows::state_hash, Vec<String>>>>,
    FlowColumns,
>;

/// Take the flows `state_hashes` (what [`expired`] found): `DELETE … RETURNING` them.
pub fn take_all(state_hashes: Vec<String>) -> TakeAll {
    diesel::delete(oauth_flows::table.filter(oauth_flows::state_hash.eq_any(state_hashes))).returning(FLOW)
}

/// The swept flows as domain values, oldest expiry first (`RETURNING` has no order).
pub fn swept(rows: Vec<FlowRow>) -> Result<Vec<PendingFlow>, StoreError> {
    let mut flows = rows.into_iter().map(FlowRow::into_domain).collect::<Result<Vec<_>, _>>()?;
    flows.sort_by(|a, b| (a.expires_at, &a.state_hash).cmp(&(b.expires_at, &b.state_hash)));
    Ok(flows)
}

/// The type of [`delete_of_owner`].
pub type DeleteOfOwner<'a> = diesel::dsl::delete<
    Filter<
        oauth_flows::table,
        EqAny<oauth_flows::ref_id, Select<Filter<connections::table, OwnedBy<'a>>, connections::ref_id>>,
    >,
>;

/// `DELETE` every flow of `owner`'s connections (forgetting a user); its count is the answer.
pub fn delete_of_owner(owner: &Owner) -> DeleteOfOwner<'_> {
    let owners_connections = connections::table.filter(owned_by(owner)).select(connections::ref_id);
    diesel::delete(oauth_flows::table.filter(oauth_flows::ref_id.eq_any(owners_connections)))
}
