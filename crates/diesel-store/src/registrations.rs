//! The tables of `RegistrationStore`: the clients the service registered dynamically
//! (`client_registrations`, one per issuer and redirect URI, kept by the first writer, and found
//! again by issuer and client id for the connections bound to them) and each discovered
//! connection's authorization server (`discovered_authorizations`, deleted with its connection
//! by `ON DELETE CASCADE`).
//!
//! Both writes are upserts, whose `ON CONFLICT` clause a store adds itself (diesel names no type
//! for it): `add` keeps the stored row (`.on_conflict_do_nothing()`: either key may conflict),
//! `bind` replaces it (`.on_conflict(ref_id).do_update().set(row)`).

use diesel::dsl::{And, Eq, Filter, Find, IsNotNull, IsNull, Lt, Select, Values};
use diesel::prelude::*;
use domain::{ParseError, RefId, SigningAlgorithm, Timestamp, TokenEndpointAuth};
use ports::{BoundIdentityProvider, ClientRegistration, DiscoveredAuthorization, OwnClient, Sealed, StoreError};

use crate::corrupt;
use crate::schema::{client_registrations, discovered_authorizations};

columns! {
    /// The columns of a [`RegistrationRow`], in its order (it reads them by position).
    RegistrationColumns, REGISTRATION = client_registrations(
        issuer, client_id, client_secret, auth_method, redirect_uri, secret_expires_at, created_at,
    )
}

/// A registration row (its `Debug` shows no secret).
#[derive(Queryable, Insertable)]
#[diesel(table_name = client_registrations, treat_none_as_default_value = false)]
pub struct RegistrationRow {
    issuer: String,
    client_id: String,
    client_secret: Option<Vec<u8>>,
    auth_method: String,
    redirect_uri: String,
    secret_expires_at: Option<i64>,
    created_at: i64,
}

impl std::fmt::Debug for RegistrationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationRow").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl RegistrationRow {
    pub fn new(r: &ClientRegistration) -> Self {
        Self {
            issuer: r.issuer.clone(),
            client_id: r.client_id.clone(),
            client_secret: r.client_secret.as_ref().map(|s| s.0.clone()),
            auth_method: r.auth.as_str().to_owned(),
            redirect_uri: r.redirect_uri.clone(),
            secret_expires_at: r.secret_expires_at.map(Timestamp::unix),
            created_at: r.created_at.unix(),
        }
    }

    /// The issuer it is registered with.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The redirect URI it is registered with: the flows that come back there use it.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    pub fn into_domain(self) -> Result<ClientRegistration, StoreError> {
        let auth = TokenEndpointAuth::parse(&self.auth_method)
            .map_err(|e| corrupt("client_registrations", &self.issuer, e))?;
        Ok(ClientRegistration {
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self.client_secret.map(Sealed),
            auth,
            redirect_uri: self.redirect_uri,
            secret_expires_at: self.secret_expires_at.map(Timestamp::from_unix),
            created_at: Timestamp::from_unix(self.created_at),
        })
    }
}

columns! {
    /// The columns of a [`BindingRow`], in its order.
    BindingColumns, BINDING = discovered_authorizations(
        ref_id, issuer, client_id, resource, at_origin, client_auth, client_secret, signing_algorithm, idp_issuer,
        idp_token_endpoint, idp_client_id, idp_client_secret
    )
}

/// Which authorization server and client a discovered connection uses. A rebind replaces every
/// column: a binding without a client of its own clears the one before (NULL, not "unchanged").
#[derive(Debug, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = discovered_authorizations, treat_none_as_null = true)]
pub struct BindingRow {
    ref_id: String,
    issuer: String,
    client_id: String,
    resource: String,
    at_origin: bool,
    client_auth: Option<String>,
    client_secret: Option<Vec<u8>>,
    signing_algorithm: Option<String>,
    idp_issuer: Option<String>,
    idp_token_endpoint: Option<String>,
    idp_client_id: Option<String>,
    idp_client_secret: Option<Vec<u8>>,
}

