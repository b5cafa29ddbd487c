//! Messages: storing inbound messages (one at a time, or many in one statement), and reading messages as the API
//! shows them. Moving an outbound message's status forward is in `statuses`.

use crate::domain::automation::Look;
use crate::domain::inbound::InboundMessage;
use crate::store::routing::Opening;
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use std::sync::LazyLock;
use uuid::Uuid;

/// Everything needed to store one inbound message: the message as parsed, where it arrived, and the webhook's
/// every parameter (kept as JSON). Each media item becomes an attachment and a download job.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub account_id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub message: InboundMessage,
    pub webhook_params: Value,
    pub media_job_max_attempts: i32,
    /// Whether the automation engine looks at this message after it is stored (into `automation_inbox`)...
    pub look: crate::domain::automation::Look,
    /// ...as decided from the configuration at this version (`routing_config.version`): if it moved since, the
    /// message goes into the inbox whatever was decided, so a change is never missed.
    pub look_version: i64,
    /// The number accepts customers' media; if not, attachments are recorded as `refused` and not downloaded.
    pub accept_media: bool,
    /// Where the conversation goes if this message is a new customer's first (decided at `look_version` too):
    /// stored placed, with its timeline events, when the write creates the contact and the configuration has not
    /// moved since; otherwise (or `None`) the conversation is stored `unrouted` for the router.
    pub opening: Option<Opening>,
}

impl NewInbound {
    /// Whether [`insert_inbound_batch`] can store it: a contact known by phone number, and no media (the common
    /// case). Everything else goes through [`insert_inbound`].
    pub fn batchable(&self) -> bool {
        self.message.from.phone().is_some() && self.message.media.is_empty()
    }

    /// Whether storing it queues download jobs: it has media, and its number accepts customers' media.
    pub fn queues_download(&self) -> bool {
        self.accept_media && !self.message.media.is_empty()
    }

    /// The contact's phone number (E.164), when WhatsApp shared it.
    fn contact_phone(&self) -> Option<String> {
        self.message.from.phone().map(|p| p.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    New {
        message_id: Uuid,
        conversation_id: Uuid,
        new_conversation: bool,
        /// The conversation waits for a routing decision: new, or a notification's the customer answered.
        needs_routing: bool,
    },
    /// The MessageSid was stored before: nothing was written.
    Duplicate,
}

#[derive(FromRow)]
struct StoredRow {
    message_id: Uuid,
    conversation_id: Uuid,
    new_conversation: bool,
    needs_routing: bool,
}

/// The whole inbound write as one statement, so one round trip and one commit per webhook: contact upserted,
/// the open conversation joined (or a new one opened: placed, with its AI session and timeline events, when the
/// contact is new and the opening's configuration version is still current; else `unrouted`) with its last
/// inbound time moved forward only, message inserted unless the SID is known, attachments and their download
/// jobs inserted. A SID already stored writes nothing (the `fresh` guard); two deliveries of one SID racing each
/// other end with one message (`ON CONFLICT DO NOTHING` on the unique SID).
const INSERT_INBOUND_TEMPLATE: &str = r#"
WITH fresh AS (
    SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM messages WHERE account_id = $1 AND twilio_sid = $2)
), contact AS (
    INSERT INTO contacts (id, phone_e164, bsuid, wa_id, profile_name)
    SELECT $3, $4, $5, $6, $7 FROM fresh
    {CONTACT_CONFLICT}
        wa_id = COALESCE(EXCLUDED.wa_id, contacts.wa_id),
        profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
        updated_at = now()
    RETURNING id, (xmax = 0) AS created
), opening AS (
    -- A new customer's conversation is stored placed when the decision still holds (`NewInbound::opening`).
    SELECT contact.created AND $32::text IS NOT NULL AND (SELECT version FROM routing_config) = $31 AS placed
    FROM contact
), conversation AS (
    INSERT INTO conversations (id, channel_id, number_id, contact_id, status, last_inbound_at, routing_state,
                               routing_rule_id)
    SELECT $8, $9, $10, contact.id, CASE WHEN opening.placed AND $32 = 'ai' THEN 'pending' ELSE 'open' END, now(),
           CASE WHEN opening.placed THEN $32 ELSE 'unrouted' END, CASE WHEN opening.placed THEN $33::uuid END
    FROM contact, opening
    ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO UPDATE SET
        last_inbound_at = GREATEST(conversations.last_inbound_at, EXCLUDED.last_inbound_at),
        -- The customer's reply to a notification: now it is routed.
        routing_state = CASE WHEN conversations.routing_state = 'notified' THEN 'unrouted'
                             ELSE conversations.routing_state END,
        -- The customer's message wakes a snoozed conversation (its `unsnoozed` event is the trigger's).
        status = CASE WHEN conversations.status = 'snoozed' THEN 'open' ELSE conversations.status END,
        snoozed_until = NULL,
        updated_at = now()
    RETURNING id, (xmax = 0) AS created, routing_state = 'unrouted' AS unrouted, routing_state
), opening_session AS (
    INSERT INTO ai_sessions (conversation_id, ai_agent_id)
    SELECT id, $34 FROM conversation WHERE created AND routing_state = 'ai'
), opening_events AS (
    INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_id, actor_label, data)
    SELECT conversation.id, e.kind, $37, $38, $39, e.data
    FROM conversation, unnest($35::text[], $36::jsonb[]) WITH ORDINALITY AS e(kind, data, ord)
    WHERE conversation.created AND conversation.routing_state <> 'unrouted'
    ORDER BY e.ord
), message AS (
    INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status, status_updated_at,
                          message_type, num_media, button_text, button_payload, latitude, longitude,
                          location_address, location_label, replied_to_sid, referral, forwarded,
                          frequently_forwarded, webhook_params)
    SELECT $11, conversation.id, $1, 'inbound', $2, $12, 'received', now(), $13, cardinality($22::text[]), $14, $15,
           $16, $17, $18, $19, $20, $21, $25, $26, $27
    FROM conversation
    ON CONFLICT (account_id, twilio_sid) DO NOTHING
    RETURNING id, conversation_id
){MEDIA}{INBOX}
SELECT message.id AS message_id, message.conversation_id, conversation.created AS new_conversation,
       conversation.unrouted AS needs_routing
