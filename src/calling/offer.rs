//! Ringing agents: every waiting call rings one agent at a time, chosen by its queue's own selection rules
//! (strategy, skills, presence, capacity: a call's conversation counts once the agent takes it). An agent who
//! declines, or lets it ring past `routing.call_ring_timeout_secs`, is passed over and the next is rung; once
//! everyone eligible was passed over, the round starts again, until the call is taken or its maximum wait
//! ends it. An agent who accepted a call but whose browser did not join it within `routing.call_join_timeout_secs`
//! is passed over the same way. Runs in every process that routes; the calls it works on are locked with `SKIP LOCKED`, so two
//! processes never ring two agents for one call.

use crate::domain::routing::Candidate;
use crate::routing::config::{ConfigCache, QueueConfig};
use crate::routing::select::{self, Requirements};
use crate::store::calls::{self, Call};
use crate::store::routing as db;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Calls looked at per pass.
const BATCH: i64 = 50;
/// A call being placed whose request to Twilio has not come back after this long (the process placing it
/// stopped in between) is ended as failed, so that it no longer counts its agent as on a call.
const NEVER_PLACED_SECS: u64 = 120;

/// The agent to ring next in `q` for a caller speaking `language`: the first in the queue's selection order (the
/// customer's last agent first when the queue prefers them) who is neither `passed_over` for this call nor
/// `busy` (rung by or on another call). When every eligible agent was passed over, the round starts again
/// (`true`: the passed-over list is to be cleared).
pub fn next_agent(
    q: &QueueConfig,
    members: &[Candidate],
    language: Option<&str>,
    last_agent: Option<Uuid>,
    passed_over: &[Uuid],
    busy: &HashSet<Uuid>,
) -> (Option<Uuid>, bool) {
    let language = if q.match_language { language } else { None };
    let preferred = if q.prefer_last_agent { last_agent } else { None };
    let req = Requirements { skills: &q.required_skills, language, preferred };
    let ranked = select::rank(q.strategy, members, &req);
    let free = |id: &Uuid| !busy.contains(id);
    if let Some(id) = ranked.iter().map(|&i| members[i].id).find(|id| free(id) && !passed_over.contains(id)) {
        return (Some(id), false);
    }
    match ranked.iter().map(|&i| members[i].id).find(free) {
        Some(again) => (Some(again), true),
        None => (None, false),
    }
}

pub struct Offerer {
    pub pool: PgPool,
    pub cache: ConfigCache,
    pub ring_timeout_secs: u64,
    pub poll: Duration,
    /// Signalled when a call arrives or is declined here (other processes find it on their next poll).
    pub wake: Arc<Notify>,
}

impl Offerer {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "offering calls failed; tried again on the next poll");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Rings the next agent for every call that rings nobody or rang too long, after putting back to waiting
    /// every call whose agent accepted it but did not join it in time.
    pub async fn pass(&self) -> sqlx::Result<usize> {
        let mut tx = self.pool.begin().await?;
        for call in calls::never_placed(&mut tx, NEVER_PLACED_SECS, BATCH).await? {
            if calls::end(&mut tx, call.id, crate::domain::call::Outcome::Failed).await? {
                let data = json!({"call_id": call.id, "agent_id": call.agent_id, "reason": "never_placed"});
                super::record(&mut tx, &call, "call_failed", data).await?;
            }
        }
        for call in calls::unjoined(&mut tx, BATCH).await? {
            let mut passed = call.passed_over.clone();
            passed.extend(call.agent_id);
            calls::requeue(&mut tx, call.id, call.queue_id, None, &passed).await?;
            let data = json!({"call_id": call.id, "agent_id": call.agent_id});
            super::record(&mut tx, &call, "call_not_joined", data).await?;
            tracing::info!(call = %call.id, agent = ?call.agent_id, "the agent did not join the call in time; it rings the next");
        }
        let due = calls::due_offers(&mut tx, self.ring_timeout_secs, BATCH).await?;
        if due.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let cfg = self.cache.get(&mut tx).await?;
        let mut busy: HashSet<Uuid> = calls::busy_agents(&mut tx).await?.into_iter().collect();
        // Each queue's members are read once per pass (ringing takes no capacity, so they do not change in it).
        let mut members = HashMap::new();
        for call in &due {
            let mut passed = call.passed_over.clone();
            if let Some(agent) = call.offered_to {
                // It rang out: the agent is passed over, and free for other calls again.
                passed.push(agent);
                busy.remove(&agent);
                let data = json!({"call_id": call.id, "agent_id": agent});
                super::record(&mut tx, call, "call_not_answered", data).await?;
            }
            let next = choose(&mut tx, &cfg, &mut members, call, &mut passed, &busy).await?;
            if let Some(agent) = next {
                busy.insert(agent);
                tracing::info!(call = %call.id, %agent, "call rings an agent");
            }
            if next.is_some() || call.offered_to.is_some() || passed != call.passed_over {
                calls::offer(&mut tx, call.id, next, &passed).await?;
            }
        }
        tx.commit().await?;
        Ok(due.len())
    }
}

