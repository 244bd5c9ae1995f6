//! `RekeyStore` over every sealed column: a keyset walk over a column, and a replacement that is
//! one `UPDATE … WHERE <column> = <the bytes read>`, so a value changed meanwhile (a refresh that
//! rotated a token) is never overwritten with an older secret.
//!
//! The column is a value, so these are SQL text with diesel's binds: each backend writes its own
//! placeholders. The table and column names are fixed per [`SealedField`], never input.

use diesel::dsl::{AsExprOf, sql};
use diesel::expression::{SqlLiteral, UncheckedBind};
use diesel::sql_types::{BigInt, Binary, Text};
use ports::{Sealed, SealedEntry, SealedField};

/// The table, key column and value column that hold `field`.
fn location(field: SealedField) -> (&'static str, &'static str, &'static str) {
    match field {
        SealedField::ConnectionApiKey => ("connections", "ref_id", "api_key"),
        SealedField::ConnectionAccessToken => ("connections", "ref_id", "access_token"),
        SealedField::ConnectionRefreshToken => ("connections", "ref_id", "refresh_token"),
        SealedField::FlowPkceVerifier => ("oauth_flows", "state_hash", "pkce_verifier"),
        SealedField::RegistrationClientSecret => ("client_registrations", "registration_key", "client_secret"),
        SealedField::BindingClientSecret => ("discovered_authorizations", "ref_id", "client_secret"),
        SealedField::BindingIdpClientSecret => ("discovered_authorizations", "ref_id", "idp_client_secret"),
        SealedField::WebhookSecret => ("webhooks", "id", "secret"),
        SealedField::WebhookPreviousSecret => ("webhooks", "id", "previous_secret"),
    }
}

type Entry = (Text, Binary);

/// `SELECT key, sealed … WHERE key > after ORDER BY key LIMIT limit`, for `field`.
pub type SealedAfter<'a> =
    UncheckedBind<SqlLiteral<Entry, UncheckedBind<SqlLiteral<Entry>, AsExprOf<&'a str, Text>>>, AsExprOf<i64, BigInt>>;

/// Up to `limit` sealed values of `field` whose key sorts after `after` (from the first when
/// `None`; every key is non-empty), in key order. Load it as `(String, Vec<u8>)`.
pub fn sealed_after(field: SealedField, after: Option<&str>, limit: u32) -> SealedAfter<'_> {
    let (table, key, column) = location(field);
    sql::<Entry>(&format!("SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND {key} > "))
        .bind::<Text, _>(after.unwrap_or_default())
        .sql(&format!(" ORDER BY {key} LIMIT "))
        .bind::<BigInt, _>(i64::from(limit))
}

/// A loaded row of [`sealed_after`] as the port's value.
pub fn entry((key, sealed): (String, Vec<u8>)) -> SealedEntry {
    SealedEntry { key, sealed: Sealed(sealed) }
}

/// `UPDATE … SET column = new WHERE key = key AND column = old`, for `field`.
pub type ReplaceSealed<'a> = UncheckedBind<
    SqlLiteral<
        Binary,
        UncheckedBind<
            SqlLiteral<Binary, UncheckedBind<SqlLiteral<Binary>, AsExprOf<&'a [u8], Binary>>>,
            AsExprOf<&'a str, Text>,
        >,
    >,
    AsExprOf<&'a [u8], Binary>,
>;

/// Replaces the sealed value of `field` at `key` with `new` if it is still `old`; executing it
/// answers how many rows it wrote (0 or 1).
pub fn replace_sealed<'a>(field: SealedField, key: &'a str, old: &'a Sealed, new: &'a Sealed) -> ReplaceSealed<'a> {
    let (table, key_column, column) = location(field);
    sql::<Binary>(&format!("UPDATE {table} SET {column} = "))
        .bind::<Binary, _>(new.0.as_slice())
        .sql(&format!(" WHERE {key_column} = "))
        .bind::<Text, _>(key)
        .sql(&format!(" AND {column} = "))
        .bind::<Binary, _>(old.0.as_slice())
}
