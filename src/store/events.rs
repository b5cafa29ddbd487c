//! The event log (`events`, filled by triggers; a `message.received` event names its message, and its data is
//! built here when it is read): read from a cursor in transaction order, one finished stretch of transactions at
//! a time, as `live` reads the live feed, so that an event committed late is never skipped.

use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use time::OffsetDateTime;

/// Where a reader stands: after the event `id` of transaction `xid` (events are read in `(xid, id)` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub xid: i64,
    pub id: i64,
}

/// `"<xid>-<id>"`: opaque to clients.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.xid, self.id)
    }
}

impl FromStr for Cursor {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = "a cursor is the next_cursor of an earlier answer (or 0 for the oldest event kept)";
        if s == "0" {
            return Ok(Self::default());
        }
        let (xid, id) = s.split_once('-').ok_or(bad)?;
        let (xid, id) = (xid.parse::<i64>().map_err(|_| bad)?, id.parse::<i64>().map_err(|_| bad)?);
        if xid < 0 || id < 0 {
            return Err(bad);
        }
        Ok(Self { xid, id })
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct Event {
    pub id: i64,
    pub xid: i64,
    pub r#type: String,
    pub conversation_id: Option<uuid::Uuid>,
    pub number_id: Option<uuid::Uuid>,
    pub data: Value,
    pub created_at: OffsetDateTime,
}

impl Event {
    pub fn cursor(&self) -> Cursor {
        Cursor { xid: self.xid, id: self.id }
    }
}

/// An event's data, for a query that names the event `e`: as written, or, for a `message.received` event, built
/// from the message it names (`e.message_id`) when it is read. The message's fields are fixed once it is stored,
/// so this is the object the event would have carried (migration `20261205000027`); nulls are left out, as in
/// every event's data. Every reader of an event's data reads it through this.
pub(crate) const DATA: &str = "COALESCE(e.data, (SELECT jsonb_strip_nulls(jsonb_build_object(
        'message_id', m.id, 'conversation_id', m.conversation_id, 'contact_id', c.contact_id,
        'number_id', c.number_id, 'direction', m.direction, 'status', m.status, 'body', m.body,
        'message_type', m.message_type, 'num_media', m.num_media, 'twilio_sid', m.twilio_sid,
        'error_code', m.error_code, 'error_message', m.error_message))
    FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = e.message_id))";

/// Up to `limit` events after `after` of finished transactions, in order, optionally only of `types`; and the
/// cursor to read on from (the last event's, or `after` when there is none).
pub async fn read_after(
    conn: &mut PgConnection,
    after: Cursor,
    limit: i64,
    types: Option<&[String]>,
) -> sqlx::Result<Vec<Event>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT e.id, e.xid::text::bigint AS xid, e.type, e.conversation_id, e.number_id,
                {DATA} AS data, e.created_at
         FROM events e
         WHERE (e.xid, e.id) > ($1::text::xid8, $2) AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
           AND ($4::text[] IS NULL OR e.type = ANY($4))
         ORDER BY e.xid, e.id LIMIT $3"
        )
    });
    sqlx::query_as(SQL.as_str())
        .bind(after.xid.to_string())
        .bind(after.id)
        .bind(limit)
        .bind(types)
        .fetch_all(conn)
        .await
}