FROM message, conversation
"#;

/// Attachments and their download jobs, for a message with media.
const MEDIA_PARTS: &str = r#"
, attachment AS (
    INSERT INTO attachments (id, message_id, position, source_url, content_type, download_state)
    SELECT gen_random_uuid(), message.id, (m.ord - 1)::smallint, m.url, NULLIF(m.content_type, ''),
           CASE WHEN $28 THEN 'pending' ELSE 'refused' END
    FROM message, unnest($22::text[], $23::text[]) WITH ORDINALITY AS m(url, content_type, ord)
    RETURNING id
), job AS (
    INSERT INTO jobs (kind, payload, max_attempts)
    SELECT 'media.download', jsonb_build_object('attachment_id', attachment.id), $24 FROM attachment WHERE $28
)"#;

/// Keeps the parameter numbering of the media variant without executing anything: a message without media
/// skips the two sub-statements (their executor start-up costs on every webhook).
const NO_MEDIA_PARTS: &str = r#"
, unused AS (SELECT $22::text[], $23::text[], $24::int4, $28::bool WHERE false)"#;

/// The message into the automations' inbox: always (`$29`), when it opened the conversation (`$30`), or when the
/// configuration changed since the decision (`$31`, the version it was made at).
const INBOX_PART: &str = r#"
, inbox AS (
    INSERT INTO automation_inbox (message_id)
    SELECT message.id FROM message, conversation
    WHERE $29 OR ($30 AND conversation.created) OR (SELECT version FROM routing_config) <> $31
)"#;

/// The four variants: contact keyed on the phone number (when Twilio sends one) or on the business-scoped
/// user id; with or without media.
static INSERT_INBOUND: LazyLock<[[String; 2]; 2]> = LazyLock::new(|| {
    let by_phone = "ON CONFLICT (phone_e164) DO UPDATE SET bsuid = COALESCE(contacts.bsuid, EXCLUDED.bsuid),";
    let by_bsuid = "ON CONFLICT (bsuid) DO UPDATE SET phone_e164 = COALESCE(contacts.phone_e164, EXCLUDED.phone_e164),";
    let variant = |conflict: &str, media: &str, inbox: &str| {
        INSERT_INBOUND_TEMPLATE
            .replace("{CONTACT_CONFLICT}", conflict)
            .replace("{MEDIA}", media)
            .replace("{INBOX}", inbox)
    };
    let both =
        |conflict: &str| [variant(conflict, NO_MEDIA_PARTS, INBOX_PART), variant(conflict, MEDIA_PARTS, INBOX_PART)];
    [both(by_phone), both(by_bsuid)]
});

