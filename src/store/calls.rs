//! WhatsApp calls: their rows, their place in a queue, and the conversation a call belongs to.

use crate::domain::call::{CallState, Direction, Outcome};
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Call {
    pub id: Uuid,
    /// Twilio's CallSid (`CA…`); none yet for a call the business is placing until Twilio took it.
    pub call_sid: Option<String>,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub state: CallState,
    pub outcome: Option<Outcome>,
    /// The queue it waits (or waited) in; null: no queue (for a named agent, or the number's agents).
    pub queue_id: Option<Uuid>,
    /// The agent it is meant for while waiting, then the agent who took it.
    pub agent_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// The agent the call rings now, and since when.
    pub offered_to: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub offered_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub position_said_at: Option<i32>,
    /// Agents who declined it or let it ring out (tried again only once everyone else was).
    #[serde(skip)]
    pub passed_over: Vec<Uuid>,
    /// The agent put the customer on hold.
    pub on_hold: bool,
    /// The agent who accepted (or resumed) must join from the browser by then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub join_by: Option<OffsetDateTime>,
}

const COLUMNS: &str = "id, call_sid, channel_id, number_id, contact_id, conversation_id, direction, state, outcome,
    queue_id, agent_id, created_at, answered_at, ended_at, offered_to, offered_at, position_said_at, passed_over, on_hold, join_by";

/// The most calls a conversation's list shows.
pub const MAX_LISTED: i64 = 500;

/// The customer's open conversation on the number, or a new one of communication type `call` (then `true`):
/// a call joins the conversation the customer already has, as a message would. (The open conversation the
/// insert met may be resolved before it is read: then the insert is tried again.)
pub async fn conversation_for_call(
    conn: &mut PgConnection,
    channel: Uuid,
    number: Uuid,
    contact: Uuid,
) -> sqlx::Result<(Uuid, bool)> {
    loop {
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO conversations (id, channel_id, number_id, contact_id, communication_type, routing_state,
                                        updated_at, started_by, status)
             VALUES ($1, $2, $3, $4, 'call', 'unrouted', now(), 'customer', 'open')
             ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO NOTHING
             RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(channel)
        .bind(number)
        .bind(contact)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = inserted {
            return Ok((id, true));
        }
        if let Some(open) = super::conversations::open_for(conn, number, contact).await? {
            wake(conn, open).await?;
            return Ok((open, false));
        }
    }
}

/// The customer's call wakes their snoozed conversation, as their message would (with its `unsnoozed` event).
async fn wake(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "WITH snoozed AS (
             SELECT id, snoozed_until FROM conversations WHERE id = $1 AND status = 'snoozed' FOR UPDATE
         ), woken AS (
             UPDATE conversations c SET status = 'open', snoozed_until = NULL, updated_at = now()
             FROM snoozed WHERE c.id = snoozed.id RETURNING c.id, snoozed.snoozed_until
         )
         INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_label, data)
         SELECT id, 'unsnoozed', 'system', 'lifecycle', jsonb_build_object('reason', 'customer_call', 'until', snoozed_until)
         FROM woken",
    )
    .bind(conversation)
    .execute(conn)
    .await?;
    Ok(())
}

/// The language the customer speaks (theirs when known, else the number's): what a queue that matches
/// languages compares.
pub async fn caller_language(conn: &mut PgConnection, call: &Call) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT COALESCE(k.language, n.language) FROM contacts k, whatsapp_numbers n WHERE k.id = $1 AND n.id = $2",
    )
    .bind(call.contact_id)
    .bind(call.number_id)
    .fetch_optional(conn)
    .await
    .map(Option::flatten)
}

pub struct NewCall<'a> {
    pub call_sid: &'a str,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub state: CallState,
    pub outcome: Option<Outcome>,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

