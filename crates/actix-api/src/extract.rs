//! Extractor configuration: every malformed request becomes a contract error, and no error
//! message ever repeats a value from the request (it could be a secret).

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::web;

use crate::body_deadline::BodyTimedOut;
use crate::{ApiError, ErrorCode, MAX_BODY_BYTES};

pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .error_handler(|err, _req| json_error(&err).into())
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match err {
            QueryPayloadError::Deserialize(e) => describe_serde_message(&e.to_string()),
            _ => "the query string is malformed".to_owned(),
        };
        ApiError::invalid_request(message).into()
    })
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, _req| ApiError::not_found().into())
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("the request body is larger than {MAX_BODY_BYTES} bytes"))
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => too_large(),
        JsonPayloadError::Payload(PayloadError::Overflow) => too_large(),
        JsonPayloadError::Payload(e) if BodyTimedOut::caused(e) => {
            ApiError::new(ErrorCode::RequestTimeout, "the request body did not arrive in time")
        }
        JsonPayloadError::ContentType => ApiError::invalid_request("Content-Type must be application/json"),
        JsonPayloadError::Deserialize(e) => ApiError::invalid_request(describe_json_error(e)),
        _ => ApiError::invalid_request("the request body could not be read"),
    }
}

/// A description of a JSON error that names the position and, for a missing or unknown field,
/// the field; never the offending value.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax => format!("the body is not valid JSON ({at})"),
        Category::Eof => "the body ends before the JSON does".to_owned(),
        Category::Io => "the request body could not be read".to_owned(),
        Category::Data => format!("{} ({at})", describe_serde_message(&e.to_string())),
    }
}

/// serde's data errors quote the value they choke on; keep only messages that quote our own
/// field names.
fn describe_serde_message(message: &str) -> String {
    for prefix in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some(field) = rest.split('`').next().filter(|f| f.len() <= 64) {
                let what = prefix.trim_end_matches(" `");
                return format!("{what} `{field}`");
            }
        }
    }
    "a field has the wrong type or an invalid value".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        server_name: String,
        server_config: Option<std::collections::HashMap<String, String>>,
    }

    fn describe(input: &str) -> String {
        describe_json_error(&serde_json::from_str::<Body>(input).unwrap_err())
    }

    #[test]
    fn a_missing_field_is_named() {
        assert!(describe("{}").starts_with("missing field `server_name`"));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_never_repeated() {
        let msg = describe(r#"{"server_name":"x","server_config":"sk-live-very-secret"}"#);
        assert!(!msg.contains("sk-live"), "{msg}");
        assert!(msg.contains("wrong type"), "{msg}");
    }

    #[test]
    fn a_syntax_error_names_its_position() {
        assert_eq!(describe("{\"server_name\": }"), "the body is not valid JSON (line 1 column 17)");
    }
}
