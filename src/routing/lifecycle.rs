//! What happens to conversations by the clock, done by every router about once a second:
//!
//! - a snoozed conversation whose time came opens again (`unsnoozed`, reason `time`; the customer's message
//!   wakes one earlier, in the inbound write itself);
//! - a conversation a queue's agent has held for the queue's acceptance timeout without sending a message goes
//!   back to the queue (`acceptance_timeout`), offered first to its other agents; the agent's misses in a row
//!   are counted, and at the queue's `acceptance_misses_to_away` they are set away, so that the router stops
//!   offering them conversations they are not there to answer.
//!
//! Both lock the conversations they change with `FOR UPDATE SKIP LOCKED`, so several processes doing this at
//! once change each conversation once.

use super::config::{ConfigCache, RoutingConfig};
use super::place::{self, Members, Seeker};
use super::rules::Target;
use super::system_actor;
use crate::store::routing as db;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Conversations changed per transaction.
const LIMIT: i64 = 200;

/// Opens the snoozed conversations whose time came; answers how many.
pub async fn wake_snoozed(pool: &PgPool) -> sqlx::Result<usize> {
    let mut tx = pool.begin().await?;
    let woke = db::wake_snoozed(&mut tx, LIMIT).await?;
    tx.commit().await?;
    if !woke.is_empty() {
        tracing::info!(conversations = woke.len(), "snoozed conversations opened: their time came");
    }
    Ok(woke.len())
}

/// Returns the conversations their agents did not answer in time to their queues; answers how many (the
/// routers should then offer them again).
pub async fn return_unanswered(pool: &PgPool, cache: &ConfigCache) -> sqlx::Result<usize> {
    let cfg = cache.get(&mut *pool.acquire().await?).await?;
    let mut queues: Vec<(Uuid, std::time::Duration)> =
        cfg.queues.values().filter(|q| !q.deleted).filter_map(|q| q.acceptance_timeout.map(|t| (q.id, t))).collect();
    queues.sort();
    let mut total = 0;
    for (queue, timeout) in queues {
        total += return_unanswered_in(pool, &cfg, queue, timeout).await?;
    }
    Ok(total)
}

async fn return_unanswered_in(
    pool: &PgPool,
    cfg: &RoutingConfig,
    queue: Uuid,
    timeout: std::time::Duration,
) -> sqlx::Result<usize> {
    let Some(q) = cfg.queue(queue) else { return Ok(0) };
    let mut tx = pool.begin().await?;
    let late = db::lock_unanswered_in(&mut tx, queue, timeout.as_secs_f64(), LIMIT).await?;
    let mut members = Members::default();
    let actor = system_actor();
    for c in &late {
        let agent = c.assignee_id;
        let misses = db::count_miss(&mut tx, agent).await?;
        let away = q.misses_to_away.is_some_and(|m| misses >= m);
        if away {
            db::set_presence(&mut tx, agent, "away").await?;
            tracing::info!(%agent, misses, queue = %q.id, "agent set away after missing conversations in a row");
        }
        let mut events = vec![(
            "acceptance_timeout",
            json!({ "agent_id": agent, "queue_id": q.id, "assigned_secs": c.assigned_secs.round(),
                    "misses_in_a_row": misses, "agent_set_away": away }),
        )];
        let seeker = Seeker { language: c.language.as_deref(), last_agent: None, exclude: Some(agent) };
        let placement =
            place::follow(&mut tx, cfg, &mut members, Some(Target::Queue(q.id)), seeker, &mut events).await?;
        place::settle(&mut tx, c.id, placement, None, &actor, events).await?;
    }
    tx.commit().await?;
    if !late.is_empty() {
        tracing::info!(conversations = late.len(), queue = %q.id, "unanswered conversations returned to their queue");
    }
    Ok(late.len())
}
