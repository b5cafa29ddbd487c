//! `GET /audit`: the audit log of administrative changes, newest first. Admins only.

use super::{List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::{self, audit::Entry, listing::SortKey};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// An action (`queue.updated`), or all of a kind with a trailing dot (`queue.`).
    action: Option<String>,
    /// `channel`, `whatsapp_number`, `queue`, `user`, `api_token`, …
    target_type: Option<String>,
    target_id: Option<String>,
    /// The user or token who made the changes.
    actor_id: Option<Uuid>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[store::audit::BY_ID];
    const DESCENDING: bool = true;
}

/// The audit log: who changed what, when, with before and after (secrets never included). Admins.
#[utoipa::path(get, path = "/audit", tag = "audit", params(ListParams, Filters),
    responses((status = 200, body = Page<Entry>)))]
async fn list(State(state): State<AppState>, _who: Principal, list: List<Filters>) -> AppResult<Json<Page<Entry>>> {
    let f = &list.filters;
    let filter = store::audit::Filter {
        action: f.action.as_deref(),
        target_type: f.target_type.as_deref(),
        target_id: f.target_id.as_deref(),
        actor_id: f.actor_id,
    };
    let rows = store::audit::list(&state.pool, &list.listing, &filter).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}
