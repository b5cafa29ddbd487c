//! `GET /overview`: the supervisor's view of the floor right now: each queue's waiting conversations and the
//! longest wait, and each agent's presence and load.

use crate::auth::Principal;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::routing as db;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

#[derive(Serialize, ToSchema)]
struct Overview {
    queues: Vec<db::QueueLoad>,
    agents: Vec<db::AgentLoad>,
    /// Open conversations no rule, AI agent or default queue took: the number's agents may claim them.
    unowned: i64,
}

/// Queues (waiting count, longest wait, held) and agents (presence, load, capacity). Supervisors and admins.
#[utoipa::path(get, path = "/overview", tag = "agents", responses((status = 200, body = Overview)))]
async fn overview(State(state): State<AppState>, _who: Principal) -> AppResult<Json<Overview>> {
    let (queues, agents, unowned) = db::overview(&state.pool).await?;
    Ok(Json(Overview { queues, agents, unowned }))
}
