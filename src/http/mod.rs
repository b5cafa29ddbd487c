//! HTTP: the routers and the layers every request passes through (request id, tracing, compression, timeout).

pub mod api;
mod health;
mod inbox;
mod media;
pub mod metrics;
pub mod oauth;
pub mod retry;
pub mod server;
pub mod webhooks;

use crate::state::AppState;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request};
use axum::Router;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application's router, ready to serve (or to call with `oneshot` in tests).
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.http.request_timeout_secs);
    let mut router = Router::new()
        .merge(health::router())
        .merge(inbox::router())
        .merge(webhooks::router())
        .merge(media::router())
        .merge(metrics::router())
        .merge(oauth::router())
        .merge(api::router(&state));
    if state.settings.sandbox_on() {
        router = router.merge(crate::sandbox::router(&state));
    }
    router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(metrics::record));
    router.with_state(state).layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let route =
                            request.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
                        let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                        tracing::info_span!("request", method = %request.method(), route, request_id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(CompressionLayer::new())
            .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout)),
    )
}

/// An address nothing answers: under `/api/` the API's JSON error, elsewhere a plain 404.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        crate::error::AppError::not_found("route_not_found", format!("there is no API endpoint {}", uri.path()))
            .into_response()
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

/// A known address with a method it does not take.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = format!("{} does not take {method}", uri.path());
    if uri.path().starts_with("/api/") {
        crate::error::AppError::client(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
            .into_response()
    } else {
        (axum::http::StatusCode::METHOD_NOT_ALLOWED, message).into_response()
    }
}
