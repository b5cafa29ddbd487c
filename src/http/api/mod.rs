//! The JSON API under `/api/v1`: one router per resource, thin handlers, errors as
//! `{"error": {"code", "message", "details"}}`.

mod audit;
mod auth;
mod channels;
mod numbers;
mod tokens;

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Router;
use serde::de::DeserializeOwned;

pub fn router() -> Router<AppState> {
    Router::new().nest(
        "/api/v1",
        Router::new()
            .merge(auth::router())
            .merge(channels::router())
            .merge(numbers::router())
            .merge(tokens::router())
            .merge(audit::router()),
    )
}

/// A JSON request body. Request types deny unknown fields, so a misspelt field is an error that names it
/// rather than a silently ignored value.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(AppError::unprocessable("invalid_body", e.body_text())),
            Err(e) => Err(AppError::bad_request("malformed_body", e.body_text())),
        }
    }
}

/// A page of a list: `limit` items (1 to 200, default 50) after the `cursor` of the previous page.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl PageQuery {
    /// The cursor, as the id type of the list it came from.
    pub fn cursor<T: std::str::FromStr>(&self) -> Result<Option<T>, AppError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse::<T>().map_err(|_| AppError::unprocessable("invalid_query", "cursor is not one this API gave"))
            })
            .transpose()
    }

    pub fn limit(&self) -> Result<i64, AppError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=200).contains(&n) => Ok(n),
            Some(_) => Err(AppError::unprocessable("invalid_query", "limit must be between 1 and 200")),
        }
    }
}

/// A page of results and the cursor of the next page, if there is one.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `items` fetched with one more than `limit`, so that a next page is known to exist.
    pub fn from_overfetch(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(cursor_of) } else { None };
        Self { items, next_cursor }
    }
}
