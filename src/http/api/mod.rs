//! The JSON API under `/api/v1`: one router per resource, thin handlers, errors as
//! `{"error": {"code", "message", "details"}}`.

mod agents;
mod ai_agents;
mod assignment;
mod attachments;
mod audit;
mod auth;
mod automation;
mod business_hours;
mod calls;
mod canned_responses;
mod channels;
mod contacts;
mod conversations;
mod csat;
mod directory;
pub mod doc;
mod extract;
mod filters;
pub mod idempotency;
mod live;
mod notes;
mod notifications;
mod numbers;
mod oauth_clients;
mod opt_ins;
mod overview;
mod page;
pub mod permissions;
mod presence;
mod queues;
mod reports;
mod routing;
mod start;
mod tags;
mod templates;
mod tokens;
mod uploads;
mod validate;
mod webhooks;

pub use extract::{ApiJson, ApiPath, ApiQuery};
pub use page::{List, ListFilters, ListParams, NoFilters, Page};
pub use validate::{check_name, double_option};

use crate::error::AppError;
use crate::state::AppState;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

/// Every resource's routes under `/api/v1`, and the OpenAPI document made from those same routes at
/// `/api/openapi.json`.
pub fn router(state: &AppState) -> Router<AppState> {
    let (api, doc) = OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(auth::router())
                .merge(permissions::router())
                .merge(channels::router())
                .merge(numbers::router())
                .merge(tokens::router())
                .merge(oauth_clients::router())
                .merge(audit::router())
                .merge(agents::router())
                .merge(queues::router())
                .merge(business_hours::router())
                .merge(templates::router())
                .merge(canned_responses::router())
                .merge(tags::router())
                .merge(conversations::router())
                .merge(start::router())
                .merge(notes::router())
                .merge(attachments::router())
                .merge(overview::router())
                .merge(directory::router())
                .merge(assignment::router())
                .merge(presence::router())
                .merge(calls::router())
                .merge(live::router())
                .merge(contacts::router())
                .merge(opt_ins::router())
                .merge(notifications::router())
                .merge(webhooks::router())
                .merge(routing::router())
                .merge(automation::router())
                .merge(ai_agents::router())
                .merge(csat::router())
                .merge(reports::router())
                .merge(uploads::router(state)),
        )
        .split_for_parts();
    let mut doc = doc;
    permissions::check_covered(&doc::operations(&doc));
    utoipa::Modify::modify(&doc::Common, &mut doc);
    let doc = Arc::new(serde_json::to_value(&doc).expect("the OpenAPI document serialises"));
    // A request PostgreSQL aborted is run again from outside the idempotency layer, which gives its key back on
    // a 5xx, so the repeat claims the key afresh.
    api.route_layer(axum::middleware::from_fn_with_state(state.clone(), permissions::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::http::retry::layer))
        .route("/api/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
}

/// Records an administrative change in the audit log, inside the transaction that makes it. `before` and
/// `after` are the API's own views, which never hold secrets.
pub async fn audit_change<T: serde::Serialize>(
    conn: &mut sqlx::PgConnection,
    who: &crate::auth::Principal,
    action: &str,
    target_type: &str,
    target_id: impl std::fmt::Display,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), AppError> {
    let to_json = |v: &T| serde_json::to_value(v).map_err(anyhow::Error::from);
    crate::store::audit::record(
        conn,
        &who.actor(),
        action,
        target_type,
        Some(&target_id.to_string()),
        before.map(to_json).transpose()?.as_ref(),
        after.map(to_json).transpose()?.as_ref(),
    )
    .await?;
    Ok(())
}
