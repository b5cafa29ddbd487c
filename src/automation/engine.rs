//! The automation engine every `serve` process runs: looks at pending inbound messages and sends queues'
//! waiting notices. It wakes on a local signal (this process stored a message on a number with automations)
//! and every `routing.poll_ms` (messages stored by other processes, conversations routed meanwhile, notices
//! falling due).
//!
//! Pending messages are taken in batches with `FOR UPDATE SKIP LOCKED`; what they lead to is sent and their
//! inbox entries deleted in one transaction, so a crash before the commit leaves them pending (looked at again) and one
//! after it has sent everything once. Each step claims its key in `automation_runs` first, so two processes can
//! never both greet one conversation or say out-of-hours twice in one closed period.

use super::config::{AutomationCache, AutomationConfig};
use super::decide::{self, Does, Inbound, Say, Step};
use crate::domain::automation::{self, render, wait_in_words, Author, Kind, Placeholders};
use crate::domain::opt_in::OptInSource;
use crate::error::AppError;
use crate::outbound::compose::{self, Draft, Outbox, TemplateUse};
use crate::outbound::policy::SendError;
use crate::routing::actions::{self, ActionError};
use crate::routing::rules::{CommunicationType, Facts};
use crate::store::automation::{self as db, Pending};
use crate::store::opt_ins;
use crate::store::routing as timeline;
use jiff::Timestamp;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Messages looked at per transaction.
const BATCH: i64 = 100;

/// Texts the batch's messages say, each with its run key, sent together ([`Engine::say_texts`]).
type Texts = Vec<(String, compose::AutomatedText)>;

pub struct Engine {
    pub pool: PgPool,
    pub cache: AutomationCache,
    pub outbox: Outbox,
    pub wake: Arc<Notify>,
    /// Kicked after a commit that may have queued sends.
    pub jobs_wake: crate::jobs::Wake,
    pub poll: Duration,
    /// How often conversations are looked at for auto-resolve (`routing.idle_scan_secs`).
    pub idle_scan: Duration,
}

impl Engine {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut last_notices = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut last_idle_scan = tokio::time::Instant::now();
        loop {
            // Keeps the configuration the webhook's path reads (`AutomationCache::snapshot`) current.
            if let Ok(mut conn) = self.pool.acquire().await {
                if let Err(e) = self.cache.get(&mut conn).await {
                    tracing::warn!(error = %e, "cannot reload the automation configuration");
                }
            }
            self.handle_pending().await;
            if last_notices.elapsed() >= self.poll.max(Duration::from_secs(1)) {
                last_notices = tokio::time::Instant::now();
                if let Err(e) = self.send_waiting_notices().await {
                    tracing::warn!(error = %e, "sending waiting notices failed; tried again on the next round");
                }
                if let Err(e) = crate::store::csat::sweep(&self.pool).await {
                    tracing::warn!(error = %e, "closing expired CSAT surveys failed; tried again on the next round");
                }
            }
            if last_idle_scan.elapsed() >= self.idle_scan {
                last_idle_scan = tokio::time::Instant::now();
                if let Err(e) = self.auto_resolve().await {
                    tracing::warn!(error = %e, "auto-resolving silent conversations failed; tried again on the next round");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Looks at every pending message that can be looked at now; returns how many.
    pub async fn handle_pending(&self) -> usize {
        let mut total = 0;
        let mut collisions = 0;
        loop {
            match self.batch(BATCH).await {
                Ok(n) => {
                    total += n;
                    if (n as i64) < BATCH {
                        return total;
                    }
                }
                Err(e) if crate::store::is_transient(&e) && collisions < 5 => collisions += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "automations failed for a batch; looking at its messages one by one");
                    return total + self.one_by_one().await;
                }
            }
        }
    }

    async fn batch(&self, limit: i64) -> sqlx::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let pending = db::claim_pending(&mut tx, limit).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let cfg = self.cache.get(&mut tx).await?;
        // When each rule last fired for each contact of the batch, in one query (only rules with a cooldown care).
        let mut fired: HashMap<Uuid, HashMap<Uuid, f64>> = HashMap::new();
        if cfg.rules.iter().any(|r| r.cooldown_secs.is_some()) {
            let contacts: Vec<Uuid> = pending.iter().map(|p| p.contact_id).collect();
            for (contact, rule, ago) in db::cooldowns_of_many(&mut tx, &contacts).await? {
                fired.entry(contact).or_default().insert(rule, ago);
            }
        }
        let none = HashMap::new();
        let mut texts = Texts::default();
        for p in &pending {
            self.handle(&mut tx, &cfg, p, fired.get(&p.contact_id).unwrap_or(&none), &mut texts).await?;
        }
        self.say_texts(&mut tx, &mut texts).await?;
        let ids: Vec<Uuid> = pending.iter().map(|p| p.message_id).collect();
        db::clear_pending(&mut tx, &ids).await?;
        tx.commit().await?;
        self.jobs_wake.kick();
        Ok(pending.len())
    }

