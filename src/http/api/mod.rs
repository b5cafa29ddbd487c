//! The JSON API under `/api/v1`: one router per resource, thin handlers, errors as
//! `{"error": {"code", "message", "details"}}`.

mod agents;
mod assignment;
mod attachments;
mod audit;
mod auth;
mod business_hours;
mod canned_responses;
mod channels;
mod contacts;
mod conversations;
mod directory;
pub mod doc;
pub mod idempotency;
mod live;
mod notes;
mod numbers;
mod overview;
mod presence;
mod queues;
pub mod refs;
mod routing;
mod start;
mod tags;
mod templates;
mod tokens;
mod uploads;

use crate::error::AppError;
use crate::state::AppState;
use crate::store::listing::{Keyed, Listing, SortKey};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

/// Every resource's routes under `/api/v1`, and the OpenAPI document made from those same routes at
/// `/api/openapi.json`.
pub fn router(state: &AppState) -> Router<AppState> {
    let (api, doc) = OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(auth::router())
                .merge(channels::router())
                .merge(numbers::router())
                .merge(tokens::router())
                .merge(audit::router())
                .merge(agents::router())
                .merge(queues::router())
                .merge(business_hours::router())
                .merge(templates::router())
                .merge(canned_responses::router())
                .merge(tags::router())
                .merge(conversations::router())
                .merge(start::router())
                .merge(notes::router())
                .merge(attachments::router())
                .merge(overview::router())
                .merge(directory::router())
                .merge(assignment::router())
                .merge(presence::router())
                .merge(live::router())
                .merge(contacts::router())
                .merge(routing::router())
                .merge(uploads::router(state)),
        )
        .split_for_parts();
    let mut doc = doc;
    utoipa::Modify::modify(&doc::Common, &mut doc);
    let doc = Arc::new(serde_json::to_value(&doc).expect("the OpenAPI document serialises"));
    api.layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .route("/api/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
}

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

/// A JSON request body. Request types deny unknown fields, so a misspelt field is an error that names it
/// rather than a silently ignored value.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, state.settings.http.max_body_bytes).await.map_err(|_| {
            AppError::client(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is too large")
        })?;
        // PostgreSQL text cannot hold NUL, and no field of this API has a use for one.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(AppError::unprocessable("invalid_body", "text must not contain NUL characters (\\u0000)"));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
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

/// The filters a list accepts besides `cursor`, `limit` and `sort`, and the sorts it offers (the first is the
/// default). Filter structs deny unknown fields, so a misspelt filter is an error rather than ignored.
pub trait ListFilters: DeserializeOwned {
    const SORTS: &'static [SortKey];
    /// Whether the default sort is descending (newest first).
    const DESCENDING: bool = false;
}

/// A list request, the same on every list: `cursor` from the previous page, `limit` (1 to 200, default 50),
/// `sort` (a field name, `-` in front for descending), and the list's own filters.
pub struct List<F> {
    pub listing: Listing,
    pub filters: F,
}

fn invalid_query(message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_query", message)
}

impl<F: ListFilters> List<F> {
    fn parse(query: &str) -> Result<Self, AppError> {
        let (mut cursor, mut limit, mut sort) = (None, None, None);
        let mut rest = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if v.contains('\0') {
                return Err(invalid_query("query values must not contain NUL characters").with_field(&k));
            }
            match &*k {
                "cursor" => cursor = Some(v.into_owned()),
                "limit" => limit = Some(v.into_owned()),
                "sort" => sort = Some(v.into_owned()),
                _ => rest.push((k.into_owned(), v.into_owned())),
            }
        }
        let limit = match limit {
            None => 50,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=200).contains(&n) => n,
                _ => return Err(invalid_query("limit must be a whole number from 1 to 200").with_field("limit")),
            },
        };
        let (descending, sort_name) = match sort.as_deref() {
            None => (F::DESCENDING, F::SORTS[0].name),
            Some(s) => match s.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, s),
            },
        };
        let Some(sort_key) = F::SORTS.iter().find(|k| k.name == sort_name).copied() else {
            let names: Vec<_> = F::SORTS.iter().map(|k| k.name).collect();
            return Err(invalid_query(format!(
                "sort must be one of {} (with - in front for descending)",
                names.join(", ")
            ))
            .with_field("sort"));
        };
        let after = cursor.map(|c| decode_cursor(&c, sort_key.name, descending)).transpose()?;
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&rest).finish();
        let filters = serde_urlencoded::from_str::<F>(&encoded).map_err(|e| invalid_query(e.to_string()))?;
        Ok(Self { listing: Listing { sort: sort_key, descending, after, limit }, filters })
    }
}

fn encode_cursor(sort: &str, descending: bool, key: &str, id: &str) -> String {
    let raw = serde_json::json!([sort, descending, key, id]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str, sort: &str, descending: bool) -> Result<(String, String), AppError> {
    let bad = || invalid_query("cursor is not one this list gave (or the sort changed since)").with_field("cursor");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let (s, d, key, id): (String, bool, String, String) = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if s != sort || d != descending {
        return Err(bad());
    }
    Ok((key, id))
}

impl<F: ListFilters + Send> FromRequestParts<AppState> for List<F> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query().unwrap_or(""))
    }
}

/// For lists without filters of their own: sorted by creation (default) or name.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

impl ListFilters for NoFilters {
    const SORTS: &'static [SortKey] = &[crate::store::listing::BY_CREATED, crate::store::listing::BY_NAME];
}

/// For `PATCH` bodies: absent leaves a field as it is, `null` clears it, a value sets it.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Records an administrative change in the audit log, inside the transaction that makes it. `before` and
/// `after` are the API's own views, which never hold secrets.
pub async fn audit_change<T: serde::Serialize>(
    conn: &mut sqlx::PgConnection,
    who: &crate::auth::Principal,
    action: &str,
    target_type: &str,
    target_id: impl std::fmt::Display,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), AppError> {
    let to_json = |v: &T| serde_json::to_value(v).map_err(anyhow::Error::from);
    crate::store::audit::record(
        conn,
        &who.actor(),
        action,
        target_type,
        Some(&target_id.to_string()),
        before.map(to_json).transpose()?.as_ref(),
        after.map(to_json).transpose()?.as_ref(),
    )
    .await?;
    Ok(())
}

/// A 1-to-`max`-character name, trimmed.
pub fn check_name(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(AppError::unprocessable("invalid_field", format!("{field} must be 1 to {max} characters"))
            .with_field(field));
    }
    Ok(v.to_owned())
}

/// How every list is paged and sorted (documentation of what [`List`] reads).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// A sort field of this list, `-` in front for descending.
    sort: Option<String>,
}

/// A page of results and the cursor of the next page, if there is one.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// Rows fetched by [`Listing::fetch`] (one more than the limit when another page exists).
    pub fn from_keyed(mut rows: Vec<Keyed<T>>, listing: &Listing) -> Self {
        let more = rows.len() as i64 > listing.limit;
        rows.truncate(listing.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(listing.sort.name, listing.descending, &r.sort_key, &r.id))
        } else {
            None
        };
        Self { items: rows.into_iter().map(|r| r.item).collect(), next_cursor }
    }
}
