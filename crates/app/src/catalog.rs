use domain::{AuthSpec, ServerName, ServerSpec};
use secrecy::SecretString;

/// Whether a catalog entry can be connected to, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    Unavailable(String),
}

/// One catalog entry with what the service resolved for it at start-up.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub spec: ServerSpec,
    /// The OAuth client secret, read from the variable the entry names.
    pub client_secret: Option<SecretString>,
    pub availability: Availability,
}

impl CatalogEntry {
    /// Resolves an entry: `secret_lookup` reads the variable named by `client_secret_env`.
    pub fn resolve(spec: ServerSpec, secret_lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut client_secret = None;
        let availability = match &spec.auth {
            AuthSpec::None | AuthSpec::ApiKey(_) => Availability::Available,
            AuthSpec::OAuth(oauth) => {
                if let Some(var) = &oauth.client_secret_env {
                    client_secret = secret_lookup(var).filter(|s| !s.is_empty()).map(SecretString::from);
                }
                oauth_availability(oauth, client_secret.is_some())
            }
        };
        Self { spec, client_secret, availability }
    }

    pub fn is_available(&self) -> bool {
        self.availability == Availability::Available
    }
}

fn oauth_availability(oauth: &domain::OAuthSpec, has_secret: bool) -> Availability {
    if oauth.discovery {
        // Endpoints and (without a pre-registered client) the client come from discovery at
        // connect time; a pre-registered client still needs its secret.
        if oauth.client_id.is_some() && oauth.token_endpoint_auth_method.uses_secret() && !has_secret {
            let var = oauth.client_secret_env.as_deref().unwrap_or("(none named)");
            return Availability::Unavailable(format!("the OAuth client secret is not configured (set {var})"));
        }
        return Availability::Available;
    }
    // The client credentials grant sends no one to an authorization endpoint.
    let needs_authorization = oauth.grant == domain::OAuthGrant::AuthorizationCode;
    if (needs_authorization && oauth.authorization_endpoint.is_none()) || oauth.token_endpoint.is_none() {
        return Availability::Unavailable("the entry names no authorization or token endpoint".into());
    }
    if oauth.client_id.is_none() {
        return Availability::Unavailable("no OAuth client id is configured".into());
    }
    if oauth.token_endpoint_auth_method.uses_secret() && !has_secret {
        let var = oauth.client_secret_env.as_deref().unwrap_or("(none named)");
        return Availability::Unavailable(format!("the OAuth client secret is not configured (set {var})"));
    }
    Availability::Available
}

/// The servers the engine can connect to.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
}

impl Catalog {
    /// Builds a catalog; names must be unique (the loader reports duplicates with their position).
    pub fn new(entries: Vec<CatalogEntry>) -> Self {
        Self { entries }
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    pub fn get(&self, name: &ServerName) -> Option<&CatalogEntry> {
        self.entries.iter().find(|e| &e.spec.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{api_key_spec, oauth_spec};

    #[test]
    fn api_key_and_no_auth_entries_are_always_available() {
        let entry = CatalogEntry::resolve(api_key_spec("exa"), |_| None);
        assert!(entry.is_available());
    }

    #[test]
    fn an_oauth_entry_without_its_secret_is_unavailable_and_names_the_variable() {
        let entry = CatalogEntry::resolve(oauth_spec("acme", "https://as.example"), |_| None);
        match entry.availability {
            Availability::Unavailable(reason) => {
                assert!(reason.contains("ACME_CLIENT_SECRET"), "{reason}")
            }
            Availability::Available => panic!("should be unavailable"),
        }
    }

    #[test]
    fn an_oauth_entry_with_its_secret_is_available() {
        let entry = CatalogEntry::resolve(oauth_spec("acme", "https://as.example"), |var| {
            (var == "ACME_CLIENT_SECRET").then(|| "s3cret".to_owned())
        });
        assert!(entry.is_available());
        assert!(entry.client_secret.is_some());
    }
}
