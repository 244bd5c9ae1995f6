//! [`RegistrationStore`] for [`SqliteStore`]: one client registration per issuer and redirect
//! URI, kept by the first writer (`INSERT … ON CONFLICT DO NOTHING`, then a read of whichever row
//! won, in the one writer), and each discovered connection's authorization server.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::registrations::{self, BindingRow, RegistrationRow};
use diesel_store::schema::discovered_authorizations;
use domain::{RefId, Timestamp};
use ports::{ClientRegistration, DiscoveredAuthorization, RegistrationStore, StoreError};

use crate::SqliteStore;

#[async_trait]
impl RegistrationStore for SqliteStore {
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError> {
        let row = RegistrationRow::new(registration);
        let stored: RegistrationRow = self
            .write(move |conn| {
                registrations::add(&row).on_conflict_do_nothing().execute(conn)?;
                let in_use =
                    registrations::for_redirect_uri(row.issuer(), row.redirect_uri()).get_result(conn).optional()?;
                if let Some(in_use) = in_use {
                    return Ok(in_use);
                }
                // The conflict was on (issuer, client id): a client id handed out again.
                registrations::take_over(&row).execute(conn)?;
                registrations::for_redirect_uri(row.issuer(), row.redirect_uri()).get_result(conn)
            })
            .await?;
        stored.into_domain()
    }

    async fn registration(&self, issuer: &str, redirect_uri: &str) -> Result<Option<ClientRegistration>, StoreError> {
        let (issuer, redirect_uri) = (issuer.to_owned(), redirect_uri.to_owned());
        let row: Option<RegistrationRow> = self
            .read(move |conn| registrations::for_redirect_uri(&issuer, &redirect_uri).get_result(conn).optional())
            .await?;
        row.map(RegistrationRow::into_domain).transpose()
    }

    async fn client_registration(
        &self,
        issuer: &str,
        client_id: &str,
    ) -> Result<Option<ClientRegistration>, StoreError> {
        let (issuer, client_id) = (issuer.to_owned(), client_id.to_owned());
        let row: Option<RegistrationRow> =
            self.read(move |conn| registrations::find(&issuer, &client_id).get_result(conn).optional()).await?;
        row.map(RegistrationRow::into_domain).transpose()
    }

    async fn retire_registration(&self, issuer: &str, client_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let (issuer, client_id) = (issuer.to_owned(), client_id.to_owned());
        let retired = self
            .write(move |conn| {
                let retired = registrations::retire(&issuer, &client_id, now).execute(conn)?;
                registrations::purge_retired(&issuer, now).execute(conn)?;
                Ok(retired)
            })
            .await?;
        Ok(retired > 0)
    }

    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError> {
        let (issuer, client_id) = (issuer.to_owned(), client_id.to_owned());
        let deleted = self.write(move |conn| registrations::delete(&issuer, &client_id).execute(conn)).await?;
        Ok(deleted > 0)
    }

    async fn bind_authorization(&self, binding: &DiscoveredAuthorization) -> Result<(), StoreError> {
        let row = BindingRow::new(binding);
        self.write(move |conn| {
            registrations::bind(&row).on_conflict(discovered_authorizations::ref_id).do_update().set(&row).execute(conn)
        })
        .await
        .map(|_| ())
    }

    async fn authorization_of(&self, ref_id: &RefId) -> Result<Option<DiscoveredAuthorization>, StoreError> {
        let key = ref_id.as_str().to_owned();
        let row: Option<BindingRow> =
            self.read(move |conn| registrations::binding(&key).get_result(conn).optional()).await?;
        row.map(BindingRow::into_domain).transpose()
    }
}
