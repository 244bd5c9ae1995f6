//! [`RekeyStore`] on PostgreSQL: a keyset walk over each sealed column, and a replacement that is
//! one `UPDATE … WHERE <column> = <the bytes read>`. Replicas refreshing tokens meanwhile win: a
//! value they changed no longer matches, and the replacement writes nothing.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Text};
use diesel_async::RunQueryDsl;
use ports::{RekeyStore, Sealed, SealedEntry, SealedField, StoreError};

use crate::PgStore;
use crate::error::from_diesel;

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
    #[diesel(sql_type = Bytea)]
    sealed: Vec<u8>,
}

#[async_trait]
impl RekeyStore for PgStore {
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        let (table, key, column) = location(field);
        let sql = format!(
            "SELECT {key} AS key, {column} AS sealed FROM {table} \
             WHERE {column} IS NOT NULL AND {key} > $1 ORDER BY {key} LIMIT $2"
        );
        // Every key is non-empty, so "after the empty string" is "from the first".
        let after = after.unwrap_or_default();
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<EntryRow> = diesel::sql_query(sql)
                .bind::<Text, _>(after)
                .bind::<BigInt, _>(i64::from(limit))
                .load(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(rows.into_iter().map(|row| SealedEntry { key: row.key, sealed: Sealed(row.sealed) }).collect())
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
        let (table, key_column, column) = location(field);
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE {key_column} = $2 AND {column} = $3");
        self.bounded(async {
            let mut conn = self.conn().await?;
            let written = diesel::sql_query(sql)
                .bind::<Bytea, _>(&new.0)
                .bind::<Text, _>(key)
                .bind::<Bytea, _>(&old.0)
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(written == 1)
        })
        .await
    }
}
