//! The reports job: keeps the reports' facts and message totals up to date, in every process.
//!
//! Every `refresh` it folds the message counts appended since the last fold into the 15-minute totals, then
//! rebuilds the facts of the conversations whose timeline changed in a way a fact depends on (listed by triggers
//! in `report_dirty`), a batch at a time. A new conversation's first fact, `created`, is written by its insert
//! (migration `20261205000028`), so a conversation nobody has acted on costs the job nothing. Both are safe with
//! several processes running them at once: the counts folded and the conversations claimed are deleted from
//! their lists in the transaction that uses them (claims skip what another process holds), and a change
//! committed meanwhile lists its conversation again. Reports are therefore at most about `refresh` behind.

use super::facts::{self, Rules, Sla, Step, Timeline};
use super::{instant, offset};
use crate::store::reports::job as db;
use jiff::Timestamp;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Entries of the list taken per transaction.
const BATCH: i64 = 200;

pub struct Reporter {
    pub pool: PgPool,
    pub refresh: Duration,
}

impl Reporter {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "bringing the reports up to date failed; trying again later");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.refresh) => {}
            }
        }
    }

    /// Folds the message counts and rebuilds every listed conversation's facts; how many rebuilds.
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        db::fold_message_counts(&self.pool).await?;
        let mut rebuilt = 0;
        loop {
            let n = self.rebuild_batch().await?;
            if n == 0 {
                return Ok(rebuilt);
            }
            rebuilt += n;
        }
    }

    async fn rebuild_batch(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let ids = db::claim_dirty(&mut tx, BATCH).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let schedules: HashMap<Uuid, crate::domain::business_hours::Hours> =
            db::schedules(&mut tx).await?.into_iter().filter_map(|(id, s)| s.check().ok().map(|h| (id, h))).collect();
        let queues = db::queue_rules(&mut tx).await?;
        let heads = db::heads(&mut tx, &ids).await?;
        let mut steps: HashMap<Uuid, Vec<(Timestamp, Step)>> = HashMap::new();
        for h in db::happenings(&mut tx, &ids).await? {
            if let Some(step) = step_of(&h) {
                steps.entry(h.conversation_id).or_default().push((instant(h.at), step));
            }
        }
        let mut rules = Rules {
            queue_hours: queues
                .iter()
                .filter_map(|q| Some((q.id, schedules.get(&q.business_hours_id?)?.clone())))
                .collect(),
            number_hours: None,
            sla: queues
                .iter()
                .map(|q| {
                    let sla = Sla {
                        first_response_minutes: q.sla_first_response_minutes.map(i64::from),
                        resolution_hours: q.sla_resolution_hours.map(i64::from),
                    };
                    (q.id, sla)
                })
                .collect(),
        };
        let mut stored = Vec::new();
        for head in &heads {
            rules.number_hours = head.number_hours_id.and_then(|id| schedules.get(&id).cloned());
            let timeline =
                Timeline { created_at: instant(head.created_at), steps: steps.remove(&head.id).unwrap_or_default() };
            stored.extend(facts::derive(&timeline, &rules).into_iter().map(|f| db::NewFact {
                conversation_id: head.id,
                metric: f.metric.as_str(),
                at: offset(f.at),
                number_id: head.number_id,
                channel_id: head.channel_id,
                queue_id: f.queue_id,
                agent_id: f.agent_id,
                secs: f.secs,
                business_secs: f.business_secs,
                value: f.value,
                reason: f.reason,
                sla_met: f.sla_met,
            }));
        }
        db::replace_facts(&mut tx, &ids, &stored).await?;
        tx.commit().await?;
        Ok(ids.len())
    }
}

/// A timeline row as a step of the metrics (`None`: the metrics do not look at it).
fn step_of(h: &db::Happening) -> Option<Step> {
    let data = h.data.as_ref().map(|d| &d.0);
    let id = |v: Option<&Value>| v.and_then(Value::as_str).and_then(|s| s.parse::<Uuid>().ok());
    let field = |name: &str| id(data.and_then(|d| d.get(name)));
    // Where a transfer or overflow sent it.
    let to = |d: Option<&Value>| -> Option<Step> {
        let to = d?.get("to")?;
        match to.get("type")?.as_str()? {
            "queue" => Some(Step::Queued { queue: id(to.get("queue_id")) }),
            "agent" => Some(Step::Assigned { agent: id(to.get("agent_id"))?, queue: None }),
            "ai_agent" => Some(Step::ToAi),
            _ => None,
        }
    };
    Some(match h.kind.as_str() {
        "customer" => Step::Customer,
        "person" => Step::Person { agent: h.actor_id? },
        "survey_sent" => Step::SurveySent,
        "survey_rated" => Step::SurveyRated { rating: h.rating? },
        "queued" => Step::Queued { queue: field("queue_id") },
        "assigned" | "claimed" => Step::Assigned { agent: field("agent_id").or(h.actor_id)?, queue: field("queue_id") },
        "transferred" | "overflowed" => to(data)?,
        "unassigned" | "acceptance_timeout" => Step::Unassigned,
        "ai_agent" => Step::ToAi,
        "handed_over" => {
            Step::HandedOver { reason: data.and_then(|d| d.get("reason")).and_then(Value::as_str).map(str::to_owned) }
        }
        "resolved" => Step::Resolved,
        "reopened" => Step::Reopened,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn happening(kind: &str, data: Value) -> db::Happening {
        db::Happening {
            conversation_id: Uuid::now_v7(),
            at: time::OffsetDateTime::now_utc(),
            kind: kind.to_owned(),
            actor_type: Some("system".to_owned()),
            actor_id: None,
            data: Some(sqlx::types::Json(data)),
            rating: None,
        }
    }

    /// Migration `20261205000028` lists no rebuild for these timeline events (a new conversation's opening): no
    /// fact may depend on them.
    #[test]
    fn the_opening_events_routed_and_unowned_are_no_step_of_any_fact() {
        let routed = happening("routed", serde_json::json!({"rule_id": Uuid::now_v7(), "target": {"type": "none"}}));
        assert!(step_of(&routed).is_none());
        assert!(step_of(&happening("unowned", serde_json::json!({}))).is_none());
        // The AI agent's opening is a step (a conversation with the AI agent is measured), so it lists a rebuild.
        assert!(step_of(&happening("ai_agent", serde_json::json!({}))).is_some());
    }
}
