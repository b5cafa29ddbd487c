//! The `ai.reply` job and the scanner that queues it.
//!
//! [`Scanner`] (every `serve` process runs one where routing runs) queues a reply for each AI-owned
//! conversation whose customer wrote since its last answer and has been quiet for `ai.debounce_ms` (or whose
//! first unanswered message is `ai.max_wait_ms` old: a customer who never pauses is answered too), one at a
//! time per conversation (`store::ai::queue_replies`). [`ReplyTask`] reads the unanswered messages, decides
//! ([`super::agent::think`], outside any transaction: a model may take seconds), then in one transaction
//! checks that the AI agent still owns the conversation, moves `answered_through` forward from where it started
//! (or gives up: another reply got there first), and sends the reply, hands over with a private note, or
//! resolves. The send itself is the outbound sender's job, queued in that transaction.

use super::agent::{self, Decision, Indexes, LoadError, Situation, Thought};
use super::split::split;
use crate::config::AiSettings;
use crate::domain::ai::HandoverReason;
use crate::domain::automation::{Author, Kind};
use crate::domain::{ConversationStatus, RoutingState};
use crate::jobs::{self, Attempt, Done, JobError, Task};
use crate::outbound::compose::{self, AutomatedText, Outbox, MAX_BODY_CHARS};
use crate::routing::actions::{self, ActionError};
use crate::routing::config::ConfigCache;
use crate::secrets::SecretBox;
use crate::store::ai::{self as db, TurnRecord};
use crate::store::routing as routing_db;
use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const KIND: &str = "ai.reply";

/// Conversations given a reply per scan.
const SCAN_BATCH: i64 = 200;
/// Attempts at one reply job (database trouble; the model's own retries are inside one attempt).
pub const JOB_ATTEMPTS: i32 = 3;

/// Queues replies: looks every quarter of the debounce (at least every 100 ms, at most every second).
pub struct Scanner {
    pub pool: PgPool,
    pub settings: AiSettings,
    pub jobs_wake: jobs::Wake,
}

impl Scanner {
    pub fn interval(&self) -> Duration {
        Duration::from_millis((self.settings.debounce_ms / 4).clamp(100, 1000))
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let every = self.interval();
        loop {
            if let Err(e) = self.scan().await {
                tracing::warn!(error = %e, "queueing AI replies failed; tried again shortly");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Queues every reply due now; returns how many.
    pub async fn scan(&self) -> sqlx::Result<u64> {
        let s = &self.settings;
        let mut total = 0;
        loop {
            let n = db::queue_replies(
                &self.pool,
                s.debounce_ms,
                s.max_wait_ms.max(s.debounce_ms),
                SCAN_BATCH,
                JOB_ATTEMPTS,
            )
            .await?;
            total += n;
            if n > 0 {
                self.jobs_wake.kick();
            }
            if (n as i64) < SCAN_BATCH {
                return Ok(total);
            }
        }
    }
}

/// Answers one conversation's unanswered messages.
pub struct ReplyTask {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub http: reqwest::Client,
    pub settings: AiSettings,
    pub routing: ConfigCache,
    pub indexes: Indexes,
    pub outbox: Outbox,
    pub jobs_wake: jobs::Wake,
}

impl Task for ReplyTask {
    fn run<'a>(&'a self, payload: &'a Value, _attempt: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let id = jobs::uuid_in(payload, "conversation_id")?;
            self.reply(id).await?;
            Ok(Done::Completed)
        })
    }

    fn record_failure<'a>(
        &'a self,
        payload: &'a Value,
        error: &'a str,
        final_failure: bool,
    ) -> BoxFuture<'a, sqlx::Result<()>> {
        Box::pin(async move {
            match (final_failure, jobs::uuid_in(payload, "conversation_id")) {
                (true, Ok(id)) => self.give_up(id, error).await,
                _ => Ok(()),
            }
        })
    }
}

