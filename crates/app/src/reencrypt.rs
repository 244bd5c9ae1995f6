//! Re-encryption of every sealed secret under the cipher's current key (spec §8), while the
//! service keeps running.
//!
//! It walks each sealed field in batches ([`RekeyStore::sealed_after`]), skips what the current
//! key sealed already ([`Cipher::is_current`]), opens the rest with the key that sealed them and
//! seals them again, bound to the same record and field. Each value is written back with a
//! compare-and-swap on the bytes that were read, so a value the service changed meanwhile (a
//! refresh that rotated a token) wins and is left alone. Every write stands alone: the walk can be
//! interrupted at any point and run again, and a second run finds nothing left to do.

use domain::{RefId, WebhookId};
use ports::{Cipher, RekeyStore, SealedEntry, SealedField};

use crate::Error;
use crate::events::webhook_aad;
use crate::use_cases::{binding_aad, connection_aad, flow_aad, idp_aad, registration_aad};

/// What a re-encryption did, field by field added up. Names no secret and no record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Values sealed under an older key and now sealed under the current one.
    pub reencrypted: u64,
    /// Values the current key had sealed already.
    pub already_current: u64,
    /// Values changed or deleted between the read and the write; the newer value stays.
    pub changed_meanwhile: u64,
    /// Values that did not open: sealed with a key that is not configured, or damaged. They are
    /// left as they are; retiring the old key now would lose them.
    pub unreadable: u64,
}

impl ReencryptReport {
    /// Every value looked at.
    pub fn examined(&self) -> u64 {
        self.reencrypted + self.already_current + self.changed_meanwhile + self.unreadable
    }
}

/// Re-encrypts every sealed value `store` holds under `cipher`'s current key, `batch_size` values
/// per read. `progress` is called after each batch with the field and the running totals.
///
/// # Errors
/// A store failure stops the walk; what was written so far stays written, and running it again
/// continues where it matters (values already current are skipped).
pub async fn reencrypt_all<S, C>(
    store: &S,
    cipher: &C,
    batch_size: u32,
    mut progress: impl FnMut(SealedField, &ReencryptReport),
) -> Result<ReencryptReport, Error>
where
    S: RekeyStore,
    C: Cipher,
{
    let batch_size = batch_size.max(1);
    let mut report = ReencryptReport::default();
    for field in SealedField::ALL {
        let mut after: Option<String> = None;
        loop {
            let batch = store.sealed_after(field, after.as_deref(), batch_size).await?;
            for entry in &batch {
                reencrypt_one(store, cipher, field, entry, &mut report).await?;
            }
            progress(field, &report);
            match batch.last() {
                Some(last) if batch.len() == batch_size as usize => after = Some(last.key.clone()),
                _ => break,
            }
        }
    }
    Ok(report)
}

async fn reencrypt_one<S: RekeyStore, C: Cipher>(
    store: &S,
    cipher: &C,
    field: SealedField,
    entry: &SealedEntry,
    report: &mut ReencryptReport,
) -> Result<(), Error> {
    if cipher.is_current(&entry.sealed) {
        report.already_current += 1;
        return Ok(());
    }
    let Some(aad) = associated_data(field, &entry.key) else {
        tracing::warn!(field = field.as_str(), "a sealed value belongs to a record with a malformed key");
        report.unreadable += 1;
        return Ok(());
    };
    let plaintext = match cipher.open(&entry.sealed, &aad) {
        Ok(plaintext) => plaintext,
        Err(e) => {
            tracing::warn!(field = field.as_str(), error = %e, "a sealed value does not open; it is left as it is");
            report.unreadable += 1;
            return Ok(());
        }
    };
    let resealed = cipher.seal(&plaintext, &aad);
    if store.replace_sealed(field, &entry.key, &entry.sealed, &resealed).await? {
        report.reencrypted += 1;
    } else {
        report.changed_meanwhile += 1;
    }
    Ok(())
}

/// The associated data `field` of the record `key` was sealed with: the same the use cases bind
/// it to, so the re-sealed value opens where it is used.
fn associated_data(field: SealedField, key: &str) -> Option<String> {
    let connection = |name: &str| RefId::parse(key).ok().map(|ref_id| connection_aad(&ref_id, name));
    match field {
        SealedField::ConnectionApiKey => connection("api_key"),
        SealedField::ConnectionAccessToken => connection("access_token"),
        SealedField::ConnectionRefreshToken => connection("refresh_token"),
        SealedField::FlowPkceVerifier => Some(flow_aad(key)),
        // `issuer client_id`: an issuer holds no whitespace, so the first space ends it.
        SealedField::RegistrationClientSecret => key.split_once(' ').map(|(issuer, _)| registration_aad(issuer)),
        SealedField::BindingClientSecret => RefId::parse(key).ok().map(|ref_id| binding_aad(&ref_id)),
        SealedField::BindingIdpClientSecret => RefId::parse(key).ok().map(|ref_id| idp_aad(&ref_id)),
        SealedField::WebhookSecret => WebhookId::parse(key).ok().map(|id| webhook_aad(&id, "secret")),
        SealedField::WebhookPreviousSecret => WebhookId::parse(key).ok().map(|id| webhook_aad(&id, "previous_secret")),
    }
}

#[cfg(test)]
mod tests;
