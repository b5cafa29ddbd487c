//! API tokens: `POST /tokens` (shown once), `GET /tokens`, `DELETE /tokens/{id}` (revoke). Admins only.

use super::{ApiJson, Page, PageQuery};
use crate::auth::{secret_token, Principal};
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/tokens", get(list).post(create)).route("/tokens/{id}", delete(revoke))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: Role,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<time::OffsetDateTime>,
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewToken>,
) -> AppResult<(StatusCode, Json<Value>)> {
    who.require(Role::Admin)?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::unprocessable("invalid_field", "name must be 1 to 200 characters").with_field("name"));
    }
    if body.expires_at.is_some_and(|at| at <= time::OffsetDateTime::now_utc()) {
        return Err(
            AppError::unprocessable("invalid_field", "expires_at must be in the future").with_field("expires_at")
        );
    }
    let secret = secret_token::generate("sb_");
    let prefix: String = secret.chars().take(10).collect();
    let mut tx = state.pool.begin().await?;
    let token = store::api_tokens::insert(
        &mut tx,
        name,
        &secret_token::hash(&secret),
        &prefix,
        body.role.as_str(),
        who.user_id,
        body.expires_at,
    )
    .await?;
    let after = serde_json::to_value(&token).map_err(anyhow::Error::from)?;
    store::audit::record(
        &mut tx,
        &who.actor(),
        "token.created",
        "api_token",
        Some(&token.id.to_string()),
        None,
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    let mut body = after;
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(page): Query<PageQuery>,
) -> AppResult<Json<Page<store::api_tokens::ApiToken>>> {
    who.require(Role::Admin)?;
    let limit = page.limit()?;
    let before = page.cursor::<Uuid>()?;
    let items = store::api_tokens::list(&state.pool, before, limit + 1).await?;
    Ok(Json(Page::from_overfetch(items, limit, |t| t.id.to_string())))
}

async fn revoke(State(state): State<AppState>, who: Principal, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    who.require(Role::Admin)?;
    let mut tx = state.pool.begin().await?;
    let before = store::api_tokens::find(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("token_not_found", "no API token with this id"))?;
    let after = store::api_tokens::revoke(&mut tx, id).await?;
    let to_json = |t: &store::api_tokens::ApiToken| serde_json::to_value(t).map_err(anyhow::Error::from);
    store::audit::record(
        &mut tx,
        &who.actor(),
        "token.revoked",
        "api_token",
        Some(&id.to_string()),
        Some(&to_json(&before)?),
        after.as_ref().map(to_json).transpose()?.as_ref(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
