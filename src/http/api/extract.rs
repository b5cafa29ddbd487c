//! Extractors for path parameters and JSON bodies whose rejections are the API's own JSON errors, naming the
//! field at fault in `details.field` wherever there is one.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// Path parameters; a malformed one (an id that is not a UUID) is a JSON error like any other.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(e) => Err(AppError::not_found("not_found", format!("no such resource: {}", e.body_text()))),
        }
    }
}

/// Query parameters; a bad one is a 422 `invalid_query` naming it in `details.field`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        query_params(parts.uri.query().unwrap_or("")).map(Self)
    }
}

/// Deserialises `application/x-www-form-urlencoded` query parameters; the one at fault is named.
pub fn query_params<T: DeserializeOwned>(encoded: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let (path, message) = (e.path().to_string(), e.inner().to_string());
        let field = field_of(&path, &message);
        let error = AppError::unprocessable(
            "invalid_query",
            match &field {
                Some(f) if !message.contains(f.as_str()) => format!("{f}: {message}"),
                _ => message,
            },
        );
        match field {
            Some(f) => error.with_field(&f),
            None => error,
        }
    })
}

/// A JSON request body. Request types deny unknown fields, so a misspelt field is an error that names it
/// rather than a silently ignored value.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        if !is_json(&parts) {
            return Err(AppError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::to_bytes(body, state.settings.http.max_body_bytes).await.map_err(|_| {
            AppError::client(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is too large")
        })?;
        // PostgreSQL text cannot hold NUL, and no field of this API has a use for one.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(AppError::unprocessable("invalid_body", "text must not contain NUL characters (\\u0000)"));
        }
        json_body(&bytes).map(Self)
    }
}

/// `application/json`, or any `+json` type, as axum's own `Json` accepts.
fn is_json(parts: &Parts) -> bool {
    let Some(value) = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserialises a JSON body: a value of the wrong shape is a 422 `invalid_body` naming its field (`template.id`,
/// `attachments[2]`); text that is not JSON is a 400 `malformed_body`.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(AppError::bad_request("malformed_body", format!("the body is not valid JSON: {e}"))),
        },
        Err(e) if e.inner().classify() == serde_json::error::Category::Data => {
            let field = field_of(&e.path().to_string(), &e.inner().to_string());
            let message = match &field {
                Some(f) => format!("{f}: {}", without_position(&e.inner().to_string())),
                None => without_position(&e.inner().to_string()).to_owned(),
            };
            let error = AppError::unprocessable("invalid_body", message);
            Err(match field {
                Some(f) => error.with_field(&f),
                None => error,
            })
        }
        Err(e) => Err(AppError::bad_request("malformed_body", format!("the body is not valid JSON: {}", e.inner()))),
    }
}

/// The field an error is about: the path where it happened, completed by the field serde names for a missing
/// field (that error happens on the object that holds it; an unknown field's path already ends with it).
pub fn field_of(path: &str, message: &str) -> Option<String> {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.find(p).map(|i| &message[i + p.len()..]))
        .and_then(|rest| rest.split('`').next())
        .filter(|f| !f.is_empty());
    let path = if path == "." { "" } else { path };
    match (path, named) {
        ("", None) => None,
        ("", Some(f)) => Some(f.to_owned()),
        (p, None) => Some(p.to_owned()),
        (p, Some(f)) if p == f || p.ends_with(&format!(".{f}")) => Some(p.to_owned()),
        (p, Some(f)) => Some(format!("{p}.{f}")),
    }
}

/// serde_json's message without its " at line 1 column 7" tail.
fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Draft {
        body: String,
        template: Option<Template>,
        #[serde(default)]
        attachments: Vec<uuid::Uuid>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Template {
        id: uuid::Uuid,
    }

    fn field(body: &str) -> Option<serde_json::Value> {
        match json_body::<Draft>(body.as_bytes()) {
            Err(AppError::Client { code: "invalid_body", details, .. }) => details.map(|d| d["field"].clone()),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_value_of_the_wrong_shape_names_its_field() {
        assert_eq!(field(r#"{"body": 5}"#), Some("body".into()));
        assert_eq!(field(r#"{"body": "x", "template": {"id": "nope"}}"#), Some("template.id".into()));
        assert_eq!(field(r#"{"body": "x", "attachments": ["a"]}"#), Some("attachments[0]".into()));
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        assert_eq!(field(r#"{}"#), Some("body".into()));
        assert_eq!(field(r#"{"body": "x", "bdy": 1}"#), Some("bdy".into()));
        assert_eq!(
            field(r#"{"body": "x", "template": {"id": "0190c0de-0000-7000-8000-000000000000", "x": 1}}"#),
            Some("template.x".into())
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filters {
        limit: Option<i64>,
        direction: Option<String>,
    }

    #[test]
    fn a_bad_query_parameter_is_named() {
        let field = |q: &str| match query_params::<Filters>(q) {
            Err(AppError::Client { code: "invalid_query", details, .. }) => details.map(|d| d["field"].clone()),
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(field("limit=many"), Some("limit".into()));
        assert_eq!(field("direction=in&sort_by=x"), Some("sort_by".into()));
        assert!(query_params::<Filters>("limit=5&direction=inbound").is_ok());
    }

    #[test]
    fn text_that_is_not_json_is_malformed() {
        assert!(matches!(json_body::<Draft>(b"{\"body\": "), Err(AppError::Client { code: "malformed_body", .. })));
        assert!(matches!(
            json_body::<Draft>(br#"{"body": "x"} x"#),
            Err(AppError::Client { code: "malformed_body", .. })
        ));
    }
}
