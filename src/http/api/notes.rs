//! Private notes on a conversation: `GET|POST /conversations/{id}/notes`. Whoever can see the conversation can
//! read and write them; the customer never sees them.

use super::conversations::require_visible;
use super::{ApiJson, ApiPath};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::notes::{self, Note};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// How many of a conversation's latest notes are listed.
const MAX_LISTED: i64 = 500;

/// The conversation's notes, oldest first (the latest 500).
#[utoipa::path(get, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Note>)))]
async fn list(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Vec<Note>>> {
    require_visible(&mut *state.pool.acquire().await?, &who, id).await?;
    Ok(Json(notes::list(&state.pool, id, MAX_LISTED).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewNote {
    /// 1 to 4,096 characters.
    body: String,
}

/// Adds a private note.
#[utoipa::path(post, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = NewNote, responses((status = 201, body = Note)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(note): ApiJson<NewNote>,
) -> AppResult<(StatusCode, Json<Note>)> {
    let body = note.body.trim();
    if body.is_empty() || body.chars().count() > 4096 {
        return Err(AppError::invalid_field("body", "a note is 1 to 4,096 characters"));
    }
    let mut tx = state.pool.begin().await?;
    require_visible(&mut tx, &who, id).await?;
    let note = notes::insert(&mut tx, id, who.user_id, &who.label, body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(note)))
}