impl BindingRow {
    pub fn new(b: &DiscoveredAuthorization) -> Self {
        Self {
            ref_id: b.ref_id.as_str().to_owned(),
            issuer: b.issuer.clone(),
            client_id: b.client_id.clone(),
            resource: b.resource.clone(),
            at_origin: b.at_origin,
            client_auth: b.own_client.as_ref().map(|c| c.auth.as_str().to_owned()),
            client_secret: b.own_client.as_ref().map(|c| c.sealed.0.clone()),
            signing_algorithm: b.own_client.as_ref().and_then(|c| c.algorithm).map(|a| a.as_str().to_owned()),
            idp_issuer: b.identity_provider.as_ref().map(|p| p.issuer.clone()),
            idp_token_endpoint: b.identity_provider.as_ref().map(|p| p.token_endpoint.clone()),
            idp_client_id: b.identity_provider.as_ref().map(|p| p.client_id.clone()),
            idp_client_secret: b.identity_provider.as_ref().and_then(|p| p.client_secret.as_ref()).map(|s| s.0.clone()),
        }
    }

    pub fn into_domain(self) -> Result<DiscoveredAuthorization, StoreError> {
        let ref_id = RefId::parse(&self.ref_id).map_err(|e| corrupt("discovered_authorizations", &self.ref_id, e))?;
        let bad = |e: ParseError| corrupt("discovered_authorizations", &self.ref_id, e);
        let own_client = match (self.client_auth, self.client_secret) {
            (None, None) => None,
            (Some(auth), Some(sealed)) => {
                let auth = TokenEndpointAuth::parse(&auth).map_err(bad)?;
                let algorithm =
                    self.signing_algorithm.as_deref().map(SigningAlgorithm::parse).transpose().map_err(bad)?;
                // A key signs (`private_key_jwt`, with its algorithm); a secret is sent (without one).
                if (auth == TokenEndpointAuth::PrivateKeyJwt) != algorithm.is_some() {
                    return Err(bad(ParseError::new("signing_algorithm", "does not match the client's method")));
                }
                Some(OwnClient { auth, sealed: Sealed(sealed), algorithm })
            }
            _ => {
                return Err(bad(ParseError::new(
                    "client_secret",
                    "a client's method without its secret, or the other way",
                )));
            }
        };
        let identity_provider = match (self.idp_issuer, self.idp_token_endpoint, self.idp_client_id) {
            (None, None, None) if self.idp_client_secret.is_none() => None,
            (Some(issuer), Some(token_endpoint), Some(client_id)) => Some(BoundIdentityProvider {
                issuer,
                token_endpoint,
                client_id,
                client_secret: self.idp_client_secret.map(Sealed),
            }),
            _ => return Err(bad(ParseError::new("idp_issuer", "an identity provider without all of its fields"))),
        };
        Ok(DiscoveredAuthorization {
            ref_id,
            issuer: self.issuer,
            client_id: self.client_id,
            resource: self.resource,
            at_origin: self.at_origin,
            own_client,
            identity_provider,
        })
    }
}

/// `INSERT` a registration (the store adds `ON CONFLICT DO NOTHING`).
pub fn add(row: &RegistrationRow) -> Values<diesel::dsl::insert_into<client_registrations::table>, &RegistrationRow> {
    diesel::insert_into(client_registrations::table).values(row)
}

/// The type of [`for_redirect_uri`].
pub type ForRedirectUri<'a> = Select<
    Filter<
        client_registrations::table,
        And<
            And<Eq<client_registrations::issuer, &'a str>, Eq<client_registrations::redirect_uri, &'a str>>,
            IsNull<client_registrations::retired_at>,
        >,
    >,
    RegistrationColumns,
>;

/// The registration new flows at `issuer` that come back at `redirect_uri` use (not retired).
pub fn for_redirect_uri<'a>(issuer: &'a str, redirect_uri: &'a str) -> ForRedirectUri<'a> {
    use client_registrations::dsl as r;
    client_registrations::table
        .filter(r::issuer.eq(issuer).and(r::redirect_uri.eq(redirect_uri)).and(r::retired_at.is_null()))
        .select(REGISTRATION)
}