/// Stores one inbound message (see [`INSERT_INBOUND_TEMPLATE`]).
pub async fn insert_inbound(pool: &PgPool, m: &NewInbound) -> sqlx::Result<Stored> {
    match run_insert(pool, m, m.message.bsuid.as_deref()).await {
        // The BSUID already belongs to another contact row (one known only by BSUID before Twilio sent the phone
        // number). Store the message under the phone number rather than lose it; the rows can be merged later.
        Err(e) if m.message.from.phone().is_some() && super::violated_constraint(&e) == Some("contacts_bsuid_key") => {
            tracing::warn!("business-scoped user id already on another contact; storing under the phone number");
            run_insert(pool, m, None).await
        }
        other => other,
    }
}

async fn run_insert(pool: &PgPool, m: &NewInbound, bsuid: Option<&str>) -> sqlx::Result<Stored> {
    let msg = &m.message;
    let phone = m.contact_phone();
    let sql = &INSERT_INBOUND[usize::from(phone.is_none())][usize::from(!msg.media.is_empty())];
    let (urls, types): (Vec<&str>, Vec<&str>) =
        msg.media.iter().map(|i| (i.url.as_str(), i.content_type.as_deref().unwrap_or(""))).unzip();
    let location = msg.location.as_ref();
    let opening = m.opening.as_ref();
    let row: Option<StoredRow> = sqlx::query_as(sql.as_str())
        .bind(m.account_id)
        .bind(msg.message_sid.as_str())
        .bind(Uuid::now_v7())
        .bind(&phone)
        .bind(bsuid)
        .bind(&msg.wa_id)
        .bind(&msg.profile_name)
        .bind(Uuid::now_v7())
        .bind(m.channel_id)
        .bind(m.number_id)
        .bind(Uuid::now_v7())
        .bind(&msg.body)
        .bind(&msg.message_type)
        .bind(&msg.button_text)
        .bind(&msg.button_payload)
        .bind(location.map(|l| l.latitude))
        .bind(location.map(|l| l.longitude))
        .bind(location.and_then(|l| l.address.as_deref()))
        .bind(location.and_then(|l| l.label.as_deref()))
        .bind(&msg.replied_to_sid)
        .bind(&msg.referral)
        .bind(&urls)
        .bind(&types)
        .bind(m.media_job_max_attempts)
        .bind(msg.forwarded)
        .bind(msg.frequently_forwarded)
        .bind(&m.webhook_params)
        .bind(m.accept_media)
        .bind(m.look == Look::Always)
        .bind(m.look == Look::IfNewConversation)
        .bind(m.look_version)
        .bind(opening.map(|o| o.state().as_str()))
        .bind(opening.and_then(|o| o.rule))
        .bind(opening.and_then(|o| o.ai_agent))
        .bind(opening.map(|o| o.events.iter().map(|(kind, _)| *kind).collect::<Vec<_>>()).unwrap_or_default())
        .bind(opening.map(|o| o.events.iter().map(|(_, data)| data).collect::<Vec<_>>()).unwrap_or_default())
        .bind(opening.map(|o| o.actor.kind))
        .bind(opening.and_then(|o| o.actor.id))
        .bind(opening.map(|o| o.actor.label.as_str()))
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(r) => Stored::New {
            message_id: r.message_id,
            conversation_id: r.conversation_id,
            new_conversation: r.new_conversation,
            needs_routing: r.needs_routing,
        },
        None => Stored::Duplicate,
    })
}

