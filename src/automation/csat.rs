//! The CSAT survey. Resolving a conversation on a number with CSAT on inserts a `csat.survey` job in the
//! resolve's own transaction ([`crate::store::csat::enqueue`]); the job sends the survey once (its key is the
//! resolve's moment, claimed in `automation_runs`): inside the 24-hour window the number's quick-reply content
//! for the customer's language (created at Twilio by Switchboard the first time, `POST /v1/Content`), outside it
//! the approved template the number names, otherwise nothing (`skipped`, with the reason).
//!
//! The customer's answer is read on the inbound path ([`receive_answer`]) before the message would open a new
//! conversation: a tapped button, or a digit while they have no other conversation open, becomes the rating;
//! free text within an hour of the rating becomes its comment. Both are stored in the resolved conversation,
//! which stays resolved. Anything else behaves as any message does.

use crate::channels::{ChannelConfig, Number};
use crate::domain::automation::{rating_payload, read_answer, Author, CsatSettings, CsatTexts, Kind};
use crate::error::{AppError, AppResult};
use crate::jobs::{self, Attempt, Done, JobError, Task};
use crate::outbound::compose::{self, Draft, Outbox, TemplateUse};
use crate::outbound::policy::SendError;
use crate::secrets::SecretBox;
use crate::state::AppState;
use crate::store::csat::{self as db, NewSurvey, SurveyTarget};
use crate::store::messages::Stored;
use crate::store::routing as timeline;
use crate::store::{self, automation as settings_db};
use crate::twilio::rest::RestClient;
use crate::twilio::webhook::{Form, InboundMessage};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub const KIND: &str = db::SURVEY_KIND;

/// A rating's free-text follow-up is taken as its comment within this long.
const COMMENT_SECS: f64 = 3600.0;

/// The survey's words when the number set none.
fn default_texts(settings: &CsatSettings) -> CsatTexts {
    CsatTexts {
        question: "How would you rate our service today?".into(),
        labels: settings.scale.default_labels(),
        thanks: None,
    }
}

/// The `csat.survey` task.
pub struct SurveyTask {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub twilio: RestClient,
    pub outbox: Outbox,
    /// Kicked once a survey is queued.
    pub jobs_wake: crate::jobs::Wake,
}

impl Task for SurveyTask {
    fn run<'a>(&'a self, payload: &'a Value, _: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let conversation = jobs::uuid_in(payload, "conversation_id")?;
            let agent = payload["agent_id"].as_str().and_then(|a| a.parse::<Uuid>().ok());
            self.send(conversation, agent, jobs::text_in(payload, "key")?).await?;
            Ok(Done::Completed)
        })
    }
}

/// What the survey sends: a content, or nothing and why.
enum Plan {
    Send(Uuid),
    Skip(&'static str),
}

impl SurveyTask {
    async fn send(&self, conversation: Uuid, agent: Option<Uuid>, key: &str) -> Result<(), JobError> {
        let mut conn = self.pool.acquire().await?;
        let Some(target) = db::target(&mut conn, conversation).await? else {
            return Err(JobError::Permanent(format!("no conversation {conversation}")));
        };
        if !target.csat_enabled {
            return Ok(()); // turned off since the resolve
        }
        let settings =
            settings_db::number_settings(&mut conn, target.number_id).await?.map(|s| s.csat.0).unwrap_or_default();
        drop(conn);
        let plan = if target.window_open {
            Plan::Send(self.content(&target, &settings).await?)
        } else if let Some(t) = settings.template_id {
            Plan::Send(t)
        } else {
            Plan::Skip("window_closed_no_template")
        };
        let mut tx = self.pool.begin().await?;
        if !settings_db::claim_run(&mut tx, conversation, Kind::Csat, key).await? {
            return Ok(()); // sent (or skipped) by an earlier attempt
        }
        let caller = super::caller(None);
        let sent = match plan {
            Plan::Send(template) => {
                let draft = Draft {
                    template: Some(TemplateUse { id: template, variables: Default::default() }),
                    automated: Some(Author { kind: Kind::Csat, rule_id: None, ai_agent_id: None }),
                    ..Draft::default()
                };
                match compose::send(&mut tx, self.outbox, &caller, conversation, draft).await {
                    Ok(m) => Ok(m.id),
                    Err(SendError::Refused(r)) => Err(AppError::from(r).to_string()),
                    Err(SendError::Database(e)) => return Err(e.into()),
                }
            }
            Plan::Skip(reason) => Err(reason.to_owned()),
        };
        let survey = NewSurvey {
            target: &target,
            agent_id: agent,
            sent: sent.as_ref().map(|m| *m).map_err(String::as_str),
            scale: settings.scale.points(),
            validity_hours: settings.validity_hours,
        };
        let id = db::insert(&mut tx, &survey).await?;
        match &sent {
            Ok(_) => {
                timeline::record_event(&mut tx, conversation, "csat_sent", &caller.actor, json!({ "survey_id": id }))
                    .await?;
            }
            Err(reason) => {
                let data = json!({ "survey_id": id, "reason": reason });
                timeline::record_event(&mut tx, conversation, "csat_skipped", &caller.actor, data).await?;
            }
        }
        tx.commit().await?;
        if sent.is_ok() {
            self.jobs_wake.kick();
        }
        Ok(())
    }

