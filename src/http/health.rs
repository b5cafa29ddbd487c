//! `/healthz`: the process answers. `/readyz`: the database answers and its migrations are applied.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    // A probe answers within a second even while the database is away (the pool would wait its own timeout).
    let ready = tokio::time::timeout(std::time::Duration::from_secs(1), crate::database::readiness(&state.pool))
        .await
        .unwrap_or_else(|_| Err("the database did not answer within 1 s".to_owned()));
    match ready {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": reason })))
        }
    }
}