/// Records the call; `None` when a call with this SID is already recorded (Twilio asked again).
pub async fn insert(conn: &mut PgConnection, c: &NewCall<'_>) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!(
        "INSERT INTO calls (id, call_sid, channel_id, number_id, contact_id, conversation_id, direction, state,
                            outcome, queue_id, agent_id, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $8 = 'ended' THEN now() END)
         ON CONFLICT (call_sid) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(c.call_sid)
    .bind(c.channel_id)
    .bind(c.number_id)
    .bind(c.contact_id)
    .bind(c.conversation_id)
    .bind(c.direction)
    .bind(c.state)
    .bind(c.outcome)
    .bind(c.queue_id)
    .bind(c.agent_id)
    .fetch_optional(conn)
    .await
}

/// The call with this SID on the channel, locked for the caller's transaction.
pub async fn lock_by_sid(conn: &mut PgConnection, channel: Uuid, sid: &str) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM calls WHERE call_sid = $1 AND channel_id = $2 FOR UPDATE"))
        .bind(sid)
        .bind(channel)
        .fetch_optional(conn)
        .await
}

/// The call on the channel, if it exists.
pub async fn find_on(conn: &mut PgConnection, channel: Uuid, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM calls WHERE id = $1 AND channel_id = $2"))
        .bind(id)
        .bind(channel)
        .fetch_optional(conn)
        .await
}

/// The call's place among the waiting calls for the same queue (or, without a queue, the same agent or
/// number): 1 is next.
pub async fn position(conn: &mut PgConnection, call: &Call) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM calls
         WHERE state = 'waiting' AND created_at <= $1
           AND CASE WHEN $2::uuid IS NOT NULL THEN queue_id = $2
                    WHEN $3::uuid IS NOT NULL THEN queue_id IS NULL AND agent_id = $3
                    ELSE queue_id IS NULL AND agent_id IS NULL AND number_id = $4 END",
    )
    .bind(call.created_at)
    .bind(call.queue_id)
    .bind(call.agent_id)
    .bind(call.number_id)
    .fetch_one(conn)
    .await
}

pub async fn position_said(conn: &mut PgConnection, id: Uuid, at_secs: u32) -> sqlx::Result<()> {
    sqlx::query("UPDATE calls SET position_said_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at_secs as i32)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a call that has not ended yet (`false` if it had).
pub async fn end(conn: &mut PgConnection, id: Uuid, outcome: Outcome) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE calls SET state = 'ended', outcome = $2, ended_at = now() WHERE id = $1 AND state <> 'ended'",
    )
    .bind(id)
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The conversation's calls, oldest first (the latest [`MAX_LISTED`]).
pub async fn of_conversation(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(&format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM calls WHERE conversation_id = $1 ORDER BY created_at DESC LIMIT {MAX_LISTED})
         latest ORDER BY created_at"
    ))
        .bind(conversation)
        .fetch_all(conn)
        .await
}

/// Waiting calls that ring nobody, or whose agent let them ring past `ring_timeout_secs`, oldest first, locked
/// (others' locked calls are skipped: another process is offering them).
pub async fn due_offers(conn: &mut PgConnection, ring_timeout_secs: u64, limit: i64) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calls
         WHERE state = 'waiting' AND (offered_to IS NULL OR offered_at <= now() - make_interval(secs => $1))
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(ring_timeout_secs as f64)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whether the agent is on a call, placing one, or one rings them.
pub async fn agent_busy(conn: &mut PgConnection, agent: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM calls WHERE state = 'waiting' AND offered_to = $1)
             OR EXISTS (SELECT 1 FROM calls WHERE state IN ('connected', 'dialing') AND agent_id = $1)",
    )
    .bind(agent)
    .fetch_one(conn)
    .await
}

/// What placing a call to a conversation's customer needs, with the Twilio account to place it from.
#[derive(Debug, Clone, FromRow)]
pub struct DialTarget {
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub supports_calling: bool,
    /// The business's number (E.164).
    pub business: String,
    /// The customer's number; none for a customer WhatsApp shows only by their user id.
    pub customer: Option<String>,
    /// The conversation's channel or number was deleted.
    pub deleted: bool,
    #[sqlx(flatten)]
    pub account: super::channels::AccountRecord,
}

