//! The re-encryption walk against an in-memory store and a toy two-key cipher.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::RefId;
use ports::{Cipher, CipherError, RekeyStore, Sealed, SealedEntry, SealedField, StoreError};
use secrecy::{ExposeSecret, SecretString};

use super::{ReencryptReport, associated_data, reencrypt_all};
use crate::use_cases::registration_aad;

/// Seals as `<key id> <aad>|<plaintext>`: enough to tell which key sealed a value and to refuse
/// one bound to another record, with none of the cryptography.
struct ToyCipher {
    current: u8,
    previous: Vec<u8>,
}

impl Cipher for ToyCipher {
    fn seal(&self, plaintext: &SecretString, aad: &str) -> Sealed {
        let mut bytes = vec![self.current];
        bytes.extend_from_slice(format!("{aad}|{}", plaintext.expose_secret()).as_bytes());
        Sealed(bytes)
    }

    fn open(&self, sealed: &Sealed, aad: &str) -> Result<SecretString, CipherError> {
        let (id, rest) = sealed.0.split_first().ok_or(CipherError::Corrupt)?;
        if *id != self.current && !self.previous.contains(id) {
            return Err(CipherError::UnknownKey(id.to_string()));
        }
        let text = std::str::from_utf8(rest).map_err(|_| CipherError::Corrupt)?;
        let (bound, plain) = text.split_once('|').ok_or(CipherError::Corrupt)?;
        if bound == aad { Ok(SecretString::from(plain.to_owned())) } else { Err(CipherError::Corrupt) }
    }

    fn is_current(&self, sealed: &Sealed) -> bool {
        sealed.0.first() == Some(&self.current)
    }
}

type Values = BTreeMap<(usize, String), Sealed>;

/// A concurrent writer, run after each read of a field.
type Interference = Box<dyn Fn(SealedField, &mut Values) + Send + Sync>;

/// Sealed values by field and key. `interfere` runs after every read, to play a concurrent writer;
/// `fail_after` makes the store go down after that many replacements.
#[derive(Default)]
struct MemoryRekey {
    values: Mutex<Values>,
    interfere: Option<Interference>,
    fail_after: Mutex<Option<usize>>,
}

fn slot(field: SealedField) -> usize {
    SealedField::ALL.iter().position(|f| *f == field).unwrap()
}

#[async_trait]
impl RekeyStore for MemoryRekey {
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError> {
        let mut values = self.values.lock().unwrap();
        let batch = values
            .iter()
            .filter(|((f, key), _)| *f == slot(field) && key.as_str() > after.unwrap_or_default())
            .take(limit as usize)
            .map(|((_, key), sealed)| SealedEntry { key: key.clone(), sealed: sealed.clone() })
            .collect();
        if let Some(interfere) = &self.interfere {
            interfere(field, &mut values);
        }
        Ok(batch)
    }

