//! An authorization server's refusal on the callback (`error`, `error_description`, RFC 6749
//! §4.1.2.1). Whoever reaches the callback can write both, so what the service shows (its page,
//! error answers, `status_reason`) is fixed words per known code, and the provider's own text
//! goes only to the audit trail, cleaned and cut short.

use domain::text::cleaned;
use ports::OAuthError;

use crate::Error;

/// Longest error code the audit trail keeps.
const MAX_CODE_CHARS: usize = 64;
/// Longest description the audit trail keeps.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// RFC 6749 §4.1.2.1's codes other than `access_denied`, each with the words shown for it.
const KNOWN: [(&str, &str); 6] = [
    ("invalid_request", "the authorization server found the request malformed (invalid_request)"),
    ("unauthorized_client", "the authorization server does not let this client ask for a code (unauthorized_client)"),
    ("unsupported_response_type", "the authorization server does not issue codes this way (unsupported_response_type)"),
    ("invalid_scope", "the authorization server refused the requested scopes (invalid_scope)"),
    ("server_error", "the authorization server met an unexpected error (server_error)"),
    (
        "temporarily_unavailable",
        "the authorization server is unavailable for now; try again later (temporarily_unavailable)",
    ),
];

/// What any other code is shown as: it is not repeated.
const UNKNOWN: &str = "the authorization server refused with an error code outside RFC 6749";

/// RFC 6749 §5.2's codes, each with the words shown when a token endpoint answers it.
const TOKEN_KNOWN: [(&str, &str); 6] = [
    ("invalid_request", "the authorization server found the token request malformed (invalid_request)"),
    ("invalid_client", "the authorization server does not accept this client (invalid_client)"),
    ("invalid_grant", "the authorization server refused the code or grant (invalid_grant)"),
    ("unauthorized_client", "the authorization server does not let this client use this grant (unauthorized_client)"),
    ("unsupported_grant_type", "the authorization server does not support this grant (unsupported_grant_type)"),
    ("invalid_scope", "the authorization server refused the requested scopes (invalid_scope)"),
];

/// What a token endpoint's other codes are shown as: they are not repeated.
const TOKEN_UNKNOWN: &str = "the authorization server refused the token request with an error code outside RFC 6749";

/// The fixed words for a token endpoint's refusal with `code` (RFC 6749 §5.2).
pub(crate) fn token_words(code: &str) -> &'static str {
    TOKEN_KNOWN.iter().find(|(known, _)| *known == code).map_or(TOKEN_UNKNOWN, |(_, words)| words)
}

/// A token endpoint's failure (a code exchange or a refresh): the words shown (fixed words for a
/// refusal) and, for a refusal, the server's own words for the audit trail.
pub(crate) fn token_failure(e: &OAuthError) -> (String, Option<String>) {
    match e {
        OAuthError::Rejected { code, description } => {
            (token_words(code).to_owned(), Some(audit_detail(code, description.as_deref())))
        }
        other => (other.to_string(), None),
    }
}

/// The error a refusal with `code` answers: `OAUTH_ACCESS_DENIED` for `access_denied`, else
/// `MCP_CONNECTION_FAILED` at the `authorization` step, always in fixed words.
pub(crate) fn error(code: &str) -> Error {
    if code == "access_denied" {
        return Error::AccessDenied;
    }
    let message = KNOWN.iter().find(|(known, _)| *known == code).map_or(UNKNOWN, |(_, words)| words);
    Error::Provider { step: "authorization", message: message.to_owned() }
}

/// The provider's own words for the audit trail: `code: description`, each without control or
/// bidirectional formatting characters and cut short.
pub(crate) fn audit_detail(code: &str, description: Option<&str>) -> String {
    let code = cleaned(code, MAX_CODE_CHARS);
    match description.map(|d| cleaned(d, MAX_DESCRIPTION_CHARS)) {
        Some(description) if !description.is_empty() => format!("{code}: {description}"),
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rfc_6749_code_has_its_own_fixed_words_naming_it() {
        assert!(matches!(error("access_denied"), Error::AccessDenied));
        for (code, _) in KNOWN {
            let shown = error(code).to_string();
            assert!(shown.starts_with("authorization failed: ") && shown.ends_with(&format!("({code})")), "{shown}");
        }
    }

    #[test]
    fn any_other_code_is_shown_as_unknown_and_never_repeated() {
        for code in ["login_required", "<b>call 555</b>", "ACCESS_DENIED", ""] {
            let shown = error(code).to_string();
            assert_eq!(shown, format!("authorization failed: {UNKNOWN}"));
        }
    }

    #[test]
    fn the_audit_detail_keeps_the_providers_words_cleaned_and_cut_short() {
        let description = format!("\u{202E}<b>no</b>\n{}", "x".repeat(300));
        let detail = audit_detail("access_denied\u{7}", Some(&description));
        assert_eq!(detail, format!("access_denied: <b>no</b>{}…", "x".repeat(191)));
        assert_eq!(audit_detail(&"e".repeat(100), Some("")), format!("{}…", "e".repeat(64)));
    }

    #[test]
    fn a_token_endpoints_code_is_shown_in_fixed_words_and_an_unknown_one_never_repeated() {
        assert!(token_words("invalid_grant").ends_with("(invalid_grant)"));
        for code in ["<b>call 555</b>", "\u{202E}gnp", "server_error"] {
            assert_eq!(token_words(code), TOKEN_UNKNOWN, "{code:?}");
        }
    }
}
