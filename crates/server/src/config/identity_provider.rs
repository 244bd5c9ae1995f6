//! The enterprise identity provider of tenant `default` (issue 18 §4): where its users' ID
//! tokens are exchanged for ID-JAGs when a connect names no provider. Other tenants name theirs
//! in `ENGINE_KEYS_FILE`.

use app::IdentityProvider;

use super::{ConfigError, Source, invalid};

/// Tenant `default`'s identity provider. Reads (all three of the first or none):
///
/// - `IDENTITY_PROVIDER_ISSUER`: its issuer;
/// - `IDENTITY_PROVIDER_TOKEN_ENDPOINT`: its token endpoint (the token exchange);
/// - `IDENTITY_PROVIDER_CLIENT_ID`: the service's client id there;
/// - `IDENTITY_PROVIDER_CLIENT_SECRET`: that client's secret (none for a public client).
#[derive(Debug, Clone, Default)]
pub struct IdentityProviderConfig {
    pub default: Option<IdentityProvider>,
}

impl IdentityProviderConfig {
    pub(super) const VARIABLES: &'static [&'static str] = &[
        "IDENTITY_PROVIDER_ISSUER",
        "IDENTITY_PROVIDER_TOKEN_ENDPOINT",
        "IDENTITY_PROVIDER_CLIENT_ID",
        "IDENTITY_PROVIDER_CLIENT_SECRET",
    ];

    pub(super) fn read(source: &Source) -> Result<Self, ConfigError> {
        let issuer = source.text("IDENTITY_PROVIDER_ISSUER")?;
        let token_endpoint = source.text("IDENTITY_PROVIDER_TOKEN_ENDPOINT")?;
        let client_id = source.text("IDENTITY_PROVIDER_CLIENT_ID")?;
        let client_secret = source.secret("IDENTITY_PROVIDER_CLIENT_SECRET")?;
        let default = match (issuer, token_endpoint, client_id) {
            (None, None, None) if client_secret.is_none() => None,
            (Some(issuer), Some(token_endpoint), Some(client_id)) => {
                for (name, value) in
                    [("IDENTITY_PROVIDER_ISSUER", &issuer), ("IDENTITY_PROVIDER_TOKEN_ENDPOINT", &token_endpoint)]
                {
                    super::check_url(value).map_err(|why| invalid(name, why))?;
                }
                Some(IdentityProvider { issuer, token_endpoint, client_id, client_secret })
            }
            _ => {
                return Err(invalid(
                    "IDENTITY_PROVIDER_ISSUER",
                    "IDENTITY_PROVIDER_ISSUER, _TOKEN_ENDPOINT and _CLIENT_ID go together (a client secret \
                     needs them too)",
                ));
            }
        };
        Ok(Self { default })
    }
}