/// Many [`NewInbound::batchable`] messages in one statement and one commit: the same writes as
/// [`insert_inbound`], row for row. Within the batch, several messages of one customer share one contact upsert
/// and one conversation upsert (PostgreSQL refuses to upsert a row twice in one statement), and a MessageSid
/// that appears twice is stored once. The result has one entry per input, in input order.
const INSERT_INBOUND_BATCH: &str = r#"
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::uuid[], $9::uuid[], $10::uuid[], $11::uuid[], $12::text[], $13::text[], $14::text[],
                         $15::text[], $16::float8[], $17::float8[], $18::text[], $19::text[], $20::text[],
                         $21::jsonb[], $22::bool[], $23::bool[], $24::jsonb[], $25::bool[], $26::bool[], $27::int8[],
                         $28::text[], $29::uuid[], $30::uuid[])
        WITH ORDINALITY AS i(account_id, sid, contact_id, phone, bsuid, wa_id, profile_name, conversation_id,
                             channel_id, number_id, message_id, body, message_type, button_text, button_payload,
                             latitude, longitude, location_address, location_label, replied_to_sid, referral,
                             forwarded, frequently_forwarded, webhook_params, look_always, look_if_new, look_version,
                             opening_state, opening_rule, opening_ai, ord)
), fresh AS (
    SELECT * FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.account_id = i.account_id AND m.twilio_sid = i.sid)
), contact AS (
    INSERT INTO contacts (id, phone_e164, bsuid, wa_id, profile_name)
    SELECT DISTINCT ON (phone) contact_id, phone, bsuid, wa_id, profile_name FROM fresh ORDER BY phone, ord DESC
    ON CONFLICT (phone_e164) DO UPDATE SET
        bsuid = COALESCE(contacts.bsuid, EXCLUDED.bsuid),
        wa_id = COALESCE(EXCLUDED.wa_id, contacts.wa_id),
        profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
        updated_at = now()
    RETURNING id, phone_e164, (xmax = 0) AS created
), conversation AS (
    -- A new customer's conversation is stored placed when the decision still holds (`NewInbound::opening`); the
    -- customer's first message in the batch decides.
    INSERT INTO conversations (id, channel_id, number_id, contact_id, status, last_inbound_at, routing_state,
                               routing_rule_id)
    SELECT DISTINCT ON (f.number_id, c.id) f.conversation_id, f.channel_id, f.number_id, c.id,
           CASE WHEN o.placed AND f.opening_state = 'ai' THEN 'pending' ELSE 'open' END, now(),
           CASE WHEN o.placed THEN f.opening_state ELSE 'unrouted' END, CASE WHEN o.placed THEN f.opening_rule END
    FROM fresh f JOIN contact c ON c.phone_e164 = f.phone
    CROSS JOIN LATERAL (
        SELECT c.created AND f.opening_state IS NOT NULL AND (SELECT version FROM routing_config) = f.look_version
    ) o(placed)
    ORDER BY f.number_id, c.id, f.ord
    ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO UPDATE SET
        last_inbound_at = GREATEST(conversations.last_inbound_at, EXCLUDED.last_inbound_at),
        -- The customer's reply to a notification: now it is routed.
        routing_state = CASE WHEN conversations.routing_state = 'notified' THEN 'unrouted'
                             ELSE conversations.routing_state END,
        -- The customer's message wakes a snoozed conversation (its `unsnoozed` event is the trigger's).
        status = CASE WHEN conversations.status = 'snoozed' THEN 'open' ELSE conversations.status END,
        snoozed_until = NULL,
        updated_at = now()
    RETURNING id, number_id, contact_id, (xmax = 0) AS created, routing_state = 'unrouted' AS unrouted, routing_state
), opening_session AS (
    INSERT INTO ai_sessions (conversation_id, ai_agent_id)
    SELECT v.id, f.opening_ai FROM conversation v JOIN fresh f ON f.conversation_id = v.id
    WHERE v.created AND v.routing_state = 'ai'
), opening_events AS (
    INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_id, actor_label, data)
    SELECT v.id, e.kind, e.actor_type, e.actor_id, e.actor_label, e.data
    FROM unnest($31::int8[], $32::text[], $33::jsonb[], $34::text[], $35::uuid[], $36::text[])
        WITH ORDINALITY AS e(input, kind, data, actor_type, actor_id, actor_label, ord)
    JOIN fresh f ON f.ord = e.input
    JOIN conversation v ON v.id = f.conversation_id
    WHERE v.created AND v.routing_state <> 'unrouted'
    ORDER BY e.ord
), message AS (
    INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status, status_updated_at,
                          message_type, num_media, button_text, button_payload, latitude, longitude,
                          location_address, location_label, replied_to_sid, referral, forwarded,
                          frequently_forwarded, webhook_params)
    SELECT f.message_id, v.id, f.account_id, 'inbound', f.sid, f.body, 'received', now(), f.message_type, 0,
           f.button_text, f.button_payload, f.latitude, f.longitude, f.location_address, f.location_label,
           f.replied_to_sid, f.referral, f.forwarded, f.frequently_forwarded, f.webhook_params
    FROM fresh f
    JOIN contact c ON c.phone_e164 = f.phone
    JOIN conversation v ON v.number_id = f.number_id AND v.contact_id = c.id
    ORDER BY f.ord
    ON CONFLICT (account_id, twilio_sid) DO NOTHING
    RETURNING id, conversation_id
){INBOX}
SELECT message.id AS message_id, message.conversation_id, conversation.created AS new_conversation,
       conversation.unrouted AS needs_routing
