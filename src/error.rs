//! One error type for every HTTP answer that is not a success.
//!
//! Client errors carry a status, a stable machine-readable `code` and a sentence for people; they are answered
//! as `{"error": {"code", "message", "details"}}`. Anything else becomes an opaque 500: its cause chain is
//! logged once, here, and never shown to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Client { status: StatusCode, code: &'static str, message: String, details: Option<Value> },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Client { status, code, message: message.into(), details: None }
    }

    /// Names the request field at fault: `details: {"field": …}`.
    pub fn with_field(self, field: &str) -> Self {
        match self {
            Self::Client { status, code, message, .. } => {
                Self::Client { status, code, message, details: Some(json!({ "field": field })) }
            }
            other => other,
        }
    }

    /// Attaches machine-readable `details`.
    pub fn with_details(self, details: Value) -> Self {
        match self {
            Self::Client { status, code, message, .. } => {
                Self::Client { status, code, message, details: Some(details) }
            }
            other => other,
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::NOT_FOUND, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::FORBIDDEN, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::CONFLICT, code, message)
    }

    /// 422 `invalid_field` naming the field at fault: the answer to every value the API cannot accept.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::unprocessable("invalid_field", message).with_field(field)
    }

    /// A unique constraint the request broke, answered as the 409 that names it: `known` lists, per constraint,
    /// the code, message and field. Any other error is mapped as every database error is.
    pub fn on_conflict(e: sqlx::Error, known: &[UniqueConflict<'_>]) -> Self {
        let violated = crate::store::violated_constraint(&e);
        match known.iter().find(|k| Some(k.constraint) == violated).copied() {
            Some(k) => Self::conflict(k.code, k.message).with_field(k.field),
            None => e.into(),
        }
    }

    /// A deadlock or serialization failure: PostgreSQL aborted the transaction, and running it again may simply
    /// succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Internal(e) => e.downcast_ref::<sqlx::Error>().is_some_and(crate::store::is_transient),
            Self::Client { .. } => false,
        }
    }

    /// A client error's `{"code", "message", "details"}`, as answered inside `{"error": …}` (and kept, for
    /// example, as a batch recipient's result); `None` for an internal error, which is never explained.
    pub fn client_body(&self) -> Option<Value> {
        match self {
            Self::Client { code, message, details, .. } => {
                Some(json!({ "code": code, "message": message, "details": details }))
            }
            Self::Internal(_) => None,
        }
    }

    /// The machine code, for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Client { code, .. } => code,
            Self::Internal(_) => "internal_error",
        }
    }
}

/// A constraint the database enforces is the last line behind the API's own checks: a request that gets past
/// those and breaks one is still the client's error, answered as such rather than as a 500.
/// A value that breaks a rule of the domain: 422 `invalid_field` naming the field.
impl From<crate::domain::Invalid> for AppError {
    fn from(e: crate::domain::Invalid) -> Self {
        AppError::invalid_field(&e.field, e.message)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let constraint = db.constraint().unwrap_or_default().to_owned();
            let details = Some(json!({ "constraint": constraint }));
            let client = |status, code: &'static str, message: &str| Self::Client {
                status,
                code,
                message: message.to_owned(),
                details: details.clone(),
            };
            match db.code().as_deref() {
                Some("23505") => {
                    return client(StatusCode::CONFLICT, "conflict", "something with the same unique value exists")
                }
                Some("23503") => {
                    return client(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unknown_reference",
                        "a referenced id does not exist",
                    )
                }
                Some("23514") => {
                    return client(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_field",
                        "a value is outside what is allowed",
                    )
                }
                Some(c) if c.starts_with("22") => {
                    return client(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_value",
                        "a value could not be used as given",
                    )
                }
                _ => {}
            }
        }
        Self::Internal(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let transient = self.is_transient();
        let (status, code, message, details) = match self {
            Self::Client { status, code, message, details } => (status, code, message, details),
            Self::Internal(e) => {
                if transient {
                    tracing::info!(error = format!("{e:#}"), "transaction aborted by the database; may be run again");
                } else {
                    tracing::error!(error = format!("{e:#}"), "internal error");
                }
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "Something went wrong on our side; it has been logged.".to_owned(),
                    None,
                )
            }
        };
        // A 429 that knows when to come back says so in `Retry-After` too (RFC 9110 §10.2.3).
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| details.as_ref().and_then(|d| d["retry_after_secs"].as_u64()))
            .flatten();
        let body = json!({ "error": { "code": code, "message": message, "details": details } });
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        if transient {
            response.extensions_mut().insert(Transient);
        }
        response
    }
}

/// Marks a response whose request failed only because PostgreSQL aborted its transaction (a deadlock or a
/// serialization failure): nothing was committed, and `http::retry` runs the request again.
#[derive(Debug, Clone, Copy)]
pub struct Transient;

pub type AppResult<T> = Result<T, AppError>;

/// One unique constraint and the 409 that answers it (see [`AppError::on_conflict`]).
#[derive(Debug, Clone, Copy)]
pub struct UniqueConflict<'a> {
    pub constraint: &'a str,
    pub code: &'static str,
    pub message: &'a str,
    pub field: &'a str,
}
