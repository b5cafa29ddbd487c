//! The router every `serve` process runs: routes new conversations, offers waiting ones to agents as capacity
//! frees, moves overdue ones to their overflow target, turns agents offline whose inbox connection is gone,
//! and does what the clock asks of conversations (`lifecycle`: snoozes ending, acceptance timeouts). It wakes on a local signal (a new conversation stored by this process), on `LISTEN
//! switchboard_routing` (capacity freed or presence changed anywhere), and every `routing.poll_ms`.
//!
//! Every step runs in a transaction that locks the conversations it works on with `FOR UPDATE SKIP LOCKED`
//! and takes agents under the capacity guard, so any number of processes can run side by side.

use super::config::{ConfigCache, RoutingConfig};
use super::lifecycle;
use super::place::{self, Members, Seeker};
use super::rules::Target;
use super::{hours_open, system_actor};
use crate::config::RoutingSettings;
use crate::store::routing::{self as db, Placement, Waiting};
use jiff::Timestamp;
use serde_json::json;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct Router {
    pool: PgPool,
    cache: ConfigCache,
    settings: RoutingSettings,
    /// This process's id in `job_workers` (its live connections are tied to it).
    instance: Arc<str>,
    heartbeat: Duration,
    worker_timeout: Duration,
    wake: Arc<Notify>,
}