/// Who rings next: a call meant for one agent (a rule named them, or they sent the call button it came from)
/// rings them first while they are free and have not passed on it; then, for a queue, its selection; otherwise
/// nobody (the number's agents see it waiting).
async fn choose(
    conn: &mut PgConnection,
    cfg: &crate::routing::config::RoutingConfig,
    members: &mut HashMap<Uuid, Vec<Candidate>>,
    call: &Call,
    passed: &mut Vec<Uuid>,
    busy: &HashSet<Uuid>,
) -> sqlx::Result<Option<Uuid>> {
    let named = call.agent_id.filter(|a| !passed.contains(a) && !busy.contains(a));
    if named.is_some() {
        return Ok(named);
    }
    if let Some(q) = call.queue_id.and_then(|q| cfg.queue(q)) {
        if let std::collections::hash_map::Entry::Vacant(slot) = members.entry(q.id) {
            slot.insert(db::candidates(conn, q.id).await?);
        }
        let language = if q.match_language { calls::caller_language(conn, call).await? } else { None };
        let last = if q.prefer_last_agent { calls::last_agent(conn, call).await? } else { None };
        let (next, again) = next_agent(q, &members[&q.id], language.as_deref(), last, passed, busy);
        if again {
            passed.clear();
        }
        return Ok(next);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::select::Strategy;

    fn queue() -> QueueConfig {
        QueueConfig {
            id: Uuid::new_v4(),
            name: "Calls".into(),
            strategy: Strategy::LeastLoaded,
            priority: 0,
            serves: crate::domain::routing::Serves::Calls,
            business_hours_id: None,
            outside_hours_target: None,
            overflow_after: None,
            overflow_target: None,
            required_skills: vec![],
            match_language: false,
            prefer_last_agent: false,
            acceptance_timeout: None,
            misses_to_away: None,
            waiting_strategy: Default::default(),
            deleted: false,
        }
    }

    fn agent(load: i32) -> Candidate {
        Candidate {
            id: Uuid::new_v4(),
            available: true,
            capacity: 3,
            load,
            skills: vec![],
            languages: vec![],
            last_assigned_at: None,
            turn_at: None,
        }
    }

    #[test]
    fn a_queue_that_prefers_the_last_agent_rings_them_first() {
        let (idle, last) = (agent(0), agent(2));
        let members = [idle.clone(), last.clone()];
        let preferring = QueueConfig { prefer_last_agent: true, ..queue() };
        assert_eq!(
            next_agent(&preferring, &members, None, Some(last.id), &[], &HashSet::new()),
            (Some(last.id), false)
        );
        assert_eq!(next_agent(&queue(), &members, None, Some(last.id), &[], &HashSet::new()), (Some(idle.id), false));
    }

    #[test]
    fn a_call_rings_the_queues_choice_first() {
        let (busy_one, idle) = (agent(2), agent(0));
        let members = [busy_one.clone(), idle.clone()];
        assert_eq!(next_agent(&queue(), &members, None, None, &[], &HashSet::new()), (Some(idle.id), false));
    }

    #[test]
    fn an_agent_who_passed_on_the_call_is_rung_only_after_everyone_else() {
        let (a, b) = (agent(0), agent(1));
        let members = [a.clone(), b.clone()];
        assert_eq!(next_agent(&queue(), &members, None, None, &[a.id], &HashSet::new()), (Some(b.id), false));
        assert_eq!(next_agent(&queue(), &members, None, None, &[a.id, b.id], &HashSet::new()), (Some(a.id), true));
    }

    #[test]
    fn an_agent_on_another_call_or_at_capacity_or_offline_is_not_rung() {
        let (on_call, full, mut away) = (agent(0), agent(3), agent(0));
        away.available = false;
        let members = [on_call.clone(), full, away];
        assert_eq!(next_agent(&queue(), &members, None, None, &[], &HashSet::from([on_call.id])), (None, false));
    }

    #[test]
    fn a_queue_that_matches_languages_rings_only_agents_who_speak_the_callers() {
        let (mut dutch, english) = (agent(1), agent(0));
        dutch.languages = vec!["nl".into()];
        let members = [dutch.clone(), english];
        let matching = QueueConfig { match_language: true, ..queue() };
        assert_eq!(next_agent(&matching, &members, Some("nl-BE"), None, &[], &HashSet::new()), (Some(dutch.id), false));
        assert_eq!(next_agent(&matching, &members, Some("ja"), None, &[], &HashSet::new()), (None, false));
        assert!(
            next_agent(&queue(), &members, Some("ja"), None, &[], &HashSet::new()).0.is_some(),
            "a queue that does not match rings anyone"
        );
    }
}
