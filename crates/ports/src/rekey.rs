//! The port the re-encryption command walks: every sealed value a store holds, and a
//! compare-and-swap that replaces one of them only while it still holds the bytes that were read.

use async_trait::async_trait;

use crate::{Sealed, StoreError};

/// Where a sealed value is kept: one field of one kind of record. The record's key (a `ref_id`,
/// a flow's `state_hash`, a registration's `issuer client_id`) completes the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedField {
    /// `connections.api_key`, keyed by `ref_id`.
    ConnectionApiKey,
    /// `connections.access_token`, keyed by `ref_id`.
    ConnectionAccessToken,
    /// `connections.refresh_token`, keyed by `ref_id`.
    ConnectionRefreshToken,
    /// `oauth_flows.pkce_verifier`, keyed by `state_hash`.
    FlowPkceVerifier,
    /// `client_registrations.client_secret`, keyed by `issuer client_id` (issuers hold no
    /// whitespace, so the first space ends the issuer).
    RegistrationClientSecret,
    /// `discovered_authorizations.client_secret` (a custom server's own client's secret or
    /// private key), keyed by `ref_id`.
    BindingClientSecret,
    /// `discovered_authorizations.idp_client_secret` (the service's secret at an identity
    /// provider given with a connect), keyed by `ref_id`.
    BindingIdpClientSecret,
    /// `webhooks.secret` (an endpoint's signing secret), keyed by its id.
    WebhookSecret,
    /// `webhooks.previous_secret` (the one a rotation keeps signing for a while), keyed by its id.
    WebhookPreviousSecret,
}

impl SealedField {
    /// Every field that holds a sealed value, in the order the re-encryption walks them.
    pub const ALL: [Self; 9] = [
        Self::ConnectionApiKey,
        Self::ConnectionAccessToken,
        Self::ConnectionRefreshToken,
        Self::FlowPkceVerifier,
        Self::RegistrationClientSecret,
        Self::BindingClientSecret,
        Self::BindingIdpClientSecret,
        Self::WebhookSecret,
        Self::WebhookPreviousSecret,
    ];

    /// `record.field`, for logs and reports (names no value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionApiKey => "connections.api_key",
            Self::ConnectionAccessToken => "connections.access_token",
            Self::ConnectionRefreshToken => "connections.refresh_token",
            Self::FlowPkceVerifier => "oauth_flows.pkce_verifier",
            Self::RegistrationClientSecret => "client_registrations.client_secret",
            Self::BindingClientSecret => "discovered_authorizations.client_secret",
            Self::BindingIdpClientSecret => "discovered_authorizations.idp_client_secret",
            Self::WebhookSecret => "webhooks.secret",
            Self::WebhookPreviousSecret => "webhooks.previous_secret",
        }
    }
}

/// One sealed value and the key of the record that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEntry {
    pub key: String,
    pub sealed: Sealed,
}

/// Access to every sealed value of a store, for re-encryption under a new key (spec §8) while
/// the service keeps running.
#[async_trait]
pub trait RekeyStore: Send + Sync + 'static {
    /// Up to `limit` values of `field` whose record key sorts after `after` (from the first
    /// when `None`), ordered by that key. Records where the field is empty are skipped. Walking
    /// with the last key of each batch as the next `after` visits every value once.
    async fn sealed_after(
        &self,
        field: SealedField,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedEntry>, StoreError>;

    /// Writes `new` into `field` of the record `key` if, and only if, it still holds exactly
    /// `old`, and changes nothing else (not even `updated_at`). Returns whether it did: `false`
    /// means the record is gone or its value was changed meanwhile (a refresh rotated the token),
    /// and that newer value stays.
    async fn replace_sealed(
        &self,
        field: SealedField,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError>;
}