    async fn replace_sealed(
        &self,
        field: SealedField,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        if let Some(left) = self.fail_after.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(StoreError::Unavailable("the database went away".into()));
            }
            *left -= 1;
        }
        let mut values = self.values.lock().unwrap();
        match values.get_mut(&(slot(field), key.to_owned())) {
            Some(value) if value == old => {
                *value = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn ref_id(n: u8) -> String {
    RefId::from_random([n; 16]).as_str().to_owned()
}

fn plaintext(field: SealedField, key: &str) -> String {
    format!("secret of {} in {key}", field.as_str())
}

/// A store with `per_field` values in every field, sealed by `old`.
fn store_sealed_by(old: &ToyCipher, per_field: u8) -> MemoryRekey {
    let store = MemoryRekey::default();
    let mut values = store.values.lock().unwrap();
    for field in SealedField::ALL {
        for n in 0..per_field {
            let key = match field {
                SealedField::FlowPkceVerifier => format!("{:064x}", u128::from(n) * 7919),
                SealedField::RegistrationClientSecret => format!("https://auth{n}.example client-{n}"),
                SealedField::WebhookSecret | SealedField::WebhookPreviousSecret => {
                    domain::WebhookId::from_random([n; 16]).as_str().to_owned()
                }
                _ => ref_id(n),
            };
            let aad = associated_data(field, &key).unwrap();
            let sealed = old.seal(&SecretString::from(plaintext(field, &key)), &aad);
            values.insert((slot(field), key), sealed);
        }
    }
    drop(values);
    store
}

fn rotated() -> (ToyCipher, ToyCipher) {
    (ToyCipher { current: 1, previous: vec![] }, ToyCipher { current: 2, previous: vec![1] })
}

fn assert_all_current_and_intact(store: &MemoryRekey, cipher: &ToyCipher) {
    for ((index, key), sealed) in store.values.lock().unwrap().iter() {
        let field = SealedField::ALL[*index];
        assert!(cipher.is_current(sealed), "{} of {key} is under the current key", field.as_str());
        let opened = cipher.open(sealed, &associated_data(field, key).unwrap()).expect("opens where it is used");
        assert_eq!(opened.expose_secret(), plaintext(field, key));
    }
}

/// How many sealed fields there are: each test seals the same number of values in every one.
const FIELDS: u64 = SealedField::ALL.len() as u64;

#[tokio::test]
async fn every_value_under_an_old_key_is_resealed_under_the_current_one_and_still_opens() {
    let (old, new) = rotated();
    let store = store_sealed_by(&old, 7);
    let mut batches = 0;
    let report = reencrypt_all(&store, &new, 3, |_, _| batches += 1).await.unwrap();

    assert_eq!(report, ReencryptReport { reencrypted: 7 * FIELDS, ..ReencryptReport::default() });
    assert_all_current_and_intact(&store, &new);
    assert_eq!(batches, FIELDS * 3, "seven values per field in batches of three: three reads each");
}

#[tokio::test]
async fn a_second_run_finds_nothing_left_to_do() {
    let (old, new) = rotated();
    let store = store_sealed_by(&old, 4);
    reencrypt_all(&store, &new, 2, |_, _| {}).await.unwrap();
    let before = store.values.lock().unwrap().clone();

    let again = reencrypt_all(&store, &new, 2, |_, _| {}).await.unwrap();
    assert_eq!(again, ReencryptReport { already_current: 4 * FIELDS, ..ReencryptReport::default() });
    assert_eq!(*store.values.lock().unwrap(), before, "nothing was rewritten");
}

#[tokio::test]
async fn a_run_stopped_by_an_outage_resumes_and_finishes_without_losing_a_value() {
    let (old, new) = rotated();
    let store = store_sealed_by(&old, 5);
    *store.fail_after.lock().unwrap() = Some(8);
    let stopped = reencrypt_all(&store, &new, 3, |_, _| {}).await;
    assert!(matches!(stopped, Err(crate::Error::Unavailable(_))), "the outage stops the walk");

    *store.fail_after.lock().unwrap() = None;
    let resumed = reencrypt_all(&store, &new, 3, |_, _| {}).await.unwrap();
    assert_eq!((resumed.already_current, resumed.reencrypted), (8, 5 * FIELDS - 8));
    assert_all_current_and_intact(&store, &new);
}

#[tokio::test]
async fn a_value_changed_after_it_was_read_keeps_the_newer_value() {
    let (old, new) = rotated();
    let mut store = store_sealed_by(&old, 2);
    let key = ref_id(1);
    let refreshed =
        new.seal(&SecretString::from("a rotated refresh token"), &format!("connections/{key}/refresh_token"));
    let written = refreshed.clone();
    let target = (slot(SealedField::ConnectionRefreshToken), key.clone());
    // The refresh lands right after the walk read the old refresh token.
    store.interfere = Some(Box::new(move |field, values| {
        if field == SealedField::ConnectionRefreshToken {
            values.insert(target.clone(), written.clone());
        }
    }));

    let report = reencrypt_all(&store, &new, 10, |_, _| {}).await.unwrap();
    assert_eq!(report.changed_meanwhile, 1);
    assert_eq!(report.reencrypted, 2 * FIELDS - 1);
    let stored = store.values.lock().unwrap()[&(slot(SealedField::ConnectionRefreshToken), key)].clone();
    assert_eq!(stored, refreshed, "the concurrent refresh wins over the re-encryption of the old token");
}

#[tokio::test]
async fn a_value_under_an_unknown_key_or_bound_to_another_record_is_left_and_counted() {
    let (old, new) = rotated();
    let store = store_sealed_by(&old, 2);
    let stranger = ToyCipher { current: 9, previous: vec![] };
    let (api_key, moved) = (slot(SealedField::ConnectionApiKey), slot(SealedField::ConnectionAccessToken));
    {
        let mut values = store.values.lock().unwrap();
        let foreign = stranger.seal(&SecretString::from("x"), &format!("connections/{}/api_key", ref_id(0)));
        values.insert((api_key, ref_id(0)), foreign);
        let elsewhere = values[&(moved, ref_id(0))].clone();
        values.insert((moved, ref_id(1)), elsewhere);
    }
    let before = store.values.lock().unwrap().clone();

    let report = reencrypt_all(&store, &new, 10, |_, _| {}).await.unwrap();
    assert_eq!(report.unreadable, 2);
    assert_eq!(report.reencrypted, 2 * FIELDS - 2);
    assert_eq!(report.examined(), 2 * FIELDS);
    let values = store.values.lock().unwrap();
    for target in [(api_key, ref_id(0)), (moved, ref_id(1))] {
        assert_eq!(values[&target], before[&target], "left exactly as it was");
    }
}

#[test]
fn a_client_secret_is_resealed_for_the_issuer_its_registration_key_starts_with() {
    let aad = associated_data(SealedField::RegistrationClientSecret, "https://as.example/tenant client 7");
    assert_eq!(aad, Some(registration_aad("https://as.example/tenant")));
    assert_eq!(associated_data(SealedField::RegistrationClientSecret, "no-client-id"), None);
}
