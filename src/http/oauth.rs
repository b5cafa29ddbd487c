//! `POST /oauth/token`: the OAuth 2 client credentials grant (RFC 6749 §4.4).
//!
//! The client authenticates with HTTP Basic (`client_id:client_secret`, each form-encoded, §2.3.1) or with
//! `client_id` and `client_secret` in the form body, never both. The answer is `{"access_token", "token_type":
//! "Bearer", "expires_in", "scope"}` with `Cache-Control: no-store` (§5.1); errors are exactly §5.2's:
//! `invalid_client` (401, with `WWW-Authenticate`), `invalid_request`, `unsupported_grant_type`,
//! `invalid_scope` (400). The token carries the requested scope (space-separated permissions, each one the
//! client holds) or, without `scope`, all of the client's permissions; it is stored as a hash and refused once
//! it expires or the client is revoked.

use crate::auth::secret_token;
use crate::state::AppState;
use crate::store;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use uuid::Uuid;

/// How long an access token lives.
pub const ACCESS_TOKEN_SECS: i64 = 3600;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/token", post(token))
}

/// An error as RFC 6749 §5.2 writes it.
struct OAuthError {
    code: &'static str,
    description: String,
}

fn error(code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError { code, description: description.into() }
}

impl From<OAuthError> for Response {
    fn from(e: OAuthError) -> Self {
        let status = if e.code == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        let mut response =
            (status, Json(json!({ "error": e.code, "error_description": e.description }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"switchboard\""));
        }
        no_store(response)
    }
}

/// §5.1: answers with tokens (and their errors) are not cached.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn server(e: sqlx::Error) -> Response {
    crate::error::AppError::from(e).into_response()
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, Response> {
    let form_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !form_type {
        return Err(error("invalid_request", "send the parameters as application/x-www-form-urlencoded").into());
    }
    let body = &body[..];
    let mut form: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        // §3.2: a parameter sent more than once makes the request invalid.
        if form.iter().any(|(n, _)| *n == name) {
            return Err(error("invalid_request", format!("{name} is sent more than once")).into());
        }
        form.push((name.into_owned(), value.into_owned()));
    }
    let param = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());

    let basic = basic_credentials(&headers)?;
    let in_body = match (param("client_id"), param("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        (None, None) => None,
        _ => return Err(error("invalid_request", "send both client_id and client_secret, or use HTTP Basic").into()),
    };
    let (client_id, secret) = match (basic, in_body) {
        (Some(_), Some(_)) => {
            return Err(error("invalid_request", "authenticate with HTTP Basic or in the body, not both").into())
        }
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => return Err(error("invalid_client", "client authentication is required").into()),
    };
    match param("grant_type") {
        None => return Err(error("invalid_request", "grant_type is required").into()),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(
                error("unsupported_grant_type", format!("{other:?} is not offered: use client_credentials")).into()
            )
        }
    }
    let refused = || error("invalid_client", "the client is unknown or revoked, or the secret is wrong");
    let id = Uuid::parse_str(&client_id).map_err(|_| refused())?;
    let client = store::oauth::authenticate_client(&state.pool, id, &secret_token::hash(&secret))
        .await
        .map_err(server)?
        .ok_or_else(refused)?;
    let scope: Vec<String> = match param("scope") {
        None => client.permissions.clone(),
        Some(s) => {
            let mut asked: Vec<String> = Vec::new();
            for p in s.split(' ').filter(|p| !p.is_empty()) {
                if !asked.iter().any(|a| a == p) {
                    asked.push(p.to_owned());
                }
            }
            if asked.is_empty() {
                return Err(error("invalid_scope", "scope is empty").into());
            }
            if let Some(outside) = asked.iter().find(|p| !client.permissions.contains(p)) {
                return Err(
                    error("invalid_scope", format!("{outside:?} is not one of this client's permissions")).into()
                );
            }
            asked
        }
    };
    let access_token = secret_token::generate(crate::auth::principal::OAUTH_PREFIX);
    let names: Vec<&str> = scope.iter().map(String::as_str).collect();
    store::oauth::issue(&state.pool, client.id, &secret_token::hash(&access_token), &names, ACCESS_TOKEN_SECS)
        .await
        .map_err(server)?;
    tracing::info!(client = %client.id, "OAuth access token issued");
    Ok(no_store(
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECS,
            "scope": scope.join(" "),
        }))
        .into_response(),
    ))
}

/// `Authorization: Basic base64(urlencoded(id) ":" urlencoded(secret))`, if sent.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let bad = || error("invalid_client", "the Authorization header must be Basic with client_id:client_secret");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Ok(Some((unescape(id).unwrap_or_default(), unescape(secret).unwrap_or_default())))
}
