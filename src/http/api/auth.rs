//! `POST /auth/login`, `POST /auth/logout`, `GET /auth/me`, `POST /auth/password`.

use super::ApiJson;
use crate::auth::{password, secret_token, PendingPrincipal, Via, SESSION_COOKIE};
use crate::domain::{cidr, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::login_failures::Rule;
use crate::store::{self, audit::Actor};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(session))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

/// The answer to a login; the session itself is the `sb_session` cookie set with it.
#[derive(Serialize, ToSchema)]
struct LoggedIn {
    user: store::users::User,
    /// Repeat it in `X-CSRF-Token` on every POST, PATCH, PUT and DELETE made with the session cookie.
    csrf_token: String,
    must_change_password: bool,
}

/// Logs in with e-mail and password and sets the session cookie (HttpOnly, SameSite=Lax, Secure over https).
/// Attempts are limited per client address, and per account from one address with growing delays (so nobody
/// elsewhere can lock an account out): over a limit, 429 with Retry-After. The attempt is counted before the
/// password is checked, so concurrent attempts cannot slip past the limit.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = LoggedIn)))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<Login>,
) -> AppResult<Response> {
    let settings = &state.settings.auth;
    let window = Duration::from_secs(settings.login_window_secs);
    let address = address.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into());
    let address_key = format!("address:{address}");
    let own_key = format!("account:{}|{address}", body.email.trim().to_lowercase());
    let keys = [
        (address_key.as_str(), Rule::Hard(settings.max_failures_per_address)),
        (own_key.as_str(), Rule::Growing(settings.max_failures_per_account)),
    ];
    if let Err(blocked) = store::login_failures::reserve(&state.pool, &keys, window).await? {
        let wait = (blocked.until - time::OffsetDateTime::now_utc()).as_seconds_f64().ceil().max(1.0) as i64;
        let mut response = AppError::client(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_login_attempts",
            format!("too many failed logins; try again in {wait} seconds"),
        )
        .into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(response);
    }
    let found = store::users::find_for_login(&state.pool, body.email.trim()).await?;
    let hash = found.as_ref().map(|(_, h)| h.clone());
    let ok = password::verify(SecretString::from(body.password), hash).await?;
    let user = match found {
        Some((user, _)) if ok && user.active => user,
        // The attempt counted above stays counted.
        _ => return Err(AppError::client(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong e-mail or password")),
    };
    store::login_failures::succeeded(&state.pool, &address_key, &own_key).await?;
    let token = secret_token::generate("");
    let csrf_token = secret_token::generate("");
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::hours(settings.session_hours);
    let mut conn = state.pool.acquire().await?;
    store::users::create_session(&mut conn, &secret_token::hash(&token), user.id, &csrf_token, expires_at).await?;
    let body = LoggedIn { must_change_password: user.must_change_password, user, csrf_token };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let cookie = session_cookie(&state, &token, settings.session_hours * 3600);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The client's address: the connection's peer, or what a trusted proxy says in `X-Forwarded-For`
/// (`http.trusted_proxies`). None when the router is called without a socket, as in some tests.
struct ClientAddress(Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
            return Ok(Self(None));
        };
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        Ok(Self(Some(cidr::client_address(peer, &forwarded, &state.settings.http.trusted_proxies))))
    }
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.public_base_url.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie text is ASCII")
}

/// Ends this browser session and clears its cookie; the agent goes offline (no new conversations are offered).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
async fn logout(State(state): State<AppState>, who: PendingPrincipal) -> AppResult<Response> {
    let Via::Session { token_hash, .. } = &who.principal.via else {
        return Err(AppError::bad_request("not_a_session", "API tokens are revoked, not logged out"));
    };
    let mut tx = state.pool.begin().await?;
    store::users::delete_session(&mut tx, token_hash).await?;
    if let Some(user) = who.principal.user_id {
        store::routing::set_presence(&mut tx, user, "offline").await?;
    }
    tx.commit().await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// Who is calling.
#[derive(Serialize, ToSchema)]
struct Me {
    role: Role,
    /// The user's e-mail, or `token <name>`.
    label: String,
    /// The logged-in user (absent for API tokens).
    user: Option<store::users::User>,
    csrf_token: Option<String>,
    must_change_password: bool,
}

/// The caller: their role, and for a session the user and the CSRF token.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = Me)))]
async fn me(State(state): State<AppState>, who: PendingPrincipal) -> AppResult<Json<Me>> {
    let user = match who.principal.user_id {
        Some(id) if matches!(who.principal.via, Via::Session { .. }) => store::users::find(&state.pool, id).await?,
        _ => None,
    };
    let csrf_token = match &who.principal.via {
        Via::Session { csrf_token, .. } => Some(csrf_token.clone()),
        Via::Token { .. } | Via::OAuth { .. } => None,
    };
    Ok(Json(Me {
        role: who.principal.role,
        label: who.principal.label,
        user,
        csrf_token,
        must_change_password: who.must_change_password,
    }))
}

/// Whether this browser is logged in, and as whom.
#[derive(Serialize, ToSchema)]
struct SessionState {
    logged_in: bool,
    /// The same as `GET /auth/me`, when logged in.
    me: Option<Me>,
}

/// Whether the caller is logged in: always 200 (a page asks this before it knows, and a 401 there would only
/// be noise in the browser's console). Anything else needs a login and answers 401 without one.
#[utoipa::path(get, path = "/auth/session", tag = "auth", responses((status = 200, body = SessionState)))]
async fn session(
    State(state): State<AppState>,
    who: Result<PendingPrincipal, AppError>,
) -> AppResult<Json<SessionState>> {
    match who {
        Ok(who) => Ok(Json(SessionState { logged_in: true, me: Some(me(State(state), who).await?.0) })),
        Err(AppError::Client { status: StatusCode::UNAUTHORIZED, .. }) => {
            Ok(Json(SessionState { logged_in: false, me: None }))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Replaces the caller's password (at least 12 characters) and ends their other sessions. A user with a
/// one-time password must do this before anything else.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePassword, responses((status = 204)))]
async fn change_password(
    State(state): State<AppState>,
    who: PendingPrincipal,
    ApiJson(body): ApiJson<ChangePassword>,
) -> AppResult<StatusCode> {
    let (Some(user_id), Via::Session { token_hash, .. }) = (who.principal.user_id, &who.principal.via) else {
        return Err(AppError::bad_request("not_a_session", "passwords are changed by the user, logged in"));
    };
    password::check_policy(&body.new_password)
        .map_err(|m| AppError::unprocessable("password_too_weak", m).with_field("new_password"))?;
    if body.new_password == body.current_password {
        return Err(AppError::unprocessable("password_unchanged", "the new password must differ from the current one")
            .with_field("new_password"));
    }
    let stored = store::users::password_hash(&state.pool, user_id).await?;
    if !password::verify(SecretString::from(body.current_password), stored).await? {
        return Err(
            AppError::forbidden("invalid_credentials", "the current password is wrong").with_field("current_password")
        );
    }
    let hash = password::hash(SecretString::from(body.new_password)).await?;
    let mut tx = state.pool.begin().await?;
    store::users::set_password(&mut tx, user_id, &hash).await?;
    store::users::delete_other_sessions(&mut tx, user_id, token_hash).await?;
    let actor = Actor { kind: "user", id: Some(user_id), label: who.principal.label.clone() };
    store::audit::record(&mut tx, &actor, "user.password_changed", "user", Some(&user_id.to_string()), None, None)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
