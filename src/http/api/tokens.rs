//! API tokens: `POST /tokens` (shown once), `GET /tokens`, `DELETE /tokens/{id}` (revoke). Admins only.

use super::idempotency::ShownOnce;
use super::{ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::{secret_token, Principal};
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use crate::store::api_tokens::ApiToken;
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// What the token may do, as a user with this role.
    role: Role,
    /// Only these permissions of the role's (`GET /api/v1/permissions`); absent: all of the role's.
    #[serde(default)]
    permissions: Option<Vec<String>>,
    /// RFC 3339; none: until revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<time::OffsetDateTime>,
}

/// A new token: `token` is the secret, shown this once and stored only as a hash.
#[derive(Serialize, ToSchema)]
struct CreatedToken {
    #[serde(flatten)]
    info: ApiToken,
    token: String,
}

/// Creates an API token. Admins. The secret is in this answer only; repeating the request with the same
/// Idempotency-Key gets 409 `idempotency_key_used`, never the secret again.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewToken>,
) -> AppResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::invalid_field("name", "name must be 1 to 200 characters"));
    }
    if body.expires_at.is_some_and(|at| at <= time::OffsetDateTime::now_utc()) {
        return Err(AppError::invalid_field("expires_at", "expires_at must be in the future"));
    }
    let permissions =
        body.permissions.as_deref().map(|names| super::permissions::subset(body.role, names)).transpose()?;
    let names: Option<Vec<&str>> = permissions.as_ref().map(|ps| ps.iter().map(|p| p.as_str()).collect());
    let secret = secret_token::generate("sb_");
    let prefix: String = secret.chars().take(10).collect();
    let mut tx = state.pool.begin().await?;
    let new = store::api_tokens::NewToken {
        name,
        token_hash: &secret_token::hash(&secret),
        prefix: &prefix,
        role: body.role.as_str(),
        permissions: names.as_deref(),
        created_by: who.user_id,
        expires_at: body.expires_at,
    };
    let token = store::api_tokens::insert(&mut tx, &new).await?;
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
    let mut response = (StatusCode::CREATED, Json(CreatedToken { info: token, token: secret })).into_response();
    response.extensions_mut().insert(ShownOnce);
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Include revoked tokens.
    include_revoked: Option<bool>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_CREATED, BY_NAME];
    const DESCENDING: bool = true;
}

/// Lists API tokens (never their secrets), newest first. Admins.
#[utoipa::path(get, path = "/tokens", tag = "tokens", params(ListParams, Filters),
    responses((status = 200, body = Page<ApiToken>)))]
async fn list(State(state): State<AppState>, _who: Principal, list: List<Filters>) -> AppResult<Json<Page<ApiToken>>> {
    let rows =
        store::api_tokens::list(&state.pool, &list.listing, list.filters.include_revoked.unwrap_or(false)).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Revokes an API token: it is refused from now on. Admins.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)), responses((status = 204)))]
async fn revoke(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
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