    /// After a failed batch: one message per transaction; a message that fails on its own is left alone (its
    /// inbox entry deleted, the failure in its conversation's timeline) rather than retried forever.
    async fn one_by_one(&self) -> usize {
        let mut done = 0;
        while done < BATCH as usize {
            match self.batch(1).await {
                Ok(0) => break,
                Ok(_) => done += 1,
                Err(e) if crate::store::is_transient(&e) => break,
                Err(e) => {
                    if let Err(e2) = self.give_up(&e.to_string()).await {
                        tracing::error!(error = %e2, "cannot record an automation failure");
                        break;
                    }
                    done += 1;
                }
            }
        }
        done
    }

    async fn give_up(&self, error: &str) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(p) = db::claim_pending(&mut tx, 1).await?.into_iter().next() {
            tracing::error!(message = %p.message_id, error, "automations cannot handle the message; it is left alone");
            let actor = super::caller(None).actor;
            let data = json!({ "message_id": p.message_id, "error": error });
            timeline::record_event(&mut tx, p.conversation_id, "automation_failed", &actor, data).await?;
            db::clear_pending(&mut tx, &[p.message_id]).await?;
        }
        tx.commit().await
    }

    /// `last_fired`: when each rule last fired for the contact, as the batch began (a rule another message of
    /// the batch fired since is caught by the cooldown's own claim). A message whose steps only say text (a
    /// greeting, the out-of-hours message, a text reply: nearly all) adds them to `texts`, sent together for the
    /// batch; any other message first sends what `texts` holds, then carries out its own steps in order.
    async fn handle(
        &self,
        conn: &mut PgConnection,
        cfg: &AutomationConfig,
        p: &Pending,
        last_fired: &HashMap<Uuid, f64>,
        texts: &mut Texts,
    ) -> sqlx::Result<()> {
        let rules = cfg.rules_for(p.channel_id);
        let m = Inbound {
            message_id: p.message_id,
            number_id: p.number_id,
            queue_id: p.queue_id,
            profile_name: p.profile_name.as_deref(),
            refused_media: p.refused_media,
            person_replied: p.person_replied,
            person_replied_secs_ago: p.person_replied_secs_ago,
            last_fired,
        };
        let facts = facts(cfg, p);
        let mut cooled: HashMap<Uuid, bool> = HashMap::new();
        let mut steps = decide::decide(cfg, &m, &facts, Timestamp::now());
        if p.contact_blocked {
            // A blocked contact is answered by nothing, but their STOP or START is still recorded and confirmed:
            // consent is theirs to change whatever we think of them.
            steps.retain(|s| matches!(s.does, Does::OptIn { .. } | Does::CallPermissionAnswer { .. }));
        }
        let only_text = steps.iter().all(|s| matches!(s.does, Does::Say(Say::Text(_))));
        if !only_text {
            self.say_texts(conn, texts).await?;
        }
        for step in steps {
            if let Some(rule) = step.rule_id {
                let cooldown = rules.iter().find(|r| r.id == rule).and_then(|r| r.cooldown_secs);
                let allowed = match (cooled.get(&rule), cooldown) {
                    (Some(&allowed), _) => allowed,
                    (None, None) => true,
                    (None, Some(secs)) => db::claim_cooldown(conn, rule, p.contact_id, secs).await?,
                };
                if !cooled.contains_key(&rule) && allowed {
                    // The rule fired: said once in the timeline (its tags, unlike its other actions, leave no event).
                    let name = rules.iter().find(|r| r.id == rule).map(|r| r.name.as_str()).unwrap_or_default();
                    let data = json!({ "rule_id": rule, "rule_name": name, "message_id": p.message_id });
                    timeline::record_event(
                        conn,
                        p.conversation_id,
                        "automation_rule_fired",
                        &super::caller(Some(rule)).actor,
                        data,
                    )
                    .await?;
                }
                cooled.insert(rule, allowed);
                if !allowed {
                    continue;
                }
            }
            match step.does {
                Does::Say(Say::Text(body)) if only_text => {
                    let author = Author { kind: step.kind, rule_id: step.rule_id, ai_agent_id: None };
                    texts.push((step.key, compose::AutomatedText { conversation_id: p.conversation_id, body, author }))
                }
                _ => self.carry_out(conn, cfg, p.conversation_id, &step).await?,
            }
        }
        Ok(())
    }

    /// Sends the texts gathered so far, each once: their keys claimed in one statement, the messages queued in
    /// one more; a refusal is written to the timeline, as [`Self::carry_out`] does.
    async fn say_texts(&self, conn: &mut PgConnection, texts: &mut Texts) -> sqlx::Result<()> {
        if texts.is_empty() {
            return Ok(());
        }
        let gathered = std::mem::take(texts);
        let keys: Vec<(Uuid, Kind, &str)> =
            gathered.iter().map(|(key, t)| (t.conversation_id, t.author.kind, key.as_str())).collect();
        let claimed = db::claim_runs(conn, &keys).await?;
        let todo: Vec<compose::AutomatedText> =
            gathered.into_iter().zip(claimed).filter(|(_, claimed)| *claimed).map(|((_, t), _)| t).collect();
        let answers = compose::send_texts(conn, self.outbox, &super::caller(None), &todo).await?;
        for (t, answer) in todo.iter().zip(answers) {
            if let Err(r) = answer {
                let e = AppError::from(r);
                let rule = t.author.rule_id;
                let data = skipped(t.author.kind, rule, &e);
                let actor = super::caller(rule).actor;
                timeline::record_event(conn, t.conversation_id, "automation_skipped", &actor, data).await?;
                tracing::info!(conversation = %t.conversation_id, kind = t.author.kind.as_str(), reason = %e, "automation skipped");
            }
        }
        Ok(())
    }

    /// Carries out one step once: its key is claimed first; a refusal (the window closed, a template not
    /// approved, the conversation resolved by an earlier step) is written to the timeline, not retried.
    async fn carry_out(
        &self,
        conn: &mut PgConnection,
        cfg: &AutomationConfig,
        id: Uuid,
        step: &Step,
    ) -> sqlx::Result<()> {
        if !db::claim_run(conn, id, step.kind, &step.key).await? {
            return Ok(());
        }
        let caller = super::caller(step.rule_id);
        let refused = match &step.does {
            Does::CallPermissionAnswer { message_id, granted } => {
                crate::calling::permission::answered(conn, id, *message_id, *granted).await?;
                None
            }
            Does::Say(say) => {
                let author = Author { kind: step.kind, rule_id: step.rule_id, ai_agent_id: None };
                match self.say(conn, id, say, author).await {
                    Ok(_) => None,
                    Err(SendError::Refused(r)) => Some(AppError::from(r)),
                    Err(SendError::Database(e)) => return Err(e),
                }
            }
            Does::AddTags(tags) => {
                crate::store::conversations::add_tags(conn, id, tags).await?;
                None
            }
            Does::SetPriority(p) => action(actions::set_priority(conn, &caller, id, *p).await)?,
            Does::Resolve => action(actions::resolve(conn, &caller, id).await)?,
            Does::Route(target) => action(actions::transfer(conn, &cfg.routing, &caller, id, *target).await)?,
            Does::OptIn { state, message_id, text } => {
                let evidence = format!("the customer wrote a keyword alone (message {message_id})");
                let change = opt_ins::Change { state: *state, source: OptInSource::Keyword, evidence: Some(&evidence) };
                opt_ins::record_in_conversation(conn, id, &change, &caller.actor.label).await?;
                let author = Author { kind: step.kind, rule_id: None, ai_agent_id: None };
                match self.say(conn, id, &Say::Text(text.clone()), author).await {
                    Ok(_) => None,
                    Err(SendError::Refused(r)) => Some(AppError::from(r)),
                    Err(SendError::Database(e)) => return Err(e),
                }
            }
        };
        if let Some(e) = refused {
            let data = skipped(step.kind, step.rule_id, &e);
            timeline::record_event(conn, id, "automation_skipped", &caller.actor, data).await?;
            tracing::info!(conversation = %id, kind = step.kind.as_str(), reason = %e, "automation skipped");
        }
        Ok(())
    }

    async fn say(&self, conn: &mut PgConnection, id: Uuid, say: &Say, author: Author) -> Result<Uuid, SendError> {
        let draft = match say {
            Say::Text(text) => Draft { body: text.clone(), automated: Some(author), ..Draft::default() },
            Say::Template { id, variables } => Draft {
                template: Some(TemplateUse { id: *id, variables: variables.clone() }),
                automated: Some(author),
                ..Draft::default()
            },
        };
        let caller = super::caller(author.rule_id);
        compose::send_quietly(conn, self.outbox, &caller, id, draft).await
    }

    /// Sends every waiting notice that is due: position and estimated wait filled in, at most the queue's
    /// maximum per wait, at most one per interval, and never once the conversation left the queue (its row is
    /// locked while the notice is queued, so an assignment cannot slip in between).
    pub async fn send_waiting_notices(&self) -> sqlx::Result<usize> {
        let due = db::due_waiting_notices(&mut *self.pool.acquire().await?, 200).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let cfg = self.cache.get(&mut *self.pool.acquire().await?).await?;
        let mut estimates: HashMap<Uuid, (i64, Option<f64>)> = HashMap::new();
        let mut sent = 0;
        for w in due {
            let Some(text) = cfg.queues.get(&w.queue_id).and_then(|q| q.waiting_notice_text.clone()) else { continue };
            let mut tx = self.pool.begin().await?;
            let Some(wait) = db::lock_still_waiting(&mut tx, w.conversation_id, w.queue_id).await? else { continue };
            let key = format!("{wait}:{}", w.notices_sent + 1);
            if !db::claim_run(&mut tx, w.conversation_id, Kind::WaitingNotice, &key).await? {
                continue;
            }
            let recent = match estimates.get(&w.queue_id) {
                Some(r) => *r,
                None => {
                    let r = db::recent_waits(&mut tx, w.queue_id).await?;
                    estimates.insert(w.queue_id, r);
                    r
                }
            };
            let estimate = automation::estimate_wait(w.position as u32, recent.0, recent.1, w.waited_secs);
            let number = cfg.numbers.get(&w.number_id);
            let names = Placeholders {
                customer_name: w.profile_name.as_deref(),
                number_name: number.map(|n| n.display_name.as_str()),
                position: Some(w.position as u32),
                estimated_wait: estimate.map(wait_in_words),
            };
            // The key is claimed above; the notice is sent under it.
            let say = Say::Text(render(&text, &names));
            let author = Author { kind: Kind::WaitingNotice, rule_id: None, ai_agent_id: None };
            match self.say(&mut tx, w.conversation_id, &say, author).await {
                Ok(_) => {
                    tx.commit().await?;
                    self.jobs_wake.kick();
                    sent += 1;
                }
                Err(SendError::Refused(r)) => {
                    let data = skipped(Kind::WaitingNotice, None, &AppError::from(r));
                    let actor = super::caller(None).actor;
                    timeline::record_event(&mut tx, w.conversation_id, "automation_skipped", &actor, data).await?;
                    tx.commit().await?;
                }
                Err(SendError::Database(e)) => return Err(e),
            }
        }
        Ok(sent)
    }
}