/// The conversation's [`DialTarget`], if `who` may see it; the conversation is share-locked.
pub async fn dial_target(
    conn: &mut PgConnection,
    conversation: Uuid,
    who: super::conversations::Visibility,
) -> sqlx::Result<Option<DialTarget>> {
    let mut q = sqlx::QueryBuilder::new(
        "SELECT c.channel_id, c.number_id, c.contact_id, c.queue_id, n.supports_calling, n.e164 AS business,
                k.phone_e164 AS customer, (n.deleted_at IS NOT NULL OR ch.deleted_at IS NOT NULL) AS deleted,
                a.account_sid, a.auth_token, a.api_key_sid, a.api_key_secret, a.sandbox
         FROM conversations c
         JOIN whatsapp_numbers n ON n.id = c.number_id
         JOIN channels ch ON ch.id = c.channel_id
         JOIN twilio_accounts a ON a.id = ch.account_id
         JOIN contacts k ON k.id = c.contact_id
         WHERE c.id = ",
    );
    q.push_bind(conversation);
    who.push(&mut q);
    q.push(" FOR KEY SHARE OF c");
    q.build_query_as().fetch_optional(conn).await
}

/// A call the business places, `dialing` with its agent and no CallSid yet.
pub async fn insert_outbound(
    conn: &mut PgConnection,
    id: Uuid,
    conversation: Uuid,
    t: &DialTarget,
    agent: Uuid,
) -> sqlx::Result<Call> {
    sqlx::query_as(&format!(
        "INSERT INTO calls (id, channel_id, number_id, contact_id, conversation_id, direction, state, queue_id,
                            agent_id)
         VALUES ($1, $2, $3, $4, $5, 'outbound', 'dialing', $6, $7)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(t.channel_id)
    .bind(t.number_id)
    .bind(t.contact_id)
    .bind(conversation)
    .bind(t.queue_id)
    .bind(agent)
    .fetch_one(conn)
    .await
}

/// Twilio took the call: its CallSid.
pub async fn set_sid(conn: &mut PgConnection, id: Uuid, sid: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE calls SET call_sid = $2 WHERE id = $1").bind(id).bind(sid).execute(conn).await?;
    Ok(())
}

/// Puts the customer on hold, or takes them off it (the agent must then join again within `join_secs`).
pub async fn set_hold(conn: &mut PgConnection, id: Uuid, on: bool, join_secs: u64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE calls SET on_hold = $2,
                join_by = CASE WHEN $2 THEN NULL ELSE now() + make_interval(secs => $3) END
         WHERE id = $1",
    )
    .bind(id)
    .bind(on)
    .bind(join_secs as f64)
    .execute(conn)
    .await?;
    Ok(())
}

