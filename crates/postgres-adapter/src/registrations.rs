//! `RegistrationStore` on PostgreSQL: one client registration per issuer and redirect URI, kept
//! by the first writer (`INSERT … ON CONFLICT DO NOTHING`, then a read that sees whichever row
//! won, in one transaction), and each discovered connection's authorization server.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_store::registrations::{self, BindingRow, RegistrationRow};
use diesel_store::schema::discovered_authorizations;
use domain::{RefId, Timestamp};
use ports::{ClientRegistration, DiscoveredAuthorization, RegistrationStore, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

#[async_trait]
impl RegistrationStore for PgStore {
    async fn add_registration(&self, registration: &ClientRegistration) -> Result<ClientRegistration, StoreError> {
        let row = RegistrationRow::new(registration);
        self.bounded(async {
            let mut conn = self.conn().await?;
            let stored: RegistrationRow = conn
                .transaction(async |tx| {
                    registrations::add(&row).on_conflict_do_nothing().execute(tx).await?;
                    let query = registrations::for_redirect_uri(row.issuer(), row.redirect_uri());
                    if let Some(in_use) = query.get_result(tx).await.optional()? {
                        return Ok(in_use);
                    }
                    // The conflict was on (issuer, client id): a client id handed out again.
                    registrations::take_over(&row).execute(tx).await?;
                    registrations::for_redirect_uri(row.issuer(), row.redirect_uri()).get_result(tx).await
                })
                .await
                .map_err(from_diesel)?;
            stored.into_domain()
        })
        .await
    }

    async fn registration(&self, issuer: &str, redirect_uri: &str) -> Result<Option<ClientRegistration>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let query = registrations::for_redirect_uri(issuer, redirect_uri);
            let row: Option<RegistrationRow> = query.get_result(&mut conn).await.optional().map_err(from_diesel)?;
            row.map(RegistrationRow::into_domain).transpose()
        })
        .await
    }

    async fn client_registration(
        &self,
        issuer: &str,
        client_id: &str,
    ) -> Result<Option<ClientRegistration>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let query = registrations::find(issuer, client_id);
            let row: Option<RegistrationRow> = query.get_result(&mut conn).await.optional().map_err(from_diesel)?;
            row.map(RegistrationRow::into_domain).transpose()
        })
        .await
    }

    async fn retire_registration(&self, issuer: &str, client_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let retired = conn
                .transaction(async |tx| {
                    let retired = registrations::retire(issuer, client_id, now).execute(tx).await?;
                    registrations::purge_retired(issuer, now).execute(tx).await?;
                    Ok::<_, diesel::result::Error>(retired)
                })
                .await
                .map_err(from_diesel)?;
            Ok(retired > 0)
        })
        .await
    }

    async fn delete_registration(&self, issuer: &str, client_id: &str) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = registrations::delete(issuer, client_id).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn bind_authorization(&self, binding: &DiscoveredAuthorization) -> Result<(), StoreError> {
        let row = BindingRow::new(binding);
        self.bounded(async {
            let mut conn = self.conn().await?;
            registrations::bind(&row)
                .on_conflict(discovered_authorizations::ref_id)
                .do_update()
                .set(&row)
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn authorization_of(&self, ref_id: &RefId) -> Result<Option<DiscoveredAuthorization>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<BindingRow> =
                registrations::binding(ref_id.as_str()).get_result(&mut conn).await.optional().map_err(from_diesel)?;
            row.map(BindingRow::into_domain).transpose()
        })
        .await
    }
}
