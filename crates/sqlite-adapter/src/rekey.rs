//! [`RekeyStore`] for [`SqliteStore`]: the walk reads on a pooled connection, each replacement
//! is a write of the one writer (the statements are `diesel_store::rekey`'s).

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_store::rekey;
use ports::{RekeyStore, Sealed, SealedEntry, SealedField, StoreError};

use crate::SqliteStore;

#[async_trait]
impl RekeyStore for SqliteStore {
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        let after = after.map(str::to_owned);
        let rows: Vec<(String, Vec<u8>)> =
            self.run(move |conn| rekey::sealed_after(field, after.as_deref(), limit).load(conn)).await?;
        Ok(rows.into_iter().map(rekey::entry).collect())
    }

    async fn replace_sealed(
        &self,
        field: SealedField,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let (key, old, new) = (key.to_owned(), old.clone(), new.clone());
        let written = self.write(move |conn| rekey::replace_sealed(field, &key, &old, &new).execute(conn)).await?;
        Ok(written == 1)
    }
}
