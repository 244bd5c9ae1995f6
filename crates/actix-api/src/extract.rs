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
        JsonPayloadError::Payload(e) if BodyTimedOut::caused(e) => BodyTimedOut::answer(),
        JsonPayloadError::ContentType => ApiError::invalid_request("Content-Type must be application/json"),
        JsonPayloadError::Deserialize(e) => body_error(e, None),
        _ => ApiError::invalid_request("the request body could not be read"),
    }
}

/// The answer to a body (or the object `parent` within it) that does not deserialize: a field
/// the body does not have is `422 VALIDATION_ERROR` naming it by its path (bodies that list
/// their fields refuse the others rather than drop them); anything else is `400
/// INVALID_REQUEST`.
pub(crate) fn body_error(e: &serde_json::Error, parent: Option<&'static str>) -> ApiError {
    match unknown_field(&e.to_string()) {
        Some(name) => unknown_field_error(&name, parent),
        None => ApiError::invalid_request(describe_json_error(e)),
    }
}

/// A JSON body read as `T`, refusing what `T` would silently drop: for bodies whose type must
/// stay lenient elsewhere (the callback's parameters are also a browser query, where providers
/// add their own), so `deny_unknown_fields` cannot be on the type itself.
/// A JSON body that must be an object, read as `T`. serde reads a struct from an array too
/// (field by field, in order), which a client never means: `[null, null]` is refused here,
/// `400 INVALID_REQUEST`, as any body that is not an object. Read from the body's text, so a
/// field sent twice stays refused.
pub(crate) struct JsonObject<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let raw = web::Json::<Box<serde_json::value::RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let raw = raw.await?;
            if !raw.get().starts_with('{') {
                return Err(ApiError::invalid_request("the body must be a JSON object").into());
            }
            serde_json::from_str(raw.get()).map(JsonObject).map_err(|e| body_error(&e, None).into())
        })
    }
}

/// The schemas of the bodies read with [`strict_body`] (the OpenAPI document closes them).
pub(crate) const STRICT_BODIES: [&str; 1] = ["CallbackParams"];

/// Read from the body's text (not a parsed `Value`, which would keep only the last of two equal
/// keys), so a field sent twice stays refused; the body must be a JSON object.
pub(crate) fn strict_body<T: serde::de::DeserializeOwned>(body: &serde_json::value::RawValue) -> Result<T, ApiError> {
    if !body.get().starts_with('{') {
        return Err(ApiError::invalid_request("the body must be a JSON object"));
    }
    let mut ignored = None;
    let mut json = serde_json::Deserializer::from_str(body.get());
    let parsed: T = serde_ignored::deserialize(&mut json, |path| {
        ignored.get_or_insert_with(|| path.to_string());
    })
    .map_err(|e| body_error(&e, None))?;
    match ignored {
        Some(name) => Err(unknown_field_error(&name, None)),
        None => Ok(parsed),
    }
}

/// `422 VALIDATION_ERROR` for the unknown field `name` (of the object `parent`).
fn unknown_field_error(name: &str, parent: Option<&'static str>) -> ApiError {
    let named = plain_name(name);
    let field = match (parent, named) {
        (Some(parent), Some(name)) => format!("{parent}.{name}"),
        (Some(parent), None) => format!("{parent}.*"),
        (None, Some(name)) => name.to_owned(),
        (None, None) => "*".to_owned(),
    };
    let message = match named {
        Some(_) => format!("{field}: unknown field"),
        None => format!("{field}: an unknown field (its name is not repeated)"),
    };
    ApiError::validation(field, message)
}

/// The field serde's `deny_unknown_fields` refused, from its message.
fn unknown_field(message: &str) -> Option<String> {
    // "unknown field `name`, expected one of `a`, `b`" (the list is ours, so the last
    // "`, expected" ends the name, whatever the name holds).
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.rfind("`, expected ").or_else(|| rest.rfind("`, there are no fields"))?;
    Some(rest[..end].to_owned())
}

/// A field name that is safe to repeat: 1 to 64 letters, digits, `_` or `-`. Any other name
/// (control or bidi characters, spaces, a pasted secret) is reported without being repeated.
pub(crate) fn plain_name(name: &str) -> Option<&str> {
    let plain = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    plain.then_some(name)
}

/// A description of a JSON error that names the position and, for a missing or unknown field,
/// the field; never the offending value.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    // A value read again from parsed JSON has no position (line 0).
    let at = if e.line() == 0 { String::new() } else { format!(" (line {} column {})", e.line(), e.column()) };
    match e.classify() {
        Category::Syntax => format!("the body is not valid JSON{at}"),
        Category::Eof => "the body ends before the JSON does".to_owned(),
        Category::Io => "the request body could not be read".to_owned(),
        Category::Data => format!("{}{at}", describe_serde_message(&e.to_string())),
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        url: Option<String>,
        transport: Option<String>,
    }

    fn unknown(input: &str) -> ApiError {
        body_error(&serde_json::from_str::<Strict>(input).unwrap_err(), Some("server_config"))
    }

    #[test]
    fn an_unknown_field_is_a_validation_error_named_by_its_path() {
        let e = unknown(r#"{"urll":"https://x.example"}"#);
        assert_eq!((e.code, e.details.field.as_deref()), (ErrorCode::ValidationError, Some("server_config.urll")));
        assert!(!e.message.contains("x.example"), "{}", e.message);
    }

    #[test]
    fn an_unknown_field_whose_name_is_not_plain_is_never_repeated() {
        for name in ["a`, expected `url`", "sk live", "\\u202eab", &"k".repeat(65)] {
            let e = unknown(&format!(r#"{{"{name}":1}}"#));
            assert_eq!(e.details.field.as_deref(), Some("server_config.*"), "{name}");
            assert!(!e.message.contains("sk") && !e.message.contains("kkk"), "{}", e.message);
        }
    }

    #[test]
    fn a_syntax_error_names_its_position() {
        assert_eq!(describe("{\"server_name\": }"), "the body is not valid JSON (line 1 column 17)");
    }
}