FROM message JOIN conversation ON conversation.id = message.conversation_id
"#;

/// The batch's messages the automations look at into their inbox, as for one message ([`INBOX_PART`]).
const BATCH_INBOX_PART: &str = r#"
, inbox AS (
    INSERT INTO automation_inbox (message_id)
    SELECT message.id FROM message JOIN fresh f ON f.message_id = message.id
    JOIN conversation v ON v.id = message.conversation_id
    WHERE f.look_always OR (f.look_if_new AND v.created) OR (SELECT version FROM routing_config) <> f.look_version
)"#;

static INSERT_INBOUND_BATCH_SQL: LazyLock<String> =
    LazyLock::new(|| INSERT_INBOUND_BATCH.replace("{INBOX}", BATCH_INBOX_PART));

/// Stores a batch of batchable messages; see [`INSERT_INBOUND_BATCH`]. Fails as a whole (nothing stored) if
/// any row fails; the caller then stores them one by one.
pub async fn insert_inbound_batch(pool: &PgPool, batch: &[&NewInbound]) -> sqlx::Result<Vec<Stored>> {
    debug_assert!(batch.iter().all(|m| m.batchable()));
    let n = batch.len();
    let new_ids = || -> Vec<Uuid> { (0..n).map(|_| Uuid::now_v7()).collect() };
    let column =
        |f: fn(&InboundMessage) -> Option<&str>| -> Vec<Option<&str>> { batch.iter().map(|m| f(&m.message)).collect() };
    let location = |f: fn(&crate::domain::inbound::Location) -> Option<&str>| -> Vec<Option<&str>> {
        batch.iter().map(|m| m.message.location.as_ref().and_then(f)).collect()
    };
    let message_ids = new_ids();
    // The openings' timeline events, each with its input's position (1-based, as `WITH ORDINALITY` counts).
    let events = || {
        batch
            .iter()
            .zip(1i64..)
            .filter_map(|(m, input)| m.opening.as_ref().map(|o| (input, o)))
            .flat_map(|(input, o)| o.events.iter().map(move |event| (input, event, &o.actor)))
    };
    let rows: Vec<StoredRow> = sqlx::query_as(INSERT_INBOUND_BATCH_SQL.as_str())
        .bind(batch.iter().map(|m| m.account_id).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.message.message_sid.as_str()).collect::<Vec<_>>())
        .bind(new_ids())
        .bind(batch.iter().map(|m| m.contact_phone()).collect::<Vec<_>>())
        .bind(column(|m| m.bsuid.as_deref()))
        .bind(column(|m| m.wa_id.as_deref()))
        .bind(column(|m| m.profile_name.as_deref()))
        .bind(new_ids())
        .bind(batch.iter().map(|m| m.channel_id).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.number_id).collect::<Vec<_>>())
        .bind(&message_ids)
        .bind(batch.iter().map(|m| m.message.body.as_str()).collect::<Vec<_>>())
        .bind(column(|m| m.message_type.as_deref()))
        .bind(column(|m| m.button_text.as_deref()))
        .bind(column(|m| m.button_payload.as_deref()))
        .bind(batch.iter().map(|m| m.message.location.as_ref().map(|l| l.latitude)).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.message.location.as_ref().map(|l| l.longitude)).collect::<Vec<_>>())
        .bind(location(|l| l.address.as_deref()))
        .bind(location(|l| l.label.as_deref()))
        .bind(column(|m| m.replied_to_sid.as_deref()))
        .bind(batch.iter().map(|m| m.message.referral.clone()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.message.forwarded).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.message.frequently_forwarded).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.webhook_params.clone()).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.look == Look::Always).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.look == Look::IfNewConversation).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.look_version).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.opening.as_ref().map(|o| o.state().as_str())).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.opening.as_ref().and_then(|o| o.rule)).collect::<Vec<_>>())
        .bind(batch.iter().map(|m| m.opening.as_ref().and_then(|o| o.ai_agent)).collect::<Vec<_>>())
        .bind(events().map(|(input, _, _)| input).collect::<Vec<_>>())
        .bind(events().map(|(_, (kind, _), _)| *kind).collect::<Vec<_>>())
        .bind(events().map(|(_, (_, data), _)| data).collect::<Vec<_>>())
        .bind(events().map(|(_, _, actor)| actor.kind).collect::<Vec<_>>())
        .bind(events().map(|(_, _, actor)| actor.id).collect::<Vec<_>>())
        .bind(events().map(|(_, _, actor)| actor.label.as_str()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    // A stored row carries the id generated for its input; inputs without one were duplicates.
    let stored: std::collections::HashMap<Uuid, StoredRow> = rows.into_iter().map(|r| (r.message_id, r)).collect();
    Ok(message_ids
        .iter()
        .map(|id| match stored.get(id) {
            Some(r) => Stored::New {
                message_id: r.message_id,
                conversation_id: r.conversation_id,
                new_conversation: r.new_conversation,
                needs_routing: r.needs_routing,
            },
            None => Stored::Duplicate,
        })
        .collect())
}

/// A message as the API shows it, with its attachments.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `inbound` (from the customer) or `outbound` (from the business).
    pub direction: String,
    /// Outbound: `queued`, then `sent`, `delivered`, `read`; or `failed`/`undelivered` with `error_code` and
    /// `error_message`. Inbound: `received`.
    pub status: String,
    pub body: String,
    pub error_code: Option<i32>,
    /// A readable reason for a failure.
    pub error_message: Option<String>,
    /// Twilio's SID, once Twilio took the message.
    pub twilio_sid: Option<String>,
    pub template_id: Option<Uuid>,
    /// The agent who sent it (null for inbound messages and API tokens).
    pub author_user_id: Option<Uuid>,
    /// The agent's e-mail or the API token's name.
    pub author_label: Option<String>,
    pub message_type: Option<String>,
    pub button_payload: Option<String>,
    /// The text of the button the customer tapped.
    pub button_text: Option<String>,
    /// Set when an automation, the AI agent or a notification sent it: `{"kind": "greeting" | "out_of_hours" |
    /// "attachments_refused" | "rule" | "waiting_notice" | "csat" | "ai_agent" | "opt_in" | "notification" | "auto_resolve",
    /// "rule_id": …}`.
    #[schema(value_type = Option<crate::domain::automation::Author>)]
    pub automation: Option<sqlx::types::Json<crate::domain::automation::Author>>,
    #[sqlx(json)]
    pub attachments: Vec<AttachmentView>,
    /// A location the customer shared.
    #[schema(value_type = Option<MessageLocation>)]
    pub location: Option<sqlx::types::Json<MessageLocation>>,
    /// The earlier message the customer replied to (WhatsApp's quote), or the one an agent's reply answers.
    #[schema(value_type = Option<ReplyContext>)]
    pub reply_to: Option<sqlx::types::Json<ReplyContext>>,
    /// The ad the customer tapped to write (click-to-WhatsApp).
    #[schema(value_type = Option<crate::twilio::webhook::Referral>)]
    pub referral: Option<sqlx::types::Json<crate::twilio::webhook::Referral>>,
    /// WhatsApp marked it forwarded; `frequently_forwarded`: forwarded many times.
    pub forwarded: bool,
    pub frequently_forwarded: bool,
    /// The failed message this one sends again (`POST …/messages/{id}/retry`).
    pub retry_of: Option<Uuid>,
    /// A failed message: the message that sent it again, once someone retried it.
    pub retried_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub status_updated_at: Option<time::OffsetDateTime>,
}

