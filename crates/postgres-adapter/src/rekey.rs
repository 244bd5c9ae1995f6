//! [`RekeyStore`] on PostgreSQL (the statements are `diesel_store::rekey`'s). Replicas
//! refreshing tokens meanwhile win: a value they changed no longer matches, and the replacement
//! writes nothing.

use async_trait::async_trait;
use diesel_async::RunQueryDsl;
use diesel_store::rekey;
use ports::{RekeyStore, Sealed, SealedEntry, SealedField, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

#[async_trait]
impl RekeyStore for PgStore {
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<(String, Vec<u8>)> =
                rekey::sealed_after(field, after, limit).load(&mut conn).await.map_err(from_diesel)?;
            Ok(rows.into_iter().map(rekey::entry).collect())
        })
        .await
    }

    async fn replace_sealed(
        &self,
        field: SealedField,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written = rekey::replace_sealed(field, key, old, new).execute(&mut conn).await.map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }
}
