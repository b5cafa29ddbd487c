//! `GET /attachments/{id}`: a message's file, for whoever can see its conversation. Images are shown inline;
//! every other file is a download. Files come from customers, so they are served so that a browser can never
//! run them as a page of this site (no sniffing, a sandboxing Content-Security-Policy).

use super::conversations::require_visible;
use super::ApiPath;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download, erase))
}

/// A message's file: inline if it is an image, otherwise as a download.
#[utoipa::path(get, path = "/attachments/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "the file", content_type = "application/octet-stream")))]
async fn download(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Response> {
    let missing = || AppError::not_found("attachment_not_found", "no attachment with this id that you can see");
    let mut conn = state.pool.acquire().await?;
    let a = store::attachments::for_download(&mut conn, id).await?.ok_or_else(missing)?;
    require_visible(&mut conn, &who, a.conversation_id).await.map_err(|_| missing())?;
    drop(conn);
    let path = match (a.download_state.as_str(), &a.storage_path) {
        ("downloaded", Some(p)) => p,
        ("pending", _) => {
            return Err(AppError::client(
                axum::http::StatusCode::CONFLICT,
                "attachment_pending",
                "this file is still being fetched from Twilio; try again in a moment",
            ))
        }
        ("erased", _) => {
            return Err(AppError::client(
                axum::http::StatusCode::GONE,
                "attachment_erased",
                "this file was erased; the message keeps a note that it had one",
            ))
        }
        _ => {
            return Err(AppError::client(
                axum::http::StatusCode::GONE,
                "attachment_unavailable",
                "this file could not be fetched from Twilio, so there is nothing to show",
            ))
        }
    };
    let file = state.storage.get(path).await.map_err(anyhow::Error::from)?.ok_or_else(missing)?;
    let length = file.size;
    let mut response = Response::new(Body::from_stream(file.body));
    let headers = response.headers_mut();
    let content_type = a.content_type.as_deref().unwrap_or("application/octet-stream");
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let name: String = a
        .filename
        .as_deref()
        .unwrap_or("attachment")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || " ._-()".contains(c) { c } else { '_' })
        .collect();
    let disposition = if content_type.starts_with("image/") { "inline" } else { "attachment" };
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("content-security-policy", HeaderValue::from_static("sandbox; default-src 'none'"));
    Ok(response)
}

/// Erases a message's file (a customer's right to erasure, a file sent by mistake): its bytes leave the file
/// store, the message keeps a note that it had one. Supervisors and admins. Audited.
#[utoipa::path(delete, path = "/attachments/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 204, description = "erased")))]
async fn erase(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<axum::http::StatusCode> {
    crate::media::erase(&state.pool, &state.storage, &who.actor(), id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