impl Engine {
    /// Resolves every conversation silent for its number's or queue's auto-resolve time, each after its closing
    /// message (when one is set and the customer's window is open; otherwise the timeline says why not). The
    /// conversation's row is locked and its run claimed under the silence's start, so however many processes
    /// scan at once, each silence ends in one resolve and at most one closing message. Answers how many.
    pub async fn auto_resolve(&self) -> sqlx::Result<usize> {
        let mut total = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let idle = db::lock_idle(&mut tx, BATCH).await?;
            if idle.is_empty() {
                return Ok(total);
            }
            let cfg = self.cache.get(&mut tx).await?;
            let (mut sent, mut resolved) = (false, 0);
            for c in &idle {
                let since = c.silent_since.unix_timestamp_nanos().to_string();
                if !db::claim_run(&mut tx, c.conversation_id, Kind::AutoResolve, &since).await? {
                    continue;
                }
                resolved += 1;
                let actor = super::caller(None).actor;
                let data = json!({ "after_minutes": c.minutes, "closing_message": c.text.is_some() });
                timeline::record_event(&mut tx, c.conversation_id, "auto_resolved", &actor, data).await?;
                if let Some(text) = &c.text {
                    let names = Placeholders {
                        customer_name: c.profile_name.as_deref(),
                        number_name: cfg.numbers.get(&c.number_id).map(|n| n.display_name.as_str()),
                        ..Placeholders::default()
                    };
                    let author = Author { kind: Kind::AutoResolve, rule_id: None, ai_agent_id: None };
                    match self.say(&mut tx, c.conversation_id, &Say::Text(render(text, &names)), author).await {
                        Ok(_) => sent = true,
                        Err(SendError::Refused(r)) => {
                            let why = skipped(Kind::AutoResolve, None, &AppError::from(r));
                            timeline::record_event(&mut tx, c.conversation_id, "automation_skipped", &actor, why)
                                .await?;
                        }
                        Err(SendError::Database(e)) => return Err(e),
                    }
                }
                if let Some(e) = action(actions::resolve(&mut tx, &super::caller(None), c.conversation_id).await)? {
                    tracing::warn!(conversation = %c.conversation_id, error = %e, "cannot auto-resolve the conversation");
                }
            }
            tx.commit().await?;
            if sent {
                self.jobs_wake.kick();
            }
            total += resolved;
            if (idle.len() as i64) < BATCH || resolved == 0 {
                return Ok(total);
            }
        }
    }
}

