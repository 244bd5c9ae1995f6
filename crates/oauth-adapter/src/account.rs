//! Who signed in, as a token response says: the fields read besides the tokens, and the
//! [`Account`] they name (docs/decisions.md, "Who signed in: the account a token response
//! names").
//!
//! In order: an OIDC `id_token`'s `email`, else its `sub` (the JWT payload is decoded, not
//! verified: the service holds no key for it, and it came over TLS from the token endpoint the
//! service called itself); else Notion's `owner.user.person.email`, Slack's `authed_user.id`,
//! Dropbox's `account_id`. Each field is read as any JSON, so a value of an unexpected shape
//! names nobody and never fails the exchange. Only the account leaves this module.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Account, Scopes};
use oauth2::basic::BasicTokenType;
use oauth2::{ExtraTokenFields, StandardTokenResponse, TokenResponse};
use ports::{OAuthError, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A token response with the fields that may name who signed in.
pub(crate) type AccountTokenResponse = StandardTokenResponse<AccountFields, BasicTokenType>;

/// The fields of a token response that may name who signed in. Its `Debug` shows none of them:
/// an `id_token` is a credential of its own, and Slack's `authed_user` holds a user token.
#[derive(Default, Deserialize, Serialize)]
pub(crate) struct AccountFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authed_user: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<Value>,
}

impl std::fmt::Debug for AccountFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountFields").finish_non_exhaustive()
    }
}

impl ExtraTokenFields for AccountFields {}

impl AccountFields {
    /// The account these fields name, cleaned (`Account::from_provider`); `None` when none does.
    pub(crate) fn account(&self) -> Option<Account> {
        let claims = self.id_token.as_ref().and_then(Value::as_str).and_then(jwt_claims);
        // An email the provider has not verified may be anyone's to claim: then the subject.
        let verified = claims
            .as_ref()
            .and_then(|c| c.get("email_verified"))
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        let said = [
            claims.as_ref().and_then(|c| c.get("email")).filter(|_| verified),
            claims.as_ref().and_then(|c| c.get("sub")),
            self.owner.as_ref().and_then(|o| o.pointer("/user/person/email")),
            self.authed_user.as_ref().and_then(|u| u.get("id")),
            self.account_id.as_ref(),
        ];
        said.into_iter().flatten().filter_map(Value::as_str).find_map(Account::from_provider)
    }
}

/// The claims of a JWS compact serialization (`header.payload.signature`), not verified; `None`
/// when it is not one or its payload is not a JSON object.
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