/// A shared location: coordinates, and the place's name and address when the customer chose a place.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageLocation {
    pub latitude: f64,
    pub longitude: f64,
    pub address: Option<String>,
    pub label: Option<String>,
}

/// The message a reply quotes: its SID always; its id and the start of its text when Switchboard has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReplyContext {
    pub sid: String,
    pub message_id: Option<Uuid>,
    /// The quoted message's first 200 characters.
    pub body: Option<String>,
    pub direction: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: Uuid,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size_bytes: Option<i64>,
    /// `pending` (being downloaded from Twilio), `downloaded`, `failed`, or `refused` (the number does not accept
    /// customers' media, so it was not downloaded).
    pub download_state: String,
}

const VIEW: &str = "(SELECT m.id, m.conversation_id, m.direction, m.status, m.body, m.error_code, m.error_message,
        m.twilio_sid, m.template_id, m.author_user_id, m.author_label, m.message_type, m.button_payload,
        m.button_text, m.automation,
        COALESCE((SELECT jsonb_agg(jsonb_build_object('id', a.id, 'content_type', a.content_type,
                                                      'filename', a.filename, 'size_bytes', a.size_bytes,
                                                      'download_state', a.download_state) ORDER BY a.position)
                  FROM attachments a WHERE a.message_id = m.id), '[]') AS attachments,
        CASE WHEN m.latitude IS NOT NULL AND m.longitude IS NOT NULL THEN
            jsonb_build_object('latitude', m.latitude, 'longitude', m.longitude, 'address', m.location_address,
                               'label', m.location_label) END AS location,
        CASE WHEN m.replied_to_sid IS NOT NULL THEN
            (SELECT jsonb_build_object('sid', m.replied_to_sid, 'message_id', q.id, 'body', left(q.body, 200),
                                       'direction', q.direction)
             FROM (SELECT NULL) one
             LEFT JOIN messages q ON q.account_id = m.account_id AND q.twilio_sid = m.replied_to_sid)
        WHEN m.quoted_message_id IS NOT NULL THEN
            (SELECT jsonb_build_object('sid', COALESCE(q.twilio_sid, ''), 'message_id', q.id, 'body', left(q.body, 200),
                                       'direction', q.direction)
             FROM messages q WHERE q.id = m.quoted_message_id) END AS reply_to,
        m.referral, m.forwarded, m.frequently_forwarded, m.retry_of,
        CASE WHEN m.status IN ('failed', 'undelivered') THEN
            (SELECT r.id FROM messages r WHERE r.retry_of = m.id) END AS retried_by,
        m.created_at, m.status_updated_at
    FROM messages m) v";

/// Whether the message is one of the conversation's.
pub async fn in_conversation(conn: &mut sqlx::PgConnection, id: Uuid, conversation: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND conversation_id = $2)")
        .bind(id)
        .bind(conversation)
        .fetch_one(conn)
        .await
}

pub async fn view(conn: &mut sqlx::PgConnection, id: Uuid) -> sqlx::Result<Option<MessageView>> {
    sqlx::query_as(&format!("SELECT v.* FROM {VIEW} WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// A conversation's messages, a page at a time.
pub async fn list_for_conversation(
    pool: &PgPool,
    listing: &super::listing::Listing,
    conversation_id: Uuid,
    direction: Option<&str>,
) -> sqlx::Result<Vec<super::listing::Keyed<MessageView>>> {
    use super::listing::UUID_ID;
    // PostgreSQL flattens the view's subquery, so this filter uses the (conversation_id, created_at) index and
    // attachments are gathered only for the rows of the page.
    let mut q = listing.select("v.*", VIEW, UUID_ID);
    q.push(" AND conversation_id = ").push_bind(conversation_id);
    if let Some(d) = direction {
        q.push(" AND direction = ").push_bind(d.to_owned());
    }
    listing.fetch(pool, q, UUID_ID).await
}