impl ReplyTask {
    #[tracing::instrument(skip_all, fields(conversation = %id))]
    async fn reply(&self, id: Uuid) -> Result<(), JobError> {
        let mut conn = self.pool.acquire().await?;
        let Some(session) = db::session(&mut conn, id).await? else {
            return Ok(());
        };
        if session.routing_state != RoutingState::Ai || session.status == ConversationStatus::Resolved {
            db::release(&self.pool, id).await?;
            return Ok(());
        }
        let unanswered = db::unanswered(&mut conn, id, session.answered_through).await?;
        let Some(first) = unanswered.first() else {
            db::release(&self.pool, id).await?;
            return Ok(());
        };
        let through = session.last_inbound_at.max(unanswered.last().map(|m| m.created_at));
        if !crate::domain::window::at(session.last_inbound_at, session.db_now).open {
            // Nothing may be said any more (a job run a day late): the messages count as seen, so that the
            // scanner does not queue them again; the customer's next message opens the window and is answered.
            let mut tx = self.pool.begin().await?;
            db::answered(&mut tx, id, session.answered_through, through, false, false).await?;
            tx.commit().await?;
            return Ok(());
        }
        let waited = Duration::try_from(session.db_now - first.created_at).unwrap_or_default();
        let loaded = match agent::load(&mut conn, &self.secrets, &self.indexes, session.ai_agent_id).await {
            Ok(l) => l,
            Err(LoadError::Database(e)) => return Err(e.into()),
            Err(e) => return Err(JobError::Permanent(e.to_string())),
        };
        let history = if loaded.endpoint.is_some() {
            agent::turns(&db::history(&mut conn, id, self.settings.history_messages.max(1)).await?)
        } else {
            Vec::new()
        };
        drop(conn);
        let texts: Vec<String> = unanswered
            .iter()
            .map(|m| agent::describe(m.body.as_deref(), m.button_text.as_deref(), m.attachments))
            .filter(|t| !t.is_empty())
            .collect();
        let situation = Situation {
            unanswered: &texts,
            history: &history,
            turns: session.turns,
            waited,
            language: session.language.as_deref(),
            fallback_language: session.number_language.as_deref(),
        };
        let started = Instant::now();
        let thought = agent::think(&self.http, &self.settings, &loaded, &situation).await;
        let took = started.elapsed();
        if let Some(e) = &thought.error {
            tracing::warn!(error = %e, "the AI model failed; handing over");
        }
        let greeting = (!session.greeted).then(|| loaded.agent.greeting.clone()).flatten();
        let applied = self
            .apply(id, &loaded.agent, session.answered_through, through, &thought, greeting, took)
            .await
            .map_err(|e| match e {
                ActionError::Database(e) => JobError::from(e),
                ActionError::Refused(r) => JobError::Permanent(format!("refused: {r:?}")),
            })?;
        if applied {
            self.jobs_wake.kick();
            let (outcome, reason) = outcome(&thought.decision);
            let tokens = (thought.usage.prompt_tokens, thought.usage.completion_tokens);
            crate::metrics::get().ai_decision(outcome, reason, tokens, took);
            tracing::info!(outcome, reason, took_ms = took.as_millis() as u64, "AI agent answered");
        }
        Ok(())
    }

    /// Hands the conversation to people as the AI agent `caller`, leaving the private note "Handed over by …:
    /// the reason." followed by `details` (a summary, the error).
    async fn hand_over(
        &self,
        tx: &mut sqlx::PgConnection,
        caller: &crate::auth::Caller,
        id: Uuid,
        reason: HandoverReason,
        details: &str,
    ) -> Result<(), ActionError> {
        let name = &caller.actor.label;
        let note: String = format!("Handed over by {name}: {}.{details}", reason.words()).chars().take(4000).collect();
        crate::store::notes::insert(tx, id, None, name, &note).await?;
        let cfg = ConfigCache::get(&self.routing, tx).await?;
        actions::handover(tx, &cfg, caller, id, None, None, reason).await
    }