/// The type of [`take_over`].
pub type TakeOver<'a> = diesel::dsl::Update<
    Find<client_registrations::table, (&'a str, &'a str)>,
    (
        Eq<client_registrations::client_secret, &'a Option<Vec<u8>>>,
        Eq<client_registrations::auth_method, &'a str>,
        Eq<client_registrations::redirect_uri, &'a str>,
        Eq<client_registrations::secret_expires_at, Option<i64>>,
        Eq<client_registrations::created_at, i64>,
        Eq<client_registrations::retired_at, Option<i64>>,
    ),
>;

/// `UPDATE` the registration of `row`'s (issuer, client id) to be `row`, in use again: the server
/// handed out a client id it had given before, now for `row`'s redirect URI.
pub fn take_over(row: &RegistrationRow) -> TakeOver<'_> {
    use client_registrations::dsl as r;
    diesel::update(client_registrations::table.find((row.issuer.as_str(), row.client_id.as_str()))).set((
        r::client_secret.eq(&row.client_secret),
        r::auth_method.eq(row.auth_method.as_str()),
        r::redirect_uri.eq(row.redirect_uri.as_str()),
        r::secret_expires_at.eq(row.secret_expires_at),
        r::created_at.eq(row.created_at),
        r::retired_at.eq(None::<i64>),
    ))
}

/// The type of [`retire`].
pub type Retire<'a> = diesel::dsl::Update<
    Filter<Find<client_registrations::table, (&'a str, &'a str)>, IsNull<client_registrations::retired_at>>,
    Eq<client_registrations::retired_at, Option<i64>>,
>;

/// `UPDATE` the client `client_id` at `issuer` to be retired at `now` (no longer used for new
/// flows; still found by its client id).
pub fn retire<'a>(issuer: &'a str, client_id: &'a str, now: Timestamp) -> Retire<'a> {
    use client_registrations::dsl as r;
    diesel::update(client_registrations::table.find((issuer, client_id)).filter(r::retired_at.is_null()))
        .set(r::retired_at.eq(Some(now.unix())))
}

/// The type of [`purge_retired`].
pub type PurgeRetired<'a> = diesel::dsl::delete<
    Filter<
        client_registrations::table,
        And<
            And<Eq<client_registrations::issuer, &'a str>, IsNotNull<client_registrations::retired_at>>,
            Lt<client_registrations::secret_expires_at, i64>,
        >,
    >,
>;

/// `DELETE` the retired clients at `issuer` whose secret no longer works at `now`.
pub fn purge_retired(issuer: &str, now: Timestamp) -> PurgeRetired<'_> {
    use client_registrations::dsl as r;
    diesel::delete(
        client_registrations::table
            .filter(r::issuer.eq(issuer).and(r::retired_at.is_not_null()).and(r::secret_expires_at.lt(now.unix()))),
    )
}

/// The registration of client `client_id` at `issuer` (what a connection is bound to).
pub fn find<'a>(
    issuer: &'a str,
    client_id: &'a str,
) -> Select<Find<client_registrations::table, (&'a str, &'a str)>, RegistrationColumns> {
    client_registrations::table.find((issuer, client_id)).select(REGISTRATION)
}

/// `DELETE` the registration of client `client_id` at `issuer`.
pub fn delete<'a>(
    issuer: &'a str,
    client_id: &'a str,
) -> diesel::dsl::delete<Find<client_registrations::table, (&'a str, &'a str)>> {
    diesel::delete(client_registrations::table.find((issuer, client_id)))
}

/// `INSERT` a binding (the store adds `ON CONFLICT (ref_id) DO UPDATE SET` the same row).
pub fn bind(row: &BindingRow) -> Values<diesel::dsl::insert_into<discovered_authorizations::table>, &BindingRow> {
    diesel::insert_into(discovered_authorizations::table).values(row)
}

/// The binding of the connection `ref_id`.
pub fn binding(ref_id: &str) -> Select<Find<discovered_authorizations::table, &str>, BindingColumns> {
    discovered_authorizations::table.find(ref_id).select(BINDING)
}
