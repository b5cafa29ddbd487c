//! `GET /directory`: what the inbox needs to show names instead of ids, for every person logged in: the
//! WhatsApp numbers (and which the caller serves), the queues (and which the caller is in) and the agents.

use crate::auth::Principal;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::directory::{self, AgentEntry, NumberEntry, QueueEntry};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read))
}

#[derive(Serialize, ToSchema)]
struct Directory {
    numbers: Vec<NumberEntry>,
    queues: Vec<QueueEntry>,
    agents: Vec<AgentEntry>,
}

/// Numbers, queues and agents by name.
#[utoipa::path(get, path = "/directory", tag = "agents", responses((status = 200, body = Directory)))]
async fn read(State(state): State<AppState>, who: Principal) -> AppResult<Json<Directory>> {
    let (numbers, queues, agents) = tokio::try_join!(
        directory::numbers(&state.pool, who.user_id),
        directory::queues(&state.pool, who.user_id),
        directory::agents(&state.pool),
    )?;
    Ok(Json(Directory { numbers, queues, agents }))
}
