//! `Idempotency-Key` on POST requests: the first request with a key runs; a repeat by the same caller with the
//! same key (within 24 hours) gets the first answer again, marked `Idempotent-Replayed: true`, and changes
//! nothing. The same key with a different request is refused (422 `idempotency_key_reused`), and a repeat while
//! the first is still running waits for nothing: 409 `idempotency_request_in_progress`.
//!
//! Not stored: answers of 500 and above (the client may retry them for real), the `/auth/*` endpoints (a login
//! answer carries a session cookie), and answers that show a secret once, such as a new API token: for those
//! only the fact that the key was used is kept, and a repeat gets 409 `idempotency_key_used` instead of the
//! secret a second time.

use crate::auth::PendingPrincipal;
use crate::error::AppError;
use crate::state::AppState;
use crate::store;
use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

/// Put on a response (as an extension) whose body shows a secret that must not be kept for a replay.
#[derive(Debug, Clone, Copy)]
pub struct ShownOnce;

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path().starts_with("/api/v1/auth/") {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else { return next.run(request).await };
    let key = match key.to_str() {
        Ok(k) if (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_owned(),
        _ => {
            return AppError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
            )
            .into_response()
        }
    };
    match run(state, key, request, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, key: String, request: Request, next: Next) -> Result<Response, AppError> {
    let (mut parts, body) = request.into_parts();
    // Whoever the caller is; if they are not authenticated the handler says so, and nothing is recorded.
    // Once found, the caller rides along in the request's extensions, so the handler does not look them up again.
    let caller = match PendingPrincipal::from_request_parts(&mut parts, &state).await {
        Ok(p) => {
            let caller = match p.principal.via {
                crate::auth::Via::Token { token_id } => format!("token:{token_id}"),
                crate::auth::Via::OAuth { client_id } => format!("oauth_client:{client_id}"),
                crate::auth::Via::Session { .. } => format!("user:{}", p.principal.user_id.unwrap_or_default()),
            };
            parts.extensions.insert(p);
            caller
        }
        Err(_) => return Ok(next.run(Request::from_parts(parts, body)).await),
    };
    let limit = state.settings.http.max_body_bytes;
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        AppError::client(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is over {limit} bytes"))
    })?;
    let mut hash = Sha256::new();
    hash.update(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("").as_bytes());
    hash.update([0]);
    hash.update(&bytes);
    let request_hash = hash.finalize().to_vec();

    if let Some(kept) = store::idempotency::claim(&state.pool, &caller, &key, &request_hash).await? {
        let (first_hash, status, body) = (kept.request_hash, kept.status, kept.response);
        if first_hash != request_hash {
            return Err(AppError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key for a new request",
            ));
        }
        return match (status, body) {
            (None, _) => Err(AppError::client(
                StatusCode::CONFLICT,
                "idempotency_request_in_progress",
                "the first request with this Idempotency-Key is still running; repeat it in a moment",
            )),
            (Some(_), None) => Err(AppError::client(
                StatusCode::CONFLICT,
                "idempotency_key_used",
                "the first request with this Idempotency-Key succeeded and showed a secret that is shown only once",
            )),
            (Some(status), Some(body)) => {
                let status = StatusCode::from_u16(status as u16).map_err(anyhow::Error::from)?;
                let json = !body.is_empty();
                let mut response = (status, body).into_response();
                let headers = response.headers_mut();
                if json {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                headers.insert(REPLAYED, HeaderValue::from_static("true"));
                Ok(response)
            }
        };
    }

    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = response.status();
    if status.is_server_error() {
        store::idempotency::release(&state.pool, &caller, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.map_err(|e| anyhow::anyhow!("reading the response: {e}"))?;
    let kept = if parts.extensions.get::<ShownOnce>().is_some() { None } else { Some(bytes.to_vec()) };
    store::idempotency::finish(&state.pool, &caller, &key, status.as_u16() as i16, kept.as_deref()).await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
