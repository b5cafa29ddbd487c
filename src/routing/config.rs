//! What routing decisions read about rules, queues, numbers and schedules: loaded once, kept in memory and
//! reloaded when `routing_config.version` moves (a trigger moves it on any change to those tables, whichever
//! process made it), so a decision costs no configuration queries.

use super::rules::{NumberRouting, Rule, Serves, Target};
use super::select::Strategy;
use crate::domain::business_hours::{Hours, Schedule};
use crate::store::routing as db;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub id: Uuid,
    pub name: String,
    pub strategy: Strategy,
    pub priority: i32,
    /// Calls, messages or both.
    pub serves: Serves,
    pub business_hours_id: Option<Uuid>,
    /// Out of hours with `route`: where conversations go instead of waiting.
    pub outside_hours_target: Option<Target>,
    pub overflow_after: Option<Duration>,
    pub overflow_target: Option<Target>,
    pub required_skills: Vec<String>,
    pub match_language: bool,
    pub prefer_last_agent: bool,
    /// Assigned and not answered this long: back to the queue.
    pub acceptance_timeout: Option<Duration>,
    /// That many misses in a row set the agent away.
    pub misses_to_away: Option<i32>,
    /// What a caller hears while a call waits here (the built-in default when the queue has none).
    pub waiting_strategy: crate::domain::call_waiting::WaitingStrategy,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct NumberConfig {
    pub channel_id: Uuid,
    pub routing: NumberRouting,
    pub business_hours_id: Option<Uuid>,
    /// The language of a customer who has none of their own.
    pub language: Option<String>,
}

#[derive(Debug, Default)]
pub struct RoutingConfig {
    pub version: i64,
    /// Channel rules first (by channel, then position), then global ones (by position).
    pub rules: Vec<Rule>,
    pub queues: HashMap<Uuid, QueueConfig>,
    pub numbers: HashMap<Uuid, NumberConfig>,
    pub hours: HashMap<Uuid, Hours>,
}

impl RoutingConfig {
    /// The rules that apply to a conversation on `channel`, in order: the channel's own, then the global ones.
    pub fn rules_for(&self, channel: Uuid) -> Vec<&Rule> {
        let own = self.rules.iter().filter(|r| r.channel_id == Some(channel));
        own.chain(self.rules.iter().filter(|r| r.channel_id.is_none())).collect()
    }

    /// What the queue receives (an unknown or deleted queue: both, so that the deletion, not the type, is
    /// what the placement reports).
    pub fn serves(&self, id: Uuid) -> Serves {
        self.queue(id).map_or(Serves::Both, |q| q.serves)
    }

    /// What a caller waiting in the queue hears (the built-in default without a queue or a strategy of its own).
    pub fn waiting_strategy(&self, queue: Option<Uuid>) -> crate::domain::call_waiting::WaitingStrategy {
        queue.and_then(|q| self.queue(q)).map(|q| q.waiting_strategy.clone()).unwrap_or_default()
    }

    pub fn queue(&self, id: Uuid) -> Option<&QueueConfig> {
        self.queues.get(&id).filter(|q| !q.deleted)
    }

    async fn load(conn: &mut PgConnection, version: i64) -> sqlx::Result<Self> {
        let mut hours = HashMap::new();
        for h in db::all_hours(&mut *conn).await? {
            let schedule = Schedule { time_zone: h.time_zone, weekly: h.weekly.0, holidays: h.holidays.0 };
            match schedule.check() {
                Ok(ready) => {
                    hours.insert(h.id, ready);
                }
                Err(e) => {
                    tracing::error!(id = %h.id, field = %e.field, "stored business hours are invalid; treated as always open")
                }
            }
        }
        let target = |queue: Option<Uuid>, agent: Option<Uuid>| match (queue, agent) {
            (Some(q), _) => Some(Target::Queue(q)),
            (None, Some(a)) => Some(Target::Agent(a)),
            (None, None) => None,
        };
        let queues = crate::store::queues::all(&mut *conn)
            .await?
            .into_iter()
            .map(|queue| {
                let q = queue.settings;
                let config = QueueConfig {
                    id: queue.id,
                    name: q.name,
                    strategy: Strategy::parse(&q.strategy),
                    priority: q.priority,
                    serves: q.communication_type.parse().unwrap_or_default(),
                    business_hours_id: q.business_hours_id,
                    outside_hours_target: if q.outside_hours == "route" {
                        target(q.outside_hours_queue_id, q.outside_hours_agent_id)
                    } else {
                        None
                    },
                    overflow_after: q.overflow_after_secs.map(|s| Duration::from_secs(s.max(0) as u64)),
                    overflow_target: target(q.overflow_queue_id, q.overflow_agent_id),
                    required_skills: q.required_skills,
                    match_language: q.match_language,
                    prefer_last_agent: q.prefer_last_agent,
                    acceptance_timeout: q.acceptance_timeout_minutes.map(|m| Duration::from_secs(60 * m.max(1) as u64)),
                    misses_to_away: q.acceptance_misses_to_away,
                    waiting_strategy: q.waiting_strategy.unwrap_or_default(),
                    deleted: queue.deleted_at.is_some(),
                };
                (queue.id, config)
            })
            .collect();
        let numbers = db::all_numbers(&mut *conn)
            .await?
            .into_iter()
            .map(|n| {
                let routing = NumberRouting { ai_agent: n.ai_agent_id, default_queue_id: n.default_queue_id };
                let number = NumberConfig {
                    channel_id: n.channel_id,
                    routing,
                    business_hours_id: n.business_hours_id,
                    language: n.language,
                };
                (n.id, number)
            })
            .collect();
        let mut rules = Vec::new();
        for r in db::all_rules(&mut *conn).await? {
            match super::rules::Rule::compile(&r) {
                Ok(rule) => rules.push(rule),
                Err(e) => tracing::error!(rule = %r.id, error = %e, "stored routing rule cannot be used; skipped"),
            }
        }
        Ok(Self { version, rules, queues, numbers, hours })
    }
}

/// The configuration shared by a process's router and API handlers.
#[derive(Clone, Default)]
pub struct ConfigCache {
    current: Arc<RwLock<Arc<RoutingConfig>>>,
}

impl ConfigCache {
    /// The current configuration: one small query to compare versions, a reload only after a change.
    pub async fn get(&self, conn: &mut PgConnection) -> sqlx::Result<Arc<RoutingConfig>> {
        let version = db::config_version(&mut *conn).await?;
        self.at(conn, version).await
    }

    /// The configuration at `version` (read by the caller in its own statement), reloaded if that is newer.
    pub async fn at(&self, conn: &mut PgConnection, version: i64) -> sqlx::Result<Arc<RoutingConfig>> {
        let cached = self.current.read().expect("routing config lock").clone();
        if cached.version == version {
            return Ok(cached);
        }
        let fresh = Arc::new(RoutingConfig::load(conn, version).await?);
        *self.current.write().expect("routing config lock") = fresh.clone();
        Ok(fresh)
    }
}
