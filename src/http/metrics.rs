//! `GET /metrics` (see `crate::metrics`): on `metrics.bind`, a listener of its own that serves nothing else; on
//! the main address only with `metrics.token` as a bearer token, and not at all when no token is set. Also the
//! layer that times every request by its route.

use crate::error::{AppError, AppResult};
use crate::metrics::{self, HttpLabels};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

/// `/metrics` on the main address, behind `metrics.token`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(behind_token))
}

/// The router of `metrics.bind`: `/metrics` without a token, nothing else.
pub fn standalone(state: AppState) -> Router {
    Router::new().route("/metrics", get(render)).with_state(state)
}

async fn behind_token(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let Some(token) = &state.settings.metrics.token else {
        return Err(AppError::not_found("route_not_found", "metrics are not served here (metrics.token is not set)"));
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let matches = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.expose_secret().as_bytes())));
    if !matches {
        return Err(AppError::client(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send the metrics token as Authorization: Bearer <metrics.token>",
        ));
    }
    render(State(state)).await
}

async fn render(State(state): State<AppState>) -> AppResult<Response> {
    let text = metrics::get().render(&state.pool, state.settings.database.max_connections).await?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

/// Times each request and counts it by method, route pattern and status.
pub async fn record(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    let labels = HttpLabels { method, route, status: response.status().as_u16() };
    metrics::get().http_request(labels, started.elapsed());
    response
}
