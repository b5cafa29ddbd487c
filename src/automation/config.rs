//! What automations read about numbers, queues and rules: loaded with the routing configuration (the same
//! `routing_config.version` moves when any of it changes) and kept in memory, so a decision costs no
//! configuration queries.

use super::rules::AutoRule;
use crate::domain::automation::CsatSettings;
use crate::domain::opt_in::OwnWords;
use crate::routing::config::{ConfigCache, RoutingConfig};
use crate::store::automation as db;
use crate::store::automation::QueueAutomation;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// A number's automations.
#[derive(Debug, Clone, Default)]
pub struct NumberAutomation {
    pub display_name: String,
    pub language: Option<String>,
    pub greeting_text: Option<String>,
    pub greeting_template_id: Option<Uuid>,
    pub greeting_variables: BTreeMap<String, String>,
    pub out_of_hours_text: Option<String>,
    pub out_of_hours_quiet_minutes: i32,
    pub attachments_refused_text: Option<String>,
    pub csat_enabled: bool,
    pub csat: CsatSettings,
}

impl NumberAutomation {
    pub fn greets(&self) -> bool {
        self.greeting_text.is_some() || self.greeting_template_id.is_some()
    }
}

#[derive(Debug, Default)]
pub struct AutomationConfig {
    pub version: i64,
    pub routing: Arc<RoutingConfig>,
    pub numbers: HashMap<Uuid, NumberAutomation>,
    pub queues: HashMap<Uuid, QueueAutomation>,
    /// Channel rules first (by channel, then position), then global ones (by position).
    pub rules: Vec<AutoRule>,
    /// The installation's own opt-out / opt-in keywords.
    pub words: Arc<OwnWords>,
}

impl AutomationConfig {
    /// The rules that apply to a message on `channel`, in order: the channel's own, then the global ones.
    pub fn rules_for(&self, channel: Uuid) -> Vec<&AutoRule> {
        let own = self.rules.iter().filter(|r| r.channel_id == Some(channel));
        own.chain(self.rules.iter().filter(|r| r.channel_id.is_none())).collect()
    }

    async fn load(conn: &mut PgConnection, routing: Arc<RoutingConfig>, words: Arc<OwnWords>) -> sqlx::Result<Self> {
        let mut numbers: HashMap<Uuid, NumberAutomation> = crate::store::routing::all_numbers(&mut *conn)
            .await?
            .into_iter()
            .map(|n| {
                let a = NumberAutomation {
                    display_name: n.display_name,
                    language: n.language,
                    greeting_text: n.greeting_text,
                    csat_enabled: n.csat_enabled,
                    out_of_hours_quiet_minutes: 30,
                    ..NumberAutomation::default()
                };
                (n.id, a)
            })
            .collect();
        for s in db::all_number_settings(&mut *conn).await? {
            if let Some(n) = numbers.get_mut(&s.number_id) {
                n.greeting_template_id = s.greeting_template_id;
                n.greeting_variables = s.greeting_variables.0;
                n.out_of_hours_text = s.out_of_hours_text;
                n.out_of_hours_quiet_minutes = s.out_of_hours_quiet_minutes;
                n.attachments_refused_text = s.attachments_refused_text;
                n.csat = s.csat.0;
            }
        }
        let queues = db::all_queue_settings(&mut *conn).await?.into_iter().map(|q| (q.queue_id, q)).collect();
        let mut rules = Vec::new();
        for r in db::all_rules(&mut *conn).await? {
            match AutoRule::compile(&r) {
                Ok(rule) => rules.push(rule),
                Err(e) => tracing::error!(rule = %r.id, error = %e, "stored auto-reply rule cannot be used; skipped"),
            }
        }
        Ok(Self { version: routing.version, routing, numbers, queues, rules, words })
    }
}

/// The automation configuration shared by a process's engine and API handlers.
#[derive(Clone, Default)]
pub struct AutomationCache {
    routing: ConfigCache,
    words: Arc<OwnWords>,
    current: Arc<RwLock<Arc<AutomationConfig>>>,
}

impl AutomationCache {
    pub fn new(routing: ConfigCache, words: OwnWords) -> Self {
        Self { routing, words: Arc::new(words), current: Arc::default() }
    }

    /// The configuration as last loaded, without asking the database (the webhook's path): `None` before the
    /// first load. The engine keeps it current (it compares versions on every round, at least every
    /// `routing.poll_ms`).
    pub fn snapshot(&self) -> Option<Arc<AutomationConfig>> {
        let cached = self.current.read().expect("automation config lock").clone();
        (cached.version != 0).then_some(cached)
    }

    /// The current configuration: one small query to compare versions, a reload only after a change.
    pub async fn get(&self, conn: &mut PgConnection) -> sqlx::Result<Arc<AutomationConfig>> {
        let version = crate::store::routing::config_version(&mut *conn).await?;
        let cached = self.current.read().expect("automation config lock").clone();
        if cached.version == version && version != 0 {
            return Ok(cached);
        }
        let routing = self.routing.at(&mut *conn, version).await?;
        let fresh = Arc::new(AutomationConfig::load(conn, routing, self.words.clone()).await?);
        *self.current.write().expect("automation config lock") = fresh.clone();
        Ok(fresh)
    }
}
