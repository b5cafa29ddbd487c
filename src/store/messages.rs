//! Messages: storing an inbound message in one statement, and moving an outbound message's status forward.

use crate::domain::MessageStatus;
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use std::sync::LazyLock;
use uuid::Uuid;

/// Everything needed to store one inbound message.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub account_id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub twilio_sid: &'a str,
    pub contact_phone: Option<&'a str>,
    pub contact_bsuid: Option<&'a str>,
    pub contact_wa_id: Option<&'a str>,
    pub profile_name: Option<&'a str>,
    pub body: &'a str,
    pub message_type: Option<&'a str>,
    pub button_text: Option<&'a str>,
    pub button_payload: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub location_address: Option<&'a str>,
    pub location_label: Option<&'a str>,
    pub replied_to_sid: Option<&'a str>,
    pub referral: Option<&'a Value>,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
    pub webhook_params: &'a Value,
    /// `(source URL, content type)` for each media item; each becomes an attachment and a download job.
    pub media: Vec<(&'a str, Option<&'a str>)>,
    pub media_job_max_attempts: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    New {
        message_id: Uuid,
        conversation_id: Uuid,
        new_conversation: bool,
    },
    /// The MessageSid was stored before: nothing was written.
    Duplicate,
}

#[derive(FromRow)]
struct StoredRow {
    message_id: Uuid,
    conversation_id: Uuid,
    new_conversation: bool,
}

/// The whole inbound write as one statement, so one round trip and one commit per webhook: contact upserted,
/// the open conversation joined (or a new one opened) with its last inbound time moved forward only, message
/// inserted unless the SID is known, attachments and their download jobs inserted. A SID already stored
/// writes nothing (the `fresh` guard); two deliveries of one SID racing each other end with one message
/// (`ON CONFLICT DO NOTHING` on the unique SID).
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
    RETURNING id
), conversation AS (
    INSERT INTO conversations (id, channel_id, number_id, contact_id, status, last_inbound_at)
    SELECT $8, $9, $10, contact.id, 'open', now() FROM contact
    ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO UPDATE SET
        last_inbound_at = GREATEST(conversations.last_inbound_at, EXCLUDED.last_inbound_at),
        updated_at = now()
    RETURNING id, (xmax = 0) AS created
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
){MEDIA}
SELECT message.id AS message_id, message.conversation_id, conversation.created AS new_conversation
FROM message, conversation
"#;

/// Attachments and their download jobs, for a message with media.
const MEDIA_PARTS: &str = r#"
, attachment AS (
    INSERT INTO attachments (id, message_id, position, source_url, content_type, download_state)
    SELECT gen_random_uuid(), message.id, (m.ord - 1)::smallint, m.url, NULLIF(m.content_type, ''), 'pending'
    FROM message, unnest($22::text[], $23::text[]) WITH ORDINALITY AS m(url, content_type, ord)
    RETURNING id
), job AS (
    INSERT INTO jobs (kind, payload, max_attempts)
    SELECT 'media.download', jsonb_build_object('attachment_id', attachment.id), $24 FROM attachment
)"#;

/// Keeps the parameter numbering of the media variant without executing anything: a message without media
/// skips the two sub-statements (their executor start-up costs on every webhook).
const NO_MEDIA_PARTS: &str = r#"
, unused AS (SELECT $22::text[], $23::text[], $24::int4 WHERE false)"#;

/// The four variants: contact keyed on the phone number (when Twilio sends one) or on the business-scoped
/// user id; with or without media.
static INSERT_INBOUND: LazyLock<[[String; 2]; 2]> = LazyLock::new(|| {
    let by_phone = "ON CONFLICT (phone_e164) DO UPDATE SET bsuid = COALESCE(contacts.bsuid, EXCLUDED.bsuid),";
    let by_bsuid = "ON CONFLICT (bsuid) DO UPDATE SET phone_e164 = COALESCE(contacts.phone_e164, EXCLUDED.phone_e164),";
    let variant = |conflict: &str, media: &str| {
        INSERT_INBOUND_TEMPLATE.replace("{CONTACT_CONFLICT}", conflict).replace("{MEDIA}", media)
    };
    [
        [variant(by_phone, NO_MEDIA_PARTS), variant(by_phone, MEDIA_PARTS)],
        [variant(by_bsuid, NO_MEDIA_PARTS), variant(by_bsuid, MEDIA_PARTS)],
    ]
});

