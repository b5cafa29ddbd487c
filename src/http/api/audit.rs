//! `GET /audit`: the audit log, newest first. Admins only.

use super::{Page, PageQuery};
use crate::auth::Principal;
use crate::domain::Role;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(page): Query<PageQuery>,
) -> AppResult<Json<Page<store::audit::Entry>>> {
    who.require(Role::Admin)?;
    let limit = page.limit()?;
    let before = page.cursor::<i64>()?;
    let items = store::audit::list(&state.pool, before, limit + 1).await?;
    Ok(Json(Page::from_overfetch(items, limit, |e| e.id.to_string())))
}