impl Router {
    pub fn new(
        pool: PgPool,
        cache: ConfigCache,
        settings: RoutingSettings,
        instance: Arc<str>,
        jobs: &crate::config::JobSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            cache,
            settings,
            instance,
            heartbeat: Duration::from_millis(jobs.heartbeat_ms),
            worker_timeout: Duration::from_millis(jobs.worker_timeout_ms),
            wake,
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut l) => match l.listen(db::CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "router cannot LISTEN; polling only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "router cannot LISTEN; polling only");
                None
            }
        };
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        let mut last_beat = tokio::time::Instant::now() - self.heartbeat;
        let mut last_sweep = tokio::time::Instant::now();
        // Waiting conversations are offered again when another process (or this one) signals freed capacity or a
        // presence change, and on every poll; a new conversation stored here only needs routing.
        let mut dispatch_due = true;
        loop {
            if last_beat.elapsed() >= self.heartbeat {
                last_beat = tokio::time::Instant::now();
                if let Err(e) = crate::store::jobs::heartbeat(&self.pool, &self.instance).await {
                    tracing::warn!(error = %e, "router cannot record the process's heartbeat");
                }
            }
            self.route_all().await;
            if std::mem::take(&mut dispatch_due) {
                if let Err(e) = self.dispatch().await {
                    tracing::warn!(error = %e, "dispatching waiting conversations failed; retried on the next wake");
                    dispatch_due = crate::store::is_transient(&e);
                }
            }
            if last_sweep.elapsed() >= poll.max(Duration::from_secs(1)) {
                last_sweep = tokio::time::Instant::now();
                self.sweep_presence().await;
                if self.by_the_clock().await > 0 {
                    // Returned to their queues: offered again at once.
                    dispatch_due = true;
                    continue;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                n = recv(&mut listener) => match n {
                    Ok(()) => dispatch_due = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "routing notifications lost; polling only");
                        listener = None;
                    }
                },
                _ = tokio::time::sleep(poll) => dispatch_due = true,
            }
        }
    }

    /// Routes unrouted conversations until none are left (batches of `routing.batch_size`).
    pub async fn route_all(&self) -> usize {
        let mut total = 0;
        let mut collisions = 0;
        loop {
            match self.route_batch().await {
                Ok(n) => {
                    total += n;
                    if (n as i64) < self.settings.batch_size {
                        return total;
                    }
                }
                Err(e) if crate::store::is_transient(&e) && collisions < 5 => {
                    collisions += 1;
                    tracing::info!(error = %e, "routing a batch met another router (deadlock); trying again");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "routing a batch failed; routing its conversations one by one");
                    if self.route_one_by_one().await == 0 {
                        return total;
                    }
                }
            }
        }
    }

    /// Routes up to `routing.batch_size` unrouted conversations in one transaction; returns how many.
    pub async fn route_batch(&self) -> sqlx::Result<usize> {
        self.route_claimed(self.settings.batch_size).await.map_err(|(_, e)| e)
    }

    /// Claims up to `limit` unrouted conversations and routes them in one transaction. On failure, says which
    /// conversation it was working on.
    async fn route_claimed(&self, limit: i64) -> Result<usize, (Option<Uuid>, sqlx::Error)> {
        let mut tx = self.pool.begin().await.map_err(|e| (None, e))?;
        let rows = db::claim_routable(&mut tx, limit).await.map_err(|e| (None, e))?;
        let Some(first) = rows.first() else { return Ok(0) };
        let cfg = self.cache.at(&mut tx, first.config_version).await.map_err(|e| (None, e))?;
        let mut members = Members::default();
        let actor = system_actor();
        // Placements that take nobody are written together, in one statement at the end: the rows stay locked (and
        // an inbound message for one of them waits) for one round trip, not one per conversation. One that took an
        // agent is written at once, because the next take's capacity guard reads the load its write raises.
        let mut untaken = Vec::with_capacity(rows.len());
        for r in &rows {
            let plan = place::plan(&mut tx, &cfg, &mut members, r, vec![]).await.map_err(|e| (Some(r.id), e))?;
            if plan.took_agent() {
                place::write_all(&mut tx, std::slice::from_ref(&plan), &actor).await.map_err(|e| (Some(r.id), e))?;
            } else {
                untaken.push(plan);
            }
        }
        let lone = match untaken.as_slice() {
            [only] => Some(only.conversation),
            _ => None,
        };
        place::write_all(&mut tx, &untaken, &actor).await.map_err(|e| (lone, e))?;
        tx.commit().await.map_err(|e| (None, e))?;
        Ok(rows.len())
    }

    /// After a failed batch: one conversation per transaction. A deadlock with another router is retried (a few
    /// times, then left unrouted for the next round); a conversation that fails otherwise is left without an
    /// owner (visible to its number's agents) with the error in its timeline, rather than retried forever.
    async fn route_one_by_one(&self) -> usize {
        let (mut done, mut collisions) = (0, 0);
        while done < self.settings.batch_size as usize {
            match self.route_claimed(1).await {
                Ok(0) => break,
                Ok(_) => done += 1,
                Err((_, e)) if crate::store::is_transient(&e) && collisions < 3 => collisions += 1,
                Err((Some(id), e)) if !crate::store::is_transient(&e) => {
                    tracing::error!(conversation = %id, error = %e, "cannot route the conversation; it is left without an owner");
                    if let Err(e) = self.give_up(id, &e.to_string()).await {
                        tracing::error!(conversation = %id, error = %e, "cannot record the routing failure");
                        break;
                    }
                    done += 1;
                }
                Err((_, e)) => {
                    tracing::warn!(error = %e, "routing stopped for now; the rest is routed on the next round");
                    break;
                }
            }
        }
        done
    }

    async fn give_up(&self, id: Uuid, error: &str) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let failed = vec![("routing_failed", json!({ "error": error }))];
        place::settle(&mut tx, id, Placement::Unowned, None, &system_actor(), failed).await?;
        tx.commit().await
    }

    /// Offers waiting conversations to agents, queue by queue (higher queue priority first), and moves overdue
    /// and out-of-hours ones on.
    pub async fn dispatch(&self) -> sqlx::Result<()> {
        let cfg = {
            let mut conn = self.pool.acquire().await?;
            self.cache.get(&mut conn).await?
        };
        let mut queues = db::waiting_queues(&self.pool).await?;
        queues.sort_by_key(|q| std::cmp::Reverse(cfg.queue(*q).map(|c| c.priority).unwrap_or(i32::MIN)));
        for q in queues {
            self.dispatch_queue(&cfg, q).await?;
        }
        self.dispatch_agent_waits(&cfg).await
    }

    async fn dispatch_queue(&self, cfg: &RoutingConfig, queue: Uuid) -> sqlx::Result<()> {
        const LIMIT: i64 = 200;
        let actor = system_actor();
        let mut tx = self.pool.begin().await?;
        let mut members = Members::default();
        let Some(q) = cfg.queue(queue) else {
            // The queue was deleted with conversations in it: decide again for them.
            for w in db::lock_waiting_in(&mut tx, queue, LIMIT).await? {
                db::mark_unrouted(&mut tx, w.id, false).await?;
            }
            tx.commit().await?;
            self.wake.notify_one();
            return Ok(());
        };
        if let (Some(after), Some(target)) = (q.overflow_after, q.overflow_target) {
            for w in db::lock_overdue_in(&mut tx, queue, after.as_secs_f64(), LIMIT).await? {
                let overflowed = json!({"from_queue_id": q.id, "waited_secs": w.waited_secs.round(), "to": place::target_json(target)});
                move_on(&mut tx, cfg, &mut members, &w, Some(target), ("overflowed", overflowed)).await?;
            }
        }
        if !hours_open(&cfg.hours, q.business_hours_id, Timestamp::now()) {
            if let Some(next) = q.outside_hours_target {
                for w in db::lock_waiting_in(&mut tx, queue, LIMIT).await? {
                    let closed = json!({"queue_id": q.id, "queue_name": q.name, "to": place::target_json(next)});
                    move_on(&mut tx, cfg, &mut members, &w, Some(next), ("outside_hours", closed)).await?;
                }
            }
            return tx.commit().await;
        }
        if !members.anyone_free(&mut tx, q).await? {
            return tx.commit().await;
        }
        for w in db::lock_waiting_in(&mut tx, queue, LIMIT).await? {
            if let Some(agent) = place::take_from_queue(&mut tx, &mut members, q, seeker(&w)).await? {
                place::settle(&mut tx, w.id, Placement::Assigned { agent, queue: Some(q.id) }, None, &actor, vec![])
                    .await?;
            } else if !members.anyone_free(&mut tx, q).await? {
                break;
            }
        }
        tx.commit().await
    }

    async fn dispatch_agent_waits(&self, cfg: &RoutingConfig) -> sqlx::Result<()> {
        let actor = system_actor();
        let mut tx = self.pool.begin().await?;
        let mut members = Members::default();
        for w in db::lock_waiting_for_agents(&mut tx, 200).await? {
            let Some(agent) = w.waiting_agent_id else { continue };
            if db::take_agent(&mut tx, agent, false).await? {
                place::settle(&mut tx, w.id, Placement::Assigned { agent, queue: None }, None, &actor, vec![]).await?;
            } else if w.waited_secs >= self.settings.agent_wait_secs as f64 {
                let fallback =
                    cfg.numbers.get(&w.number_id).and_then(|n| n.routing.default_queue_id).map(Target::Queue);
                let expired = json!({"agent_id": agent, "waited_secs": w.waited_secs.round(), "to": fallback.map(place::target_json)});
                move_on(&mut tx, cfg, &mut members, &w, fallback, ("agent_wait_expired", expired)).await?;
            }
        }
        tx.commit().await
    }

    /// Snoozes that end and acceptance timeouts (`lifecycle`); answers how many conversations went back to a
    /// queue.
    async fn by_the_clock(&self) -> usize {
        if let Err(e) = lifecycle::wake_snoozed(&self.pool).await {
            tracing::warn!(error = %e, "cannot open snoozed conversations; tried again on the next round");
        }
        match lifecycle::return_unanswered(&self.pool, &self.cache).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot return unanswered conversations; tried again on the next round");
                0
            }
        }
    }

    async fn sweep_presence(&self) {
        let grace = self.settings.presence_grace_secs as f64;
        match db::sweep_presence(&self.pool, grace, self.worker_timeout.as_secs_f64()).await {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(agents = gone.len(), "agents set offline: their inbox connection has been gone too long")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot sweep presence"),
        }
    }
}

fn seeker(w: &Waiting) -> Seeker<'_> {
    Seeker { language: w.language.as_deref(), last_agent: w.last_agent_id, exclude: None }
}

/// Moves a waiting conversation on to `target` (overflow, out of hours, a named agent's wait expired), with
/// the event saying why, written with its new placement.
async fn move_on(
    conn: &mut sqlx::PgConnection,
    cfg: &RoutingConfig,
    members: &mut Members,
    w: &Waiting,
    target: Option<Target>,
    why: (&'static str, serde_json::Value),
) -> sqlx::Result<()> {
    let mut events = vec![why];
    let placement = place::follow(conn, cfg, members, target, seeker(w), &mut events).await?;
    place::settle(conn, w.id, placement, None, &system_actor(), events).await
}

async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(l) => l.recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}
