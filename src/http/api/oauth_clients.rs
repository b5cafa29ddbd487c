//! OAuth clients (RFC 6749 §4.4): `POST /oauth-clients` (the secret shown once), `GET /oauth-clients[/{id}]`,
//! `POST /oauth-clients/{id}/secret` (a new secret, shown once; the old one stops working), `DELETE
//! /oauth-clients/{id}` (revoked: its access tokens are refused from then on). Audited. The token endpoint
//! itself is `http::oauth`.

use super::idempotency::ShownOnce;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::{secret_token, Principal};
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use crate::store::oauth::OAuthClient;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, revoke)).routes(routes!(rotate))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    /// What its access tokens may do (`GET /api/v1/permissions`); a token may ask for fewer with `scope`.
    permissions: Vec<String>,
}

/// A client with its secret: shown in this answer only.
#[derive(Serialize, ToSchema)]
struct WithSecret {
    #[serde(flatten)]
    client: OAuthClient,
    client_id: Uuid,
    client_secret: String,
}

fn with_secret(client: OAuthClient, secret: String) -> Response {
    let body = WithSecret { client_id: client.id, client, client_secret: secret };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.extensions_mut().insert(ShownOnce);
    response
}

/// Creates an OAuth client. The secret is in this answer only.
#[utoipa::path(post, path = "/oauth-clients", tag = "oauth", request_body = NewClient,
    responses((status = 201, body = WithSecret)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewClient>,
) -> AppResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid_field("name", "name must be 1 to 200 characters"));
    }
    let permissions = super::permissions::subset(Role::Admin, &body.permissions)?;
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    let secret = secret_token::generate("sbs_");
    let prefix: String = secret.chars().take(10).collect();
    let mut tx = state.pool.begin().await?;
    let client =
        store::oauth::insert(&mut tx, name, &secret_token::hash(&secret), &prefix, &names, who.user_id).await?;
    super::audit_change(&mut tx, &who, "oauth_client.created", "oauth_client", client.id, None, Some(&client)).await?;
    tx.commit().await?;
    Ok(with_secret(client, secret))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Include revoked clients.
    include_revoked: Option<bool>,
}

/// A list of OAuth clients.
#[derive(Serialize, ToSchema)]
struct Clients {
    items: Vec<OAuthClient>,
}

/// Lists OAuth clients (never their secrets), newest first.
#[utoipa::path(get, path = "/oauth-clients", tag = "oauth", params(Filters), responses((status = 200, body = Clients)))]
async fn list(
    State(state): State<AppState>,
    _who: Principal,
    ApiQuery(f): ApiQuery<Filters>,
) -> AppResult<Json<Clients>> {
    Ok(Json(Clients { items: store::oauth::list(&state.pool, f.include_revoked.unwrap_or(false)).await? }))
}

fn not_found() -> AppError {
    AppError::not_found("oauth_client_not_found", "no OAuth client with this id")
}

/// One OAuth client.
#[utoipa::path(get, path = "/oauth-clients/{id}", tag = "oauth", params(("id" = Uuid, Path)),
    responses((status = 200, body = OAuthClient)))]
async fn read(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<OAuthClient>> {
    Ok(Json(store::oauth::find(&mut *state.pool.acquire().await?, id).await?.ok_or_else(not_found)?))
}

/// Gives the client a new secret, shown in this answer only; the old secret stops working at once (access
/// tokens already issued run out as usual).
#[utoipa::path(post, path = "/oauth-clients/{id}/secret", tag = "oauth", params(("id" = Uuid, Path)),
    responses((status = 201, body = WithSecret)))]
async fn rotate(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Response> {
    let secret = secret_token::generate("sbs_");
    let prefix: String = secret.chars().take(10).collect();
    let mut tx = state.pool.begin().await?;
    let before = store::oauth::find(&mut tx, id).await?.ok_or_else(not_found)?;
    let after = store::oauth::rotate(&mut tx, id, &secret_token::hash(&secret), &prefix)
        .await?
        .ok_or_else(|| AppError::conflict("oauth_client_revoked", "a revoked client gets no new secret"))?;
    super::audit_change(&mut tx, &who, "oauth_client.secret_rotated", "oauth_client", id, Some(&before), Some(&after))
        .await?;
    tx.commit().await?;
    Ok(with_secret(after, secret))
}

/// Revokes the client: its secret and every access token it holds are refused from now on.
#[utoipa::path(delete, path = "/oauth-clients/{id}", tag = "oauth", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn revoke(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = store::oauth::find(&mut tx, id).await?.ok_or_else(not_found)?;
    let after = store::oauth::revoke(&mut tx, id).await?;
    super::audit_change(&mut tx, &who, "oauth_client.revoked", "oauth_client", id, Some(&before), after.as_ref())
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