    /// The number's survey content for the customer's language, created at Twilio (and kept as a template)
    /// the first time it is needed, or again when its words changed.
    async fn content(&self, t: &SurveyTarget, settings: &CsatSettings) -> Result<Uuid, JobError> {
        let defaults = default_texts(settings);
        let (language, texts) = settings
            .texts_for(t.customer_language.as_deref(), t.number_language.as_deref())
            .unwrap_or((t.number_language.as_deref().unwrap_or("en"), &defaults));
        let labels = settings.labels(texts);
        // Named by the number and the words, so changed words make a new content and the same words reuse it.
        let digest = Sha256::digest(format!("{}\n{}\n{}", settings.scale.points(), texts.question, labels.join("\n")));
        let name = format!("csat_{}_{}", &t.number_id.simple().to_string()[..12], &hex::encode(digest)[..12]);
        let mut conn = self.pool.acquire().await?;
        if let Some(id) = settings.content.get(language) {
            if let Some(existing) = store::templates::find(&mut conn, *id).await? {
                if existing.settings.name == name {
                    return Ok(*id);
                }
            }
        }
        drop(conn);
        // One process creates it: the others wait here, then find it.
        let mut tx = self.pool.begin().await?;
        settings_db::lock_key(&mut tx, &name).await?;
        if let Some(existing) = store::templates::find_by_name(&mut tx, &name, language).await? {
            db::set_content(&mut tx, t.number_id, language, existing.id).await?;
            tx.commit().await?;
            return Ok(existing.id);
        }
        let account = store::channels::sync_accounts(&self.pool, Some(t.channel_id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| JobError::Permanent("the conversation's channel has no account".into()))?;
        let auth = crate::channels::account_credentials(&self.secrets, &account)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        let buttons: Vec<(String, String)> =
            labels.iter().cloned().zip(settings.ratings().iter().map(|r| rating_payload(*r))).collect();
        let created = self
            .twilio
            .create_quick_reply(account.sandbox, &auth, &name, language, &texts.question, &buttons)
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    JobError::Retry(e.to_string())
                } else {
                    JobError::Permanent(e.to_string())
                }
            })?;
        let template = store::templates::TemplateSettings {
            name,
            language: language.to_owned(),
            body: texts.question.clone(),
            content_sid: Some(created.sid),
            category: "utility".into(),
            approval_status: "unsubmitted".into(),
            rejection_reason: None,
            tags: vec!["csat".into()],
            content_type: "twilio/quick-reply".into(),
            buttons: sqlx::types::Json(
                buttons
                    .into_iter()
                    .map(|(title, id)| crate::domain::template::Button {
                        title,
                        id: Some(id),
                        description: None,
                        url: None,
                        phone: None,
                        action: None,
                    })
                    .collect(),
            ),
        };
        let stored = store::templates::insert(&mut tx, &template).await?;
        db::set_content(&mut tx, t.number_id, language, stored.id).await?;
        tx.commit().await?;
        tracing::info!(number = %t.number_id, language, "CSAT survey content created at Twilio");
        Ok(stored.id)
    }
}

