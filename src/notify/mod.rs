//! Agentless notifications (seed 003): a company's own systems send WhatsApp template messages through the
//! contact center without an agent, and the customer's answer lands in the agents' inbox.
//!
//! [`send`] is the one use case, for one recipient (`POST /notifications`) or a chunk of a batch
//! ([`batch`]). In the caller's transaction it checks, for each recipient: the number as written, the template's
//! variables, consent (an opt-out always refuses; outside the customer's 24-hour window an opt-in on record is
//! needed), that no human agent holds an unresolved conversation with them (never cut into a conversation an
//! agent is having), and the number's messaging limit (only business-initiated messages count, reserved
//! exactly across processes by `outbound::limits`). A refused recipient queues nothing. An accepted one
//! continues the customer's unresolved conversation that nobody holds, or opens a new one marked as started by
//! a notification, which is not routed to agents until the customer replies.

pub mod batch;
pub mod writer;

use crate::auth::Caller;
use crate::domain::automation::{Author, Kind};
use crate::domain::conversation::{self, StartedBy};
use crate::domain::opt_in::{self, OptInState};
use crate::domain::routing::CommunicationType;
use crate::domain::{RoutingState, E164};
use crate::outbound::compose::{self, Outbox, TemplateMessage, MAX_TOPIC_CHARS};
use crate::outbound::limits::{self, Reservation};
use crate::outbound::policy::{Refusal, SendError};
use crate::refs;
use crate::store::conversations::{self, NewConversation};
use crate::store::templates::Template;
use crate::store::{self, notifications as db, routing as timeline};
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Which template: by id, or by its name and language.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    /// The template's id; or give `name` and `language`.
    pub id: Option<Uuid>,
    pub name: Option<String>,
    /// The template's language (`en`, `pt_BR`), with `name`.
    pub language: Option<String>,
    /// `{"1": "Ana", "2": "12 May"}`: exactly the template's variables (a batch's recipients may add their own).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// What every recipient of one request shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub number_id: Uuid,
    pub template: TemplateChoice,
    pub topic: Option<String>,
    pub tag_ids: Vec<Uuid>,
    /// The queue the conversation belongs to once the customer replies.
    pub queue_id: Option<Uuid>,
}

/// [`Common`] once checked: the number's channel and account, the template, the topic and tags.
#[derive(Debug, Clone)]
pub struct Checked {
    number_id: Uuid,
    channel_id: Uuid,
    account_id: Uuid,
    template: Template,
    variables: BTreeMap<String, String>,
    topic: Option<String>,
    tag_ids: Vec<Uuid>,
    queue_id: Option<Uuid>,
}

/// One recipient: the number as written, and their own variables (over the common ones).
#[derive(Debug, Clone)]
pub struct Recipient {
    pub to: String,
    pub variables: BTreeMap<String, String>,
}

/// An accepted recipient's message and conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct Sent {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
}

/// Checks what every recipient shares: the number exists, the template is found and may be sent, the topic,
/// tags and queue. A refusal here refuses the whole request.
pub async fn check(conn: &mut PgConnection, common: Common) -> Result<Checked, SendError> {
    let topic = common.topic.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    if topic.as_ref().is_some_and(|t| t.chars().count() > MAX_TOPIC_CHARS) {
        return Err(Refusal::invalid("topic", format!("topic is at most {MAX_TOPIC_CHARS} characters")).into());
    }
    let tag_ids = conversation::tag_ids(common.tag_ids).map_err(|m| Refusal::invalid("tag_ids", m))?;
    let (channel_id, account_id) = store::numbers::sending(conn, common.number_id)
        .await?
        .ok_or_else(|| Refusal::unknown("unknown_reference", "number_id", "no such WhatsApp number"))?;
    if let Some(q) = common.queue_id {
        refs::queue(conn, q, "queue_id").await?;
    }
    refs::tags(conn, &tag_ids, "tag_ids").await?;
    let t = &common.template;
    let template = match (t.id, &t.name, &t.language) {
        (Some(id), None, None) => store::templates::find(conn, id)
            .await?
            .ok_or_else(|| Refusal::unknown("template_not_found", "template.id", "no template with this id"))?,
        (None, Some(name), Some(language)) => {
            store::templates::find_by_name(conn, name, language).await?.ok_or_else(|| {
                Refusal::unknown("template_not_found", "template.name", "no template with this name and language")
            })?
        }
        _ => {
            return Err(Refusal::invalid("template", "give the template's id, or its name and language").into());
        }
    };
    // A notification writes first: only an approved template, whatever the customer's window.
    compose::sendable(&template, false)?;
    if compose::asks_call_permission(&template) {
        // Its limits are per customer and checked in the conversation it goes into: the inbox's way.
        return Err(Refusal::invalid(
            "template",
            "a call-permission request is not a notification: send it in the customer's conversation, or start one to call them",
        )
        .into());
    }
    Ok(Checked {
        number_id: common.number_id,
        channel_id,
        account_id,
        template,
        variables: common.template.variables,
        topic,
        tag_ids,
        queue_id: common.queue_id,
    })
}