/// A refused action is reported like a refused message; a database error ends the transaction.
/// What the timeline records when an automation's message was refused: which automation (and rule), the refusal in
/// words, and its code (which the inbox shows in the agent's language).
fn skipped(kind: Kind, rule_id: Option<Uuid>, refusal: &AppError) -> serde_json::Value {
    json!({ "automation": kind, "rule_id": rule_id, "reason": refusal.to_string(), "code": refusal.code() })
}

fn action(r: Result<(), ActionError>) -> sqlx::Result<Option<AppError>> {
    match r {
        Ok(()) => Ok(None),
        Err(ActionError::Refused(r)) => Ok(Some(AppError::from(ActionError::Refused(r)))),
        Err(ActionError::Database(e)) => Err(e),
    }
}

/// The facts auto-reply rules look at: this message's text and button, the contact, the number's hours.
fn facts(cfg: &AutomationConfig, p: &Pending) -> Facts {
    Facts {
        channel_id: p.channel_id,
        number_id: p.number_id,
        communication_type: CommunicationType::Message,
        language: p.language.clone(),
        text: p.body.clone(),
        button_payload: p.button_payload.clone().filter(|b| !b.is_empty()),
        attributes: p.attributes.0.clone(),
        tags: p.tags.clone(),
        returning: p.returning,
        number_hours_id: cfg.routing.numbers.get(&p.number_id).and_then(|n| n.business_hours_id),
    }
}