/// The agent's browser joined the call.
pub async fn joined(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE calls SET join_by = NULL WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// Calls the business was placing whose request to Twilio never came back (no CallSid after `secs`), locked.
pub async fn never_placed(conn: &mut PgConnection, secs: u64, limit: i64) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calls
         WHERE state = 'dialing' AND call_sid IS NULL AND created_at < now() - make_interval(secs => $1)
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(secs as f64)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Connected calls whose agent did not join in time, locked (others' are skipped).
pub async fn unjoined(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calls WHERE join_by < now() AND state = 'connected'
         ORDER BY join_by LIMIT $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A connected call goes back to waiting, for `queue` and/or `agent` (a transfer, or an agent who never
/// joined, then `passed_over`): rung afresh.
pub async fn requeue(
    conn: &mut PgConnection,
    id: Uuid,
    queue: Option<Uuid>,
    agent: Option<Uuid>,
    passed_over: &[Uuid],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE calls SET state = 'waiting', queue_id = $2, agent_id = $3, offered_to = NULL, offered_at = NULL,
                passed_over = $4, on_hold = false, position_said_at = NULL, join_by = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(queue)
    .bind(agent)
    .bind(passed_over)
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer answered a call the business placed.
pub async fn reached(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE calls SET state = 'connected', answered_at = now() WHERE id = $1 AND state = 'dialing'")
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The agent who sent the conversation's latest call-button message within the last 24 hours, if they are
/// online: a call from that button rings them first.
pub async fn button_sender(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT u.id FROM messages m
         JOIN templates t ON t.id = m.template_id
         JOIN users u ON u.id = m.author_user_id
         WHERE m.conversation_id = $1 AND m.direction = 'outbound' AND m.created_at > now() - interval '24 hours'
           AND t.buttons @> '[{\"action\": \"VOICE_CALL\"}]' AND u.presence = 'online'
         ORDER BY m.created_at DESC LIMIT 1",
    )
    .bind(conversation)
    .fetch_optional(conn)
    .await
}

/// The agent the caller last dealt with: whoever holds the call's conversation, or else held the customer's
/// latest earlier one.
pub async fn last_agent(conn: &mut PgConnection, call: &Call) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT coalesce(c.assignee_id,
                        (SELECT o.assignee_id FROM conversations o
                          WHERE o.contact_id = c.contact_id AND o.id <> c.id AND o.assignee_id IS NOT NULL
                          ORDER BY o.created_at DESC LIMIT 1))
         FROM conversations c WHERE c.id = $1",
    )
    .bind(call.conversation_id)
    .fetch_optional(conn)
    .await
    .map(Option::flatten)
}

/// The phone number an agent takes calls on instead of the browser.
pub async fn agent_phone(conn: &mut PgConnection, agent: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT call_phone FROM users WHERE id = $1")
        .bind(agent)
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
}

/// The call, as it is now (not locked).
pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM calls WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// A number's E.164.
pub async fn business_number(conn: &mut PgConnection, number: Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT e164 FROM whatsapp_numbers WHERE id = $1").bind(number).fetch_one(conn).await
}

/// Agents a call rings now or who are on one: not offered another.
pub async fn busy_agents(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT offered_to FROM calls WHERE state = 'waiting' AND offered_to IS NOT NULL
         UNION SELECT agent_id FROM calls WHERE state IN ('connected', 'dialing') AND agent_id IS NOT NULL",
    )
    .fetch_all(conn)
    .await
}

/// Rings `agent` (or nobody) for the call, with the agents passed over so far.
pub async fn offer(conn: &mut PgConnection, id: Uuid, agent: Option<Uuid>, passed_over: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE calls SET offered_to = $2, offered_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() END,
                passed_over = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(agent)
    .bind(passed_over)
    .execute(conn)
    .await?;
    Ok(())
}

/// The call, locked for the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM calls WHERE id = $1 FOR UPDATE")).bind(id).fetch_optional(conn).await
}

/// The agent took the call: connected with them, who must join from the browser within `join_secs`.
pub async fn connect(conn: &mut PgConnection, id: Uuid, agent: Uuid, join_secs: u64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE calls SET state = 'connected', agent_id = $2, answered_at = now(), offered_to = NULL,
                offered_at = NULL, join_by = now() + make_interval(secs => $3)
         WHERE id = $1",
    )
    .bind(id)
    .bind(agent)
    .bind(join_secs as f64)
    .execute(conn)
    .await?;
    Ok(())
}

/// A call as the agent's pop-up shows it: which way, the channel, the customer's name and number, the queue.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = CallView)]
pub struct CallView {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub call: Call,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub queue_name: Option<String>,
    pub number_name: String,
    /// Always `whatsapp`.
    pub channel_type: String,
    /// The channel is the built-in sandbox's: an agent's browser joins through the sandbox, not Twilio's SDK.
    pub sandbox: bool,
}

pub async fn view(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<CallView>> {
    sqlx::query_as(
        "SELECT x.*, k.profile_name AS customer_name, k.phone_e164 AS customer_phone, q.name AS queue_name,
                n.name AS number_name, 'whatsapp' AS channel_type, a.sandbox
         FROM calls x JOIN contacts k ON k.id = x.contact_id JOIN whatsapp_numbers n ON n.id = x.number_id
              JOIN channels ch ON ch.id = x.channel_id JOIN twilio_accounts a ON a.id = ch.account_id
              LEFT JOIN queues q ON q.id = x.queue_id
         WHERE x.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}