pub async fn insert_inbound(pool: &PgPool, m: &NewInbound<'_>) -> sqlx::Result<Stored> {
    let result = run_insert(pool, m, m.contact_bsuid).await;
    let result = match result {
        // The BSUID already belongs to another contact row (one known only by BSUID before Twilio sent the phone
        // number). Store the message under the phone number rather than lose it; the rows can be merged later.
        Err(e) if m.contact_phone.is_some() && super::violated_constraint(&e) == Some("contacts_bsuid_key") => {
            tracing::warn!("business-scoped user id already on another contact; storing under the phone number");
            run_insert(pool, m, None).await
        }
        other => other,
    }?;
    Ok(result)
}

async fn run_insert(pool: &PgPool, m: &NewInbound<'_>, bsuid: Option<&str>) -> sqlx::Result<Stored> {
    let sql = &INSERT_INBOUND[usize::from(m.contact_phone.is_none())][usize::from(!m.media.is_empty())];
    let (urls, types): (Vec<&str>, Vec<&str>) = m.media.iter().map(|(u, t)| (*u, t.unwrap_or(""))).unzip();
    let row: Option<StoredRow> = sqlx::query_as(sql.as_str())
        .bind(m.account_id)
        .bind(m.twilio_sid)
        .bind(Uuid::now_v7())
        .bind(m.contact_phone)
        .bind(bsuid)
        .bind(m.contact_wa_id)
        .bind(m.profile_name)
        .bind(Uuid::now_v7())
        .bind(m.channel_id)
        .bind(m.number_id)
        .bind(Uuid::now_v7())
        .bind(m.body)
        .bind(m.message_type)
        .bind(m.button_text)
        .bind(m.button_payload)
        .bind(m.latitude)
        .bind(m.longitude)
        .bind(m.location_address)
        .bind(m.location_label)
        .bind(m.replied_to_sid)
        .bind(m.referral)
        .bind(&urls)
        .bind(&types)
        .bind(m.media_job_max_attempts)
        .bind(m.forwarded)
        .bind(m.frequently_forwarded)
        .bind(m.webhook_params)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(r) => Stored::New {
            message_id: r.message_id,
            conversation_id: r.conversation_id,
            new_conversation: r.new_conversation,
        },
        None => Stored::Duplicate,
    })
}

/// What a status callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusUpdate {
    Applied {
        previous: String,
    },
    /// The message is already at or past this status (callbacks arrive out of order).
    Stale {
        current: String,
    },
    UnknownMessage,
}

/// Moves the message to `status` if it may (see [`MessageStatus::may_become`]), in one conditional statement,
/// so concurrent callbacks for the same message cannot move it backwards.
pub async fn apply_status(
    pool: &PgPool,
    account_id: Uuid,
    twilio_sid: &str,
    status: MessageStatus,
    error_code: Option<i32>,
    error_message: Option<&str>,
) -> sqlx::Result<StatusUpdate> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "WITH target AS (
             SELECT id, status FROM messages WHERE account_id = $1 AND twilio_sid = $2
         ), updated AS (
             UPDATE messages m SET status = $3, status_updated_at = now(),
                    error_code = COALESCE($4, m.error_code), error_message = COALESCE($5, m.error_message)
             FROM target WHERE m.id = target.id AND m.status = ANY($6)
             RETURNING m.id
         )
         SELECT target.status, EXISTS (SELECT 1 FROM updated) FROM target",
    )
    .bind(account_id)
    .bind(twilio_sid)
    .bind(status.as_str())
    .bind(error_code)
    .bind(error_message)
    .bind(MessageStatus::replaceable_by(status))
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => StatusUpdate::UnknownMessage,
        Some((previous, true)) => StatusUpdate::Applied { previous },
        Some((current, false)) => StatusUpdate::Stale { current },
    })
}