/// Reads a message on a number with CSAT on as an answer to the customer's open survey, if it is one: stored in
/// the rated conversation (which stays resolved), the survey updated, the thanks sent when the number has one.
/// `None`: not an answer; the message goes the usual way.
pub async fn receive_answer(
    state: &AppState,
    channel: &ChannelConfig,
    number: &Number,
    message: &InboundMessage,
    form: &Form,
) -> AppResult<Option<Stored>> {
    let phone = message.from.phone().map(|p| p.to_string());
    // Most messages on the number have no open survey: one read without a transaction says so.
    let mut conn = state.pool.acquire().await?;
    if db::open_for(&mut conn, number.id, phone.as_deref(), message.bsuid.as_deref(), false).await?.is_none() {
        return Ok(None);
    }
    drop(conn);
    let mut tx = state.pool.begin().await?;
    let Some(s) = db::open_for(&mut tx, number.id, phone.as_deref(), message.bsuid.as_deref(), true).await? else {
        return Ok(None);
    };
    if s.expired {
        db::close(&mut tx, s.id, "expired").await?;
        tx.commit().await?;
        return Ok(None);
    }
    let settings = settings_db::number_settings(&mut tx, number.id).await?.map(|n| n.csat.0).unwrap_or_default();
    let scale =
        if s.scale == 3 { crate::domain::automation::Scale::Faces } else { crate::domain::automation::Scale::Five };
    let payload = message.button_payload.as_deref();
    let answer = if payload.is_some() || !s.other_open {
        let mut labels: Vec<Vec<String>> = settings.texts.values().map(|t| settings.labels(t)).collect();
        labels.push(scale.default_labels());
        labels.iter().find_map(|l| read_answer(&message.body, payload, scale, l))
    } else {
        None
    };
    let caller = super::caller(None);
    let stored = match (s.state.as_str(), answer) {
        ("sent", Some(a)) | ("rated", Some(a)) => {
            let Some(id) =
                db::store_answer(&mut tx, s.conversation_id, channel.account_id, message, &form.to_json()).await?
            else {
                return Ok(Some(Stored::Duplicate));
            };
            db::rate(&mut tx, s.id, a.rating, a.comment.as_deref()).await?;
            let data = json!({ "survey_id": s.id, "rating": a.rating, "comment": a.comment });
            timeline::record_event(&mut tx, s.conversation_id, "csat_rated", &caller.actor, data).await?;
            let thanks = settings
                .texts_for(s.customer_language.as_deref(), s.number_language.as_deref())
                .and_then(|(_, t)| t.thanks.clone());
            thank(&mut tx, state, thanks, s.conversation_id, s.id).await?;
            id
        }
        ("rated", None)
            if payload.is_none()
                && !s.other_open
                && s.rated_secs_ago.is_some_and(|a| a < COMMENT_SECS)
                && !message.body.trim().is_empty() =>
        {
            let Some(id) =
                db::store_answer(&mut tx, s.conversation_id, channel.account_id, message, &form.to_json()).await?
            else {
                return Ok(Some(Stored::Duplicate));
            };
            db::comment(&mut tx, s.id, message.body.trim()).await?;
            timeline::record_event(
                &mut tx,
                s.conversation_id,
                "csat_commented",
                &caller.actor,
                json!({ "survey_id": s.id }),
            )
            .await?;
            id
        }
        ("rated", None) => {
            db::close(&mut tx, s.id, "done").await?;
            tx.commit().await?;
            return Ok(None);
        }
        _ => return Ok(None),
    };
    tx.commit().await?;
    state.jobs_wake.kick(); // the thanks, if one was queued
    tracing::info!(survey = %s.id, conversation = %s.conversation_id, "CSAT answer stored");
    Ok(Some(Stored::New {
        message_id: stored,
        conversation_id: s.conversation_id,
        new_conversation: false,
        needs_routing: false,
    }))
}

/// The number's thanks after a rating (in the customer's language, else the number's), once per survey.
async fn thank(
    conn: &mut PgConnection,
    state: &AppState,
    thanks: Option<String>,
    conversation: Uuid,
    survey: Uuid,
) -> sqlx::Result<()> {
    let Some(thanks) = thanks else { return Ok(()) };
    let key = format!("thanks:{survey}");
    if !settings_db::claim_run(conn, conversation, Kind::Csat, &key).await? {
        return Ok(());
    }
    let draft = Draft {
        body: thanks,
        automated: Some(Author { kind: Kind::Csat, rule_id: None, ai_agent_id: None }),
        ..Draft::default()
    };
    let outbox = Outbox { max_attempts: state.settings.outbound.max_attempts };
    match compose::send(conn, outbox, &super::caller(None), conversation, draft).await {
        Ok(_) => Ok(()),
        Err(SendError::Refused(r)) => {
            tracing::info!(reason = %AppError::from(r), "the CSAT thanks was not sent");
            Ok(())
        }
        Err(SendError::Database(e)) => Err(e),
    }
}
