//! The caller of an API request, established once by an extractor so that no handler can forget to check.
//!
//! `Authorization: Bearer sb_…` authenticates an API token; otherwise the `sb_session` cookie authenticates a
//! browser session, and then every unsafe method (POST, PUT, PATCH, DELETE) must repeat the session's CSRF
//! token in `X-CSRF-Token`. A user who still has to replace a one-time password gets only [`PendingPrincipal`]
//! (enough to see who they are, change the password, or log out); [`Principal`] refuses them.

use super::{secret_token, CSRF_HEADER, SESSION_COOKIE};
use crate::domain::{Permission, Role};
use crate::error::AppError;
use crate::state::AppState;
use crate::store;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Access tokens from `POST /oauth/token` start with this, so a bearer is told from an API token without a
/// lookup.
pub const OAUTH_PREFIX: &str = "sbo_";

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        token_hash: Vec<u8>,
        csrf_token: String,
    },
    Token {
        token_id: Uuid,
    },
    /// An OAuth client's access token (`POST /oauth/token`).
    OAuth {
        client_id: Uuid,
    },
}

/// An authenticated caller who may use the API.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Option<Uuid>,
    pub role: Role,
    /// A token given only some permissions (an API token, an OAuth access token): those.
    pub limited_to: Option<Vec<Permission>>,
    /// For logs and the audit log: the user's e-mail or the token's name.
    pub label: String,
    pub via: Via,
}

/// An authenticated caller who may still have to change a one-time password.
#[derive(Debug, Clone)]
pub struct PendingPrincipal {
    pub principal: Principal,
    pub must_change_password: bool,
}

impl Principal {
    /// 403 naming the permission unless the caller holds it (`details.permission`): their role must grant it,
    /// and a token given only some permissions must have been given it.
    pub fn require_permission(&self, permission: Permission) -> Result<(), AppError> {
        let message = if !self.role.grants(permission) {
            format!(
                "this needs the {permission} permission, which the {} role and above hold; you are {}",
                permission.least_role(),
                self.role
            )
        } else if self.limited_to.as_ref().is_some_and(|given| !given.contains(&permission)) {
            let token = if matches!(self.via, Via::OAuth { .. }) { "access token" } else { "API token" };
            format!("this needs the {permission} permission, which this {token} was not given")
        } else {
            return Ok(());
        };
        Err(AppError::forbidden("forbidden", message)
            .with_details(serde_json::json!({ "permission": permission.as_str() })))
    }

    /// The caller as the use cases see it.
    pub fn caller(&self) -> super::Caller {
        super::Caller { actor: self.actor(), user_id: self.user_id, supervisor: self.role.includes(Role::Supervisor) }
    }

    pub fn actor(&self) -> store::audit::Actor {
        match &self.via {
            Via::Session { .. } => store::audit::Actor { kind: "user", id: self.user_id, label: self.label.clone() },
            Via::Token { token_id } => {
                store::audit::Actor { kind: "token", id: Some(*token_id), label: self.label.clone() }
            }
            Via::OAuth { client_id } => {
                store::audit::Actor { kind: "oauth_client", id: Some(*client_id), label: self.label.clone() }
            }
        }
    }
}

impl FromRequestParts<AppState> for PendingPrincipal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already established for this request (by a middleware that needed the caller first).
        if let Some(known) = parts.extensions.get::<PendingPrincipal>() {
            return Ok(known.clone());
        }
        if let Some(bearer) = bearer(parts)? {
            let principal = if bearer.starts_with(OAUTH_PREFIX) {
                oauth_client(state, bearer).await?
            } else {
                api_token(state, bearer).await?
            };
            return Ok(Self { principal, must_change_password: false });
        }
        let Some(cookie) = session_cookie(parts) else {
            return Err(unauthenticated("log in, or send an API token as Authorization: Bearer"));
        };
        let token_hash = secret_token::hash(cookie);
        let session = store::users::find_session(&state.pool, &token_hash)
            .await?
            .ok_or_else(|| unauthenticated("the session has expired or was ended; log in again"))?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !bool::from(given.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
                return Err(AppError::forbidden(
                    "csrf_token_invalid",
                    "this request must carry the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        let role = session.user.role.parse().map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))?;
        let principal = Principal {
            user_id: Some(session.user.id),
            role,
            limited_to: None,
            label: session.user.email.clone(),
            via: Via::Session { token_hash, csrf_token: session.csrf_token },
        };
        Ok(Self { principal, must_change_password: session.user.must_change_password })
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let pending = PendingPrincipal::from_request_parts(parts, state).await?;
        if pending.must_change_password {
            return Err(AppError::forbidden(
                "password_change_required",
                "choose your own password first (POST /api/v1/auth/password)",
            ));
        }
        Ok(pending.principal)
    }
}

/// The OAuth client an access token (`POST /oauth/token`) acts for.
async fn oauth_client(state: &AppState, bearer: &str) -> Result<Principal, AppError> {
    let access = store::oauth::authenticate_access(&state.pool, &secret_token::hash(bearer))
        .await?
        .ok_or_else(|| unauthenticated("the access token is unknown or expired, or its client was revoked"))?;
    Ok(Principal {
        // A client is not a user: it sees everything a supervisor would, limited to exactly the permissions its
        // token carries.
        user_id: None,
        role: Role::Admin,
        limited_to: Some(Permission::known(&access.permissions)),
        label: format!("OAuth client {}", access.client_name),
        via: Via::OAuth { client_id: access.client_id },
    })
}

/// The API token's caller, capped by its creator's role now.
async fn api_token(state: &AppState, bearer: &str) -> Result<Principal, AppError> {
    let store::api_tokens::Authenticated { token, owner_role } =
        store::api_tokens::authenticate(&state.pool, &secret_token::hash(bearer))
            .await?
            .ok_or_else(|| unauthenticated("the API token is unknown, revoked or expired"))?;
    let mut role: Role = token.role.parse().map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))?;
    // A token acts for the person who created it: never after they are deactivated, never above their role now
    // (a demoted admin's admin token acts as what they are now).
    if token.created_by.is_some() {
        let owner_role = owner_role.ok_or_else(|| unauthenticated("the API token's owner is deactivated"))?;
        let owner_role: Role = owner_role.parse().map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))?;
        if !owner_role.includes(role) {
            role = owner_role;
        }
    }
    Ok(Principal {
        // A token is not a user: it has no queues or numbers of its own, whatever its role.
        user_id: None,
        role,
        limited_to: token.permissions.as_deref().map(Permission::known),
        label: format!("token {}", token.name),
        via: Via::Token { token_id: token.id },
    })
}

fn unauthenticated(message: &str) -> AppError {
    AppError::client(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| unauthenticated("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(unauthenticated("the Authorization header must be: Bearer <token>")),
    }
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}