/// Sends to each recipient what [`Checked`] describes, in the caller's transaction. Answers each recipient's
/// result in order, and the reservation under the messaging limit, to be released if the transaction does not
/// commit. `field` names recipient `i`'s field in refusals (`to`, or `recipients[3].to`).
pub async fn send(
    pool: &PgPool,
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    checked: &Checked,
    recipients: &[Recipient],
    field: impl Fn(usize, &str) -> String,
) -> sqlx::Result<(Vec<Result<Sent, Refusal>>, Reservation)> {
    // Each recipient's own shape: the number and the variables.
    let mut results: Vec<Result<(E164, TemplateMessage), Refusal>> = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let to = E164::parse_lenient(&r.to).map_err(|e| Refusal::invalid(&field(i, "to"), format!("{e}")))?;
            let mut variables = checked.variables.clone();
            variables.extend(r.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
            let message = compose::fill(&checked.template, &variables).map_err(|r| match r {
                Refusal::TemplateVariablesInvalid(m) => Refusal::invalid(&field(i, "variables"), m),
                other => other,
            })?;
            Ok((to, message))
        })
        .collect();
    // Who they are, and where each stands on the number.
    let phones: Vec<&str> = results.iter().filter_map(|r| r.as_ref().ok()).map(|(to, _)| to.as_str()).collect();
    let contacts: HashMap<String, Uuid> = db::contacts_by_phone(conn, &phones).await?.into_iter().collect();
    let known: Vec<Uuid> = {
        let mut ids: Vec<Uuid> = contacts.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let situations: HashMap<Uuid, db::Situation> =
        db::situations(conn, checked.number_id, &known).await?.into_iter().map(|s| (s.contact_id, s)).collect();
    let consent: HashMap<Uuid, Option<OptInState>> = {
        let numbers = vec![checked.number_id; known.len()];
        let states = store::opt_ins::current_many(conn, &known, &numbers).await?;
        known.iter().copied().zip(states).collect()
    };
    // The rules that need no writes.
    let mut admitted: Vec<Result<(Uuid, TemplateMessage), Refusal>> = Vec::with_capacity(recipients.len());
    let mut counting = Vec::new();
    for r in results.drain(..) {
        admitted.push(r.and_then(|(to, message)| {
            let contact = *contacts.get(to.as_str()).ok_or(Refusal::OptInRequired)?;
            let s = &situations[&contact];
            let latest = consent.get(&contact).copied().flatten();
            if latest == Some(OptInState::OptedOut) {
                return Err(Refusal::OptedOut);
            }
            if let (Some(id), Some(RoutingState::Assigned)) = (s.open_id, s.open_routing_state) {
                return Err(Refusal::ConversationActive { id });
            }
            if !s.window_open && !opt_in::may_write_first(latest) {
                return Err(Refusal::OptInRequired);
            }
            if opt_in::counts_towards_limit(s.window_open) {
                counting.push(contact);
            }
            Ok((contact, message))
        }));
    }
    // The messaging limit, reserved for everyone it counts.
    let tier = store::reach::tier(conn, checked.number_id).await?;
    let (reservation, retry_after) = limits::reserve(pool, checked.number_id, tier, &counting).await?;
    // Where each admitted recipient is written: the customer's unresolved conversation that nobody holds, or a
    // new one (one per customer, however often they appear: the later ones continue it).
    let mut answers: Vec<Option<Result<Sent, Refusal>>> = Vec::with_capacity(recipients.len());
    let mut planned: Vec<Planned> = Vec::new();
    let mut opened: HashMap<Uuid, Uuid> = HashMap::new();
    for (index, a) in admitted.into_iter().enumerate() {
        match a {
            Err(r) => answers.push(Some(Err(r))),
            Ok((contact, _)) if counting.contains(&contact) && !reservation.holds(contact) => {
                answers.push(Some(Err(Refusal::MessagingLimitReached {
                    cap: tier.cap().unwrap_or_default(),
                    retry_after: retry_after.unwrap_or(std::time::Duration::from_secs(1)),
                })))
            }
            Ok((contact, message)) => {
                answers.push(None);
                let (conversation_id, new) = match opened.get(&contact).copied().or(situations[&contact].open_id) {
                    Some(id) => (id, false),
                    None => {
                        let id = Uuid::now_v7();
                        opened.insert(contact, id);
                        (id, true)
                    }
                };
                planned.push(Planned { index, contact, conversation_id, new, message_id: Uuid::now_v7(), message });
            }
        }
    }
    let written = match write(conn, outbox, caller, checked, &planned).await {
        Ok(written) => written,
        Err(e) => {
            // The transaction is lost: nothing it wrote will be sent.
            reservation.release(pool).await;
            return Err(e);
        }
    };
    for (p, ok) in planned.iter().zip(&written) {
        answers[p.index] = Some(match ok {
            true => Ok(Sent { message_id: p.message_id, conversation_id: p.conversation_id }),
            // Opened by the customer or someone else since the check: sent again, it continues there.
            false => Err(Refusal::ConversationExists { id: None }),
        });
    }
    // Places reserved for recipients that were not written after all go back at once.
    let reached: Vec<Uuid> = planned.iter().zip(&written).filter(|(_, ok)| **ok).map(|(p, _)| p.contact).collect();
    let (kept, unused) = reservation.split(|c| reached.contains(&c));
    unused.release(pool).await;
    Ok((answers.into_iter().map(|a| a.expect("every recipient is answered")).collect(), kept))
}

