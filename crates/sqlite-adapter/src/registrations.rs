//! [`RegistrationStore`] for [`SqliteStore`]: one client registration per issuer, kept by the
//! first writer (`INSERT … ON CONFLICT DO NOTHING` in an `IMMEDIATE` transaction), and each
//! discovered connection's authorization server, deleted with the connection (`ON DELETE CASCADE`).

use async_trait::async_trait;
use diesel::prelude::*;
use domain::{RefId, Timestamp, TokenEndpointAuth};
use ports::{ClientRegistration, DiscoveredAuthorization, RegistrationStore, Sealed, StoreError};

use crate::SqliteStore;

diesel::table! {
    client_registrations (issuer) {
        issuer -> Text,
        client_id -> Text,
        client_secret -> Nullable<Binary>,
        auth_method -> Text,
        redirect_uri -> Text,
        secret_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    discovered_authorizations (ref_id) {
        ref_id -> Text,
        issuer -> Text,
        client_id -> Text,
        resource -> Text,
    }
}

/// A registration row (no `Debug`: it holds a sealed secret).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = client_registrations, check_for_backend(diesel::sqlite::Sqlite))]
struct RegistrationRow {
    issuer: String,
    client_id: String,
    client_secret: Option<Vec<u8>>,
    auth_method: String,
    redirect_uri: String,
    secret_expires_at: Option<i64>,
    created_at: i64,
}

impl RegistrationRow {
    fn from_domain(r: &ClientRegistration) -> Self {
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

    fn into_domain(self) -> Result<ClientRegistration, StoreError> {
        let auth = TokenEndpointAuth::parse(&self.auth_method)
            .map_err(|e| StoreError::Corrupt(format!("client registration: {e}")))?;
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

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = discovered_authorizations, check_for_backend(diesel::sqlite::Sqlite))]
struct BindingRow {
    ref_id: String,
    issuer: String,
    client_id: String,
    resource: String,
}

impl BindingRow {
    fn into_domain(self) -> Result<DiscoveredAuthorization, StoreError> {
        let ref_id =
            RefId::parse(&self.ref_id).map_err(|e| StoreError::Corrupt(format!("discovered authorization: {e}")))?;
        Ok(DiscoveredAuthorization { ref_id, issuer: self.issuer, client_id: self.client_id, resource: self.resource })
    }
}

#[async_trait]
impl RegistrationStore for SqliteStore {
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError> {
        let row = RegistrationRow::from_domain(registration);
        let stored = self
            .write(move |conn| {
                let issuer = row.issuer.clone();
                diesel::insert_into(client_registrations::table)
                    .values(&row)
                    .on_conflict(client_registrations::issuer)
                    .do_nothing()
                    .execute(conn)?;
                client_registrations::table.find(issuer).select(RegistrationRow::as_select()).get_result(conn)
            })
            .await?;
        stored.into_domain()
    }

    async fn registration(&self, issuer: &str) -> Result<Option<ClientRegistration>, StoreError> {
        let key = issuer.to_owned();
        let row = self
            .read(move |conn| {
                client_registrations::table.find(key).select(RegistrationRow::as_select()).get_result(conn).optional()
            })
            .await?;
        row.map(RegistrationRow::into_domain).transpose()
    }

    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError> {
        let (issuer, client_id) = (issuer.to_owned(), client_id.to_owned());
        let deleted = self
            .write(move |conn| {
                diesel::delete(
                    client_registrations::table
                        .filter(client_registrations::issuer.eq(issuer))
                        .filter(client_registrations::client_id.eq(client_id)),
                )
                .execute(conn)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn bind_authorization(&self, binding: &DiscoveredAuthorization) -> Result<(), StoreError> {
        let row = BindingRow {
            ref_id: binding.ref_id.as_str().to_owned(),
            issuer: binding.issuer.clone(),
            client_id: binding.client_id.clone(),
            resource: binding.resource.clone(),
        };
        self.write(move |conn| {
            diesel::insert_into(discovered_authorizations::table)
                .values(&row)
                .on_conflict(discovered_authorizations::ref_id)
                .do_update()
                .set(&row)
                .execute(conn)
        })
        .await
        .map(|_| ())
    }

    async fn authorization_of(&self, ref_id: &RefId) -> Result<Option<DiscoveredAuthorization>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let row = self
            .read(move |conn| {
                discovered_authorizations::table.find(key).select(BindingRow::as_select()).get_result(conn).optional()
            })
            .await?;
        row.map(BindingRow::into_domain).transpose()
    }
}
