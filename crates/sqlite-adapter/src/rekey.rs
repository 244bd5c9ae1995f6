//! [`RekeyStore`] for [`SqliteStore`]: a keyset walk over each sealed column, and a replacement
//! that is one `UPDATE … WHERE <column> = <the bytes read>`, so a value changed meanwhile (a
//! refresh that rotated a token) is never overwritten with an older secret.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Text};
use ports::{RekeyStore, Sealed, SealedEntry, SealedField, StoreError};

use crate::SqliteStore;

/// The table, key column and value column that hold `field`. Fixed names, never input.
fn location(field: SealedField) -> (&'static str, &'static str, &'static str) {
    match field {
        SealedField::ConnectionApiKey => ("connections", "ref_id", "api_key"),
        SealedField::ConnectionAccessToken => ("connections", "ref_id", "access_token"),
        SealedField::ConnectionRefreshToken => ("connections", "ref_id", "refresh_token"),
        SealedField::FlowPkceVerifier => ("oauth_flows", "state_hash", "pkce_verifier"),
        SealedField::RegistrationClientSecret => ("client_registrations", "issuer", "client_secret"),
    }
}

#[derive(QueryableByName)]
struct EntryRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Binary)]
    sealed: Vec<u8>,
}

#[async_trait]
impl RekeyStore for SqliteStore {
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        let (table, key, column) = location(field);
        let sql = format!(
            "SELECT {key} AS key, {column} AS sealed FROM {table} \
             WHERE {column} IS NOT NULL AND {key} > ? ORDER BY {key} LIMIT ?"
        );
        // Every key is non-empty, so "after the empty string" is "from the first".
        let after = after.unwrap_or_default().to_owned();
        let rows = self
            .run(move |conn| {
                diesel::sql_query(sql).bind::<Text, _>(after).bind::<BigInt, _>(i64::from(limit)).load::<EntryRow>(conn)
            })
            .await?;
        Ok(rows.into_iter().map(|row| SealedEntry { key: row.key, sealed: Sealed(row.sealed) }).collect())
    }

    async fn replace_sealed(
        &self,
        field: SealedField,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let (table, key_column, column) = location(field);
        let sql = format!("UPDATE {table} SET {column} = ? WHERE {key_column} = ? AND {column} = ?");
        let (key, old, new) = (key.to_owned(), old.0.clone(), new.0.clone());
        let written = self
            .write(move |conn| {
                diesel::sql_query(sql).bind::<Binary, _>(new).bind::<Text, _>(key).bind::<Binary, _>(old).execute(conn)
            })
            .await?;
        Ok(written == 1)
    }
}
