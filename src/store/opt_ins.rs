//! Consent per customer and number (`opt_ins`): an append-only history whose latest row is the current state.

use crate::domain::opt_in::{OptInSource, OptInState};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// One change of consent.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub state: OptInState,
    pub source: OptInSource,
    /// What shows it: a form's reference, the keyword message, a CSV line.
    pub evidence: Option<&'a str>,
}

/// A recorded change, as the API shows it.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct OptInRecord {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub number_id: Uuid,
    pub state: OptInState,
    pub source: OptInSource,
    pub evidence: Option<String>,
    /// Who recorded it: a user's e-mail, a token's or OAuth client's name, or `system`.
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

const COLUMNS: &str = "id, contact_id, number_id, state, source, evidence, recorded_by, recorded_at";

pub async fn record(
    conn: &mut PgConnection,
    contact_id: Uuid,
    number_id: Uuid,
    change: &Change<'_>,
    recorded_by: &str,
) -> sqlx::Result<OptInRecord> {
    sqlx::query_as(&format!(
        "INSERT INTO opt_ins (id, contact_id, number_id, state, source, evidence, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(contact_id)
    .bind(number_id)
    .bind(change.state)
    .bind(change.source)
    .bind(change.evidence)
    .bind(recorded_by)
    .fetch_one(conn)
    .await
}

/// Records a change for the customer and number of a conversation.
pub async fn record_in_conversation(
    conn: &mut PgConnection,
    conversation_id: Uuid,
    change: &Change<'_>,
    recorded_by: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO opt_ins (id, contact_id, number_id, state, source, evidence, recorded_by)
         SELECT $1, c.contact_id, c.number_id, $3, $4, $5, $6 FROM conversations c WHERE c.id = $2",
    )
    .bind(Uuid::now_v7())
    .bind(conversation_id)
    .bind(change.state)
    .bind(change.source)
    .bind(change.evidence)
    .bind(recorded_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records an opt-out for the customer a message went to (Twilio answered that they unsubscribed).
pub async fn opt_out_of_message(conn: &PgPool, message_id: Uuid, evidence: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO opt_ins (id, contact_id, number_id, state, source, evidence, recorded_by)
         SELECT $1, c.contact_id, c.number_id, 'opted_out', 'twilio', $3, 'system'
         FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $2",
    )
    .bind(Uuid::now_v7())
    .bind(message_id)
    .bind(evidence)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`opt_out_of_message`] for a message known by its SID (a status callback reported 21610).
pub async fn opt_out_of_sid(conn: &PgPool, account_id: Uuid, sid: &str, evidence: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO opt_ins (id, contact_id, number_id, state, source, evidence, recorded_by)
         SELECT $1, c.contact_id, c.number_id, 'opted_out', 'twilio', $4, 'system'
         FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.account_id = $2 AND m.twilio_sid = $3",
    )
    .bind(Uuid::now_v7())
    .bind(account_id)
    .bind(sid)
    .bind(evidence)
    .execute(conn)
    .await?;
    Ok(())
}

/// The current consent of each `(contact, number)` pair, in order (`None`: nothing on record).
pub async fn current_many(
    conn: &mut PgConnection,
    contacts: &[Uuid],
    numbers: &[Uuid],
) -> sqlx::Result<Vec<Option<OptInState>>> {
    sqlx::query_scalar(
        "SELECT (SELECT o.state FROM opt_ins o WHERE o.contact_id = p.contact_id AND o.number_id = p.number_id
                 ORDER BY o.recorded_at DESC, o.id DESC LIMIT 1)
         FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS p(contact_id, number_id, ord) ORDER BY p.ord",
    )
    .bind(contacts)
    .bind(numbers)
    .fetch_all(conn)
    .await
}

/// The current consent of one customer on one number.
pub async fn current(conn: &mut PgConnection, contact_id: Uuid, number_id: Uuid) -> sqlx::Result<Option<OptInState>> {
    Ok(current_many(conn, &[contact_id], &[number_id]).await?.pop().flatten())
}

/// A customer's history of consent on every number, newest first.
pub async fn history(conn: &mut PgConnection, contact_id: Uuid) -> sqlx::Result<Vec<OptInRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM opt_ins WHERE contact_id = $1 ORDER BY recorded_at DESC, id DESC LIMIT 1000"
    ))
    .bind(contact_id)
    .fetch_all(conn)
    .await
}

/// One line of an import: the customer by phone number (created if new), on a number.
pub struct Imported<'a> {
    pub phone: &'a str,
    pub number_id: Uuid,
    pub state: OptInState,
    pub evidence: Option<&'a str>,
}

/// Records every line in one statement (contacts created as needed); answers how many were recorded.
pub async fn import(conn: &mut PgConnection, lines: &[Imported<'_>], recorded_by: &str) -> sqlx::Result<u64> {
    let phones: Vec<&str> = lines.iter().map(|l| l.phone).collect();
    let wa_ids: Vec<&str> = lines.iter().map(|l| l.phone.trim_start_matches('+')).collect();
    let new_ids: Vec<Uuid> = lines.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO contacts (id, phone_e164, wa_id)
         SELECT DISTINCT ON (phone) id, phone, wa_id FROM unnest($1::uuid[], $2::text[], $3::text[]) AS i(id, phone, wa_id)
         ON CONFLICT (phone_e164) DO NOTHING",
    )
    .bind(&new_ids)
    .bind(&phones)
    .bind(&wa_ids)
    .execute(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = lines.iter().map(|_| Uuid::now_v7()).collect();
    let numbers: Vec<Uuid> = lines.iter().map(|l| l.number_id).collect();
    let states: Vec<&str> = lines.iter().map(|l| l.state.as_str()).collect();
    let evidence: Vec<Option<&str>> = lines.iter().map(|l| l.evidence).collect();
    let done = sqlx::query(
        "INSERT INTO opt_ins (id, contact_id, number_id, state, source, evidence, recorded_by)
         SELECT i.id, c.id, i.number_id, i.state, 'import', i.evidence, $6
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[]) WITH ORDINALITY
              AS i(id, phone, number_id, state, evidence, ord)
         JOIN contacts c ON c.phone_e164 = i.phone ORDER BY i.ord",
    )
    .bind(&ids)
    .bind(&phones)
    .bind(&numbers)
    .bind(&states)
    .bind(&evidence)
    .bind(recorded_by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