    /// The reply failed its last attempt: a customer must not wait on an AI agent that cannot answer, so the
    /// conversation goes to people (reason `reply_failed`) with a note saying why, and the session is free again.
    async fn give_up(&self, id: Uuid, error: &str) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        db::release(&mut *tx, id).await?;
        let owned = routing_db::lock_routable(&mut tx, id).await?;
        let session = match owned {
            Some(r) if r.routing_state == RoutingState::Ai && r.status != ConversationStatus::Resolved => {
                db::session(&mut tx, id).await?
            }
            _ => None,
        };
        if let Some(session) = session {
            let name = crate::store::ai_agents::find(&mut tx, session.ai_agent_id)
                .await?
                .map_or_else(|| "The AI agent".to_owned(), |a| a.name);
            let reason = HandoverReason::ReplyFailed;
            let caller = super::caller(session.ai_agent_id, &name);
            match self.hand_over(&mut tx, &caller, id, reason, &format!("\nError: {error}")).await {
                Ok(()) => {}
                // Checked under the lock above: the AI agent owns the open conversation.
                Err(ActionError::Refused(r)) => tracing::warn!(refusal = ?r, "an AI hand-over was refused"),
                Err(ActionError::Database(e)) => return Err(e),
            }
            let record = TurnRecord { outcome: "handover", reason: Some(reason.as_str()), ..TurnRecord::default() };
            db::record_turn(&mut tx, id, session.ai_agent_id, &record).await?;
            tracing::warn!(conversation = %id, error, "an AI reply failed its last attempt; handed over to people");
        }
        tx.commit().await?;
        self.jobs_wake.kick();
        Ok(())
    }

    /// Writes the decision in one transaction; false when the AI agent no longer owns the conversation or
    /// another reply answered these messages first (nothing is sent then).
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        id: Uuid,
        agent: &crate::store::ai_agents::AiAgent,
        before: Option<time::OffsetDateTime>,
        through: Option<time::OffsetDateTime>,
        thought: &Thought,
        greeting: Option<String>,
        took: Duration,
    ) -> Result<bool, ActionError> {
        let mut tx = self.pool.begin().await?;
        let Some(r) = routing_db::lock_routable(&mut tx, id).await? else {
            return Ok(false);
        };
        if r.routing_state != RoutingState::Ai || r.status == ConversationStatus::Resolved {
            return Ok(false);
        }
        let replied = matches!(thought.decision, Decision::Reply(_));
        let greets = greeting.is_some();
        if !db::answered(&mut tx, id, before, through, replied, greets).await? {
            return Ok(false);
        }
        let caller = super::caller(agent.id, &agent.name);
        let author = Author { kind: Kind::AiAgent, rule_id: None, ai_agent_id: Some(agent.id) };
        let texts: Vec<AutomatedText> = messages(greeting, &thought.decision)
            .into_iter()
            .map(|body| AutomatedText { conversation_id: id, body, author })
            .collect();
        if !texts.is_empty() {
            for refused in
                compose::send_texts(&mut tx, self.outbox, &caller, &texts).await?.into_iter().filter_map(Result::err)
            {
                // The window closed, the channel went: the decision still stands, the words are not sent.
                tracing::info!(refusal = ?refused, "an AI agent's message was not sent");
            }
        }
        match &thought.decision {
            Decision::Reply(_) => {}
            Decision::Handover { reason, summary, model_reason, .. } => {
                let said = model_reason.as_ref().map(|m| format!(" The model said: {m}.")).unwrap_or_default();
                self.hand_over(&mut tx, &caller, id, *reason, &format!("{said}\nSummary: {summary}")).await?;
            }
            Decision::Resolve { summary, .. } => {
                let note: String =
                    format!("Resolved by {}.\nSummary: {summary}", agent.name).chars().take(4000).collect();
                crate::store::notes::insert(&mut tx, id, None, &agent.name, &note).await?;
                actions::resolve(&mut tx, &caller, id).await?;
            }
        }
        let (outcome, reason) = outcome(&thought.decision);
        let record = TurnRecord {
            outcome,
            reason,
            knowledge_index: thought.matched.map(|m| m.index as i32),
            confidence: thought.matched.map(|m| m.confidence),
            prompt_tokens: thought.usage.prompt_tokens,
            completion_tokens: thought.usage.completion_tokens,
            latency_ms: took.as_millis().min(i32::MAX as u128) as i32,
        };
        db::record_turn(&mut tx, id, agent.id, &record).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// What the customer receives, in order: the greeting (the first time) and the words of the decision, as one
/// message when they fit in one (one bubble on the phone), else split at sentence boundaries (sent in order: see
/// `outbound::sender`).
pub fn messages(greeting: Option<String>, decision: &Decision) -> Vec<String> {
    let words = match decision {
        Decision::Reply(text) | Decision::Handover { text, .. } => Some(text.as_str()),
        Decision::Resolve { text, .. } => text.as_deref(),
    };
    let all = match (greeting, words) {
        (Some(g), Some(w)) => format!("{g}\n\n{w}"),
        (Some(g), None) => g,
        (None, Some(w)) => w.to_owned(),
        (None, None) => return Vec::new(),
    };
    split(&all, MAX_BODY_CHARS)
}

/// The decision's outcome and hand-over reason, as recorded.
pub fn outcome(d: &Decision) -> (&'static str, Option<&'static str>) {
    match d {
        Decision::Reply(_) => ("reply", None),
        Decision::Handover { reason, .. } => ("handover", Some(reason.as_str())),
        Decision::Resolve { .. } => ("resolve", None),
    }
}