/// The port's token set of a token response (any grant's).
pub(crate) fn token_set(response: AccountTokenResponse) -> Result<TokenSet, OAuthError> {
    let scopes = response
        .scopes()
        .map(|granted| Scopes::from_tokens(granted.iter().map(|s| s.as_str())))
        .transpose()
        .map_err(|e| OAuthError::InvalidResponse(format!("the granted scope is invalid: {e}")))?;
    let access_token = response.access_token().secret();
    if access_token.is_empty() {
        return Err(OAuthError::InvalidResponse("not an OAuth token response: the access token is empty".to_owned()));
    }
    Ok(TokenSet {
        access_token: SecretString::from(access_token.clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone()))
            .filter(|t| !t.expose_secret().is_empty()),
        expires_in: response.expires_in().map(|d| d.as_secs()),
        scopes,
        account: response.extra_fields().account(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// An id_token with these claims, signed by nobody.
    fn id_token(claims: &Value) -> String {
        format!("{}.{}.c2lnbmF0dXJl", b64(&json!({"alg": "RS256", "kid": "k1"})), b64(claims))
    }

    fn account_of(fields: Value) -> Option<String> {
        let parsed: AccountFields = serde_json::from_value(fields).expect("any fields parse");
        parsed.account().map(|a| a.as_str().to_owned())
    }

    #[test]
    fn an_id_token_names_its_verified_email_before_its_subject() {
        let claims =
            json!({"sub": "248289761001", "email": "ada@example.com", "email_verified": true, "iss": "https://as"});
        assert_eq!(account_of(json!({"id_token": id_token(&claims)})).as_deref(), Some("ada@example.com"));
        for unverified in [json!(false), json!("false"), json!(null)] {
            let claims = json!({"sub": "248289761001", "email": "ada@example.com", "email_verified": unverified});
            let named = account_of(json!({"id_token": id_token(&claims)}));
            assert_eq!(named.as_deref(), Some("248289761001"), "an unverified email is not the account");
        }
        let silent = json!({"sub": "248289761001", "email": "ada@example.com"});
        assert_eq!(account_of(json!({"id_token": id_token(&silent)})).as_deref(), Some("248289761001"));
    }

    #[test]
    fn an_id_token_without_an_email_names_its_subject() {
        let token = id_token(&json!({"sub": "248289761001"}));
        assert_eq!(account_of(json!({"id_token": token})).as_deref(), Some("248289761001"));
    }

    #[test]
    fn an_id_token_that_does_not_decode_names_nobody_and_the_next_source_is_read() {
        for bad in [
            json!("not-a-jwt"),
            json!("a.b"),
            json!("a.!!!.c"),
            json!(format!("h.{}.s", URL_SAFE_NO_PAD.encode("not json"))),
            json!(format!("h.{}.s", b64(&json!(["an", "array"])))),
            json!(format!("h.{}.s.extra.part", b64(&json!({"sub": "jwe"})))),
            json!(id_token(&json!({"sub": 42, "email": null}))),
            json!(42),
            json!({"nested": "object"}),
        ] {
            assert_eq!(account_of(json!({"id_token": bad})), None, "{bad}");
            assert_eq!(account_of(json!({"id_token": bad, "account_id": "dbid:x"})).as_deref(), Some("dbid:x"));
        }
    }

    #[test]
    fn well_known_providers_fields_name_the_account_and_never_their_tokens() {
        let slack = json!({"authed_user": {"id": "U0123ABC", "access_token": "xoxp-user-secret", "scope": "x"}});
        assert_eq!(account_of(slack).as_deref(), Some("U0123ABC"));
        let notion = json!({"owner": {"type": "user", "user": {"id": "u-1", "person": {"email": "ada@example.com"}}}});
        assert_eq!(account_of(notion).as_deref(), Some("ada@example.com"));
        assert_eq!(account_of(json!({"account_id": "dbid:AAH4f99"})).as_deref(), Some("dbid:AAH4f99"));
        let slack_token_only = json!({"authed_user": {"access_token": "xoxp-user-secret"}});
        assert_eq!(account_of(slack_token_only), None, "a secret beside the id is never the account");
        assert_eq!(account_of(json!({"authed_user": "U1", "owner": 3, "account_id": []})), None, "odd shapes");
    }

    #[test]
    fn an_id_token_wins_over_a_providers_own_field() {
        let both = json!({"id_token": id_token(&json!({"sub": "oidc-sub"})), "authed_user": {"id": "U1"}});
        assert_eq!(account_of(both).as_deref(), Some("oidc-sub"));
    }

    #[test]
    fn a_hostile_account_is_cleaned_and_cut() {
        let hostile = "\u{202E}moc.live\u{2066}@ada\n\u{7}\u{200B}";
        let token = id_token(&json!({"email": hostile, "email_verified": true, "sub": "s"}));
        assert_eq!(account_of(json!({"id_token": token})).as_deref(), Some("moc.live@ada"));
        let long = account_of(json!({"account_id": "x".repeat(10_000)})).expect("cut, not dropped");
        assert_eq!(long.chars().count(), Account::MAX_CHARS);
        let blank = id_token(&json!({"email": "\u{202E}\u{200F} ", "email_verified": true, "sub": "the-subject"}));
        assert_eq!(account_of(json!({"id_token": blank})).as_deref(), Some("the-subject"), "nothing left: next");
    }

    #[test]
    fn a_token_response_with_an_odd_id_token_still_parses_with_its_tokens() {
        for id_token in [json!(42), json!("garbage"), json!({"a": 1}), json!(null)] {
            let body = json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token});
            let parsed: AccountTokenResponse = serde_json::from_value(body).expect("the exchange does not fail");
            assert_eq!(parsed.extra_fields().account(), None);
        }
    }

    #[test]
    fn the_fields_debug_shows_no_token() {
        let token = id_token(&json!({"sub": "s"}));
        let fields: AccountFields = serde_json::from_value(json!({"id_token": token})).expect("parse");
        assert!(!format!("{fields:?}").contains(&token));
    }
}