/// A recipient admitted and reserved: where its message goes.
struct Planned {
    /// Its place among the recipients.
    index: usize,
    contact: Uuid,
    conversation_id: Uuid,
    /// The conversation is opened for it (else it continues one).
    new: bool,
    message_id: Uuid,
    message: TemplateMessage,
}

/// Writes every planned message, a statement for all of each kind: the new conversations (waiting for the
/// customer's reply before they are routed), their tags, the timeline events (`started`, or `notified` in a
/// conversation continued) and the messages with their send jobs. Answers for each whether it was written: a
/// new conversation that met one the customer opened meanwhile is not, nor is anything planned into it.
async fn write(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    checked: &Checked,
    planned: &[Planned],
) -> sqlx::Result<Vec<bool>> {
    let new: Vec<NewConversation> = planned
        .iter()
        .filter(|p| p.new)
        .map(|p| NewConversation {
            id: p.conversation_id,
            channel_id: checked.channel_id,
            number_id: checked.number_id,
            contact_id: p.contact,
            topic: checked.topic.as_deref(),
            priority: 0,
            queue_id: checked.queue_id,
            assignee_id: None,
            started_by: StartedBy::Notification,
            communication_type: CommunicationType::Message,
        })
        .collect();
    let inserted: HashSet<Uuid> = conversations::insert_many(conn, &new).await?.into_iter().collect();
    let lost: HashSet<Uuid> = new.iter().map(|c| c.id).filter(|id| !inserted.contains(id)).collect();
    let written: Vec<bool> = planned.iter().map(|p| !lost.contains(&p.conversation_id)).collect();
    let go: Vec<&Planned> = planned.iter().zip(&written).filter(|(_, ok)| **ok).map(|(p, _)| p).collect();
    let events: Vec<(Uuid, &str, serde_json::Value)> = go
        .iter()
        .map(|p| match p.new {
            true => (p.conversation_id, "started", serde_json::json!({ "topic": checked.topic, "by": "notification" })),
            false => (p.conversation_id, "notified", serde_json::json!({ "message_id": p.message_id })),
        })
        .collect();
    timeline::record_events(conn, &caller.actor, &events).await?;
    if !checked.tag_ids.is_empty() {
        for id in &inserted {
            conversations::set_tags(conn, *id, &checked.tag_ids).await?;
        }
    }
    let author = Author { kind: Kind::Notification, rule_id: None, ai_agent_id: None };
    let messages: Vec<(Uuid, Uuid, &TemplateMessage)> =
        go.iter().map(|p| (p.message_id, p.conversation_id, &p.message)).collect();
    compose::queue_templates(conn, outbox, caller, checked.account_id, author, &messages).await?;
    Ok(written)
}

/// A recipient's refusal as the API answers it: `{"code", "message", "details"}`.
pub fn refusal_json(r: Refusal) -> serde_json::Value {
    crate::error::AppError::from(r).client_body().expect("a refusal is a client error")
}
