//! The live feed: what open inboxes are told as it happens.
//!
//! Database triggers (migration `inbox`) append every change to a conversation, message or note to the unlogged
//! table `live_events`, in the transaction that makes it, whichever process or component made it. Each server
//! process reads the table for its WebSocket subscribers ([`Hub::subscribe`]): every [`POLL`], the rows of
//! the transactions that finished since the last read (by snapshot difference, see `store::live`: a transaction
//! that commits late is never skipped, and a long one delays only its own rows), and fans them out as one
//! [`Batch`]; each connection sends what its agent may see of it ([`Audience::sees`]) as one frame. When
//! reading fails, or a slow connection falls behind, subscribers are told to [`Batch::Resync`]: the inbox then
//! reloads what it shows, which is also how it catches up after its own connection dropped.
//!
//! Not NOTIFY: PostgreSQL serialises the commits of every transaction that notifies (a global lock held through
//! the WAL flush), which took about a fifth of the inbound path's throughput (BENCHMARKS.md).

use axum::extract::ws::Utf8Bytes;
use serde::Deserialize;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The close code a connection gets when its server stops (RFC 6455's 1012, "service restart"): the inbox
/// reconnects at once, through the load balancer to a node that is up.
pub const RESTARTING: u16 = 1012;

/// How often the table is read while someone is subscribed: the most a change waits before it is passed on.
pub const POLL: Duration = Duration::from_millis(15);
/// How often it is read while nobody is subscribed (only to keep its place).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long rows are kept (every reader has read them long before).
const KEEP_SECS: i64 = 300;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// One change, with who may see it: the conversation's number, queue and assignee (and, for a conversation
/// change, the queue and assignee it had before, whose agents must see it leave).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Change {
    /// `conversation`, `message` or `note`.
    pub kind: String,
    #[serde(rename = "c")]
    pub conversation_id: Uuid,
    /// The message's or note's id.
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(rename = "n")]
    pub number_id: Option<Uuid>,
    #[serde(rename = "q", default)]
    pub queue_id: Option<Uuid>,
    #[serde(rename = "a", default)]
    pub assignee_id: Option<Uuid>,
    #[serde(rename = "pq", default)]
    pub previous_queue_id: Option<Uuid>,
    #[serde(rename = "pa", default)]
    pub previous_assignee_id: Option<Uuid>,
}

/// A WebSocket text frame, shared by every connection that sends it: one change, `{"type": "change", "kind",
/// "conversation_id", "id"}`; several that arrived together, `{"type": "changes", "changes": [change, …]}`; or
/// `{"type": "resync"}`. Made (and known to be UTF-8) once; cloning it copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Utf8Bytes);

impl Frame {
    fn of(c: &Change) -> Self {
        let text = serde_json::json!({
            "type": "change", "kind": c.kind, "conversation_id": c.conversation_id, "id": c.id,
        })
        .to_string();
        Self(text.into())
    }

    /// One frame for `changes` (each a frame of one change): none for none, the change's own for one.
    fn together<'a>(mut changes: impl Iterator<Item = &'a Frame>) -> Option<Self> {
        let first = changes.next()?;
        let Some(second) = changes.next() else { return Some(first.clone()) };
        let mut text = String::with_capacity(first.0.len() * 16);
        text.push_str(r#"{"type":"changes","changes":["#);
        text.push_str(&first.0);
        for frame in std::iter::once(second).chain(changes) {
            text.push(',');
            text.push_str(&frame.0);
        }
        text.push_str("]}");
        Some(Self(text.into()))
    }

    pub fn resync() -> Self {
        Self(Utf8Bytes::from_static(r#"{"type":"resync"}"#))
    }

    pub fn text(&self) -> Utf8Bytes {
        self.0.clone()
    }
}

/// Who a connection belongs to, as far as visibility goes: the same rule as `store::conversations::Visibility`.
#[derive(Debug, Clone)]
pub enum Audience {
    All,
    Agent { user: Uuid, queues: HashSet<Uuid>, numbers: HashSet<Uuid> },
}

impl Audience {
    pub fn sees(&self, c: &Change) -> bool {
        match self {
            Self::All => true,
            Self::Agent { user, queues, numbers } => {
                c.assignee_id == Some(*user)
                    || c.previous_assignee_id == Some(*user)
                    || c.queue_id.is_some_and(|q| queues.contains(&q))
                    || c.previous_queue_id.is_some_and(|q| queues.contains(&q))
                    || c.number_id.is_some_and(|n| numbers.contains(&n))
            }
        }
    }
}

/// What one read of the table passes on, in order: every subscriber gets the same batch (one wake-up and one
/// channel read per batch, not per change), takes what its agent may see, and sends it as one frame.
#[derive(Debug)]
pub enum Batch {
    /// Each change with its own frame, and all of them in one frame for those who see everything (made once
    /// here, so a supervisor's connection only writes it).
    Changes { changes: Vec<(Change, Frame)>, all: Frame },
    /// Changes may have been missed: reload.
    Resync,
}

impl Batch {
    fn of(changes: Vec<(Change, Frame)>) -> Option<Self> {
        let all = Frame::together(changes.iter().map(|(_, f)| f))?;
        Some(Self::Changes { changes, all })
    }

    /// The one frame this audience is sent for the batch, if it sees anything in it.
    pub fn frame_for(&self, audience: &Audience) -> Option<Frame> {
        match (self, audience) {
            (Self::Resync, _) => Some(Frame::resync()),
            (Self::Changes { all, .. }, Audience::All) => Some(all.clone()),
            (Self::Changes { changes, .. }, _) => {
                Frame::together(changes.iter().filter(|(c, _)| audience.sees(c)).map(|(_, f)| f))
            }
        }
    }
}

/// The most events in one batch.
const MAX_BATCH: usize = 256;
/// Batches kept for subscribers that have not read them yet. One that falls further behind (about a second of
/// reads, at 15 ms each) misses what it did not read and is told to [`Batch::Resync`], rather than anything
/// being buffered for it: at most `BACKLOG × MAX_BATCH` events are held for all subscribers together.
const BACKLOG: usize = 64;

/// This process's one listener and its subscribers.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Batch>>,
    stop: CancellationToken,
}

impl Hub {
    /// Starts listening; stops when `stop` is cancelled.
    pub fn start(pool: PgPool, stop: CancellationToken) -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        let hub = Self { sender, stop: stop.clone() };
        tokio::spawn(hub.clone().listen(pool, stop));
        hub
    }

    /// Resolves when the process begins to stop: connections then close with [`RESTARTING`].
    pub fn stopping(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.sender.subscribe()
    }

    async fn listen(self, pool: PgPool, stop: CancellationToken) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sweep = tokio::time::Instant::now();
        let mut last_read = tokio::time::Instant::now();
        // Where the next read starts; `None` at first and after a failure. It keeps moving while nobody is
        // subscribed (once a second), so that a first subscriber misses nothing from the moment it subscribed.
        let mut cursor: Option<String> = None;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if self.sender.receiver_count() == 0 && cursor.is_some() && last_read.elapsed() < IDLE_POLL {
                continue;
            }
            last_read = tokio::time::Instant::now();
            let read = match &cursor {
                None => crate::store::live::snapshot(&pool).await.map(|s| (Vec::new(), s)),
                Some(since) if self.sender.receiver_count() > 0 => crate::store::live::read_since(&pool, since).await,
                // Nobody is subscribed: the cursor moves on without reading what nobody would be sent (a second's
                // worth of rows under load). Subscribed after the snapshot, one is owed only what follows it.
                Some(since) => match crate::store::live::snapshot(&pool).await {
                    Ok(now) if self.sender.receiver_count() == 0 => Ok((Vec::new(), now)),
                    Ok(_) => crate::store::live::read_since(&pool, since).await,
                    Err(e) => Err(e),
                },
            };
            match read {
                Ok((payloads, snapshot)) => {
                    if failing {
                        // Whatever happened while the table could not be read is unknown: everyone reloads.
                        failing = false;
                        let _ = self.sender.send(Arc::new(Batch::Resync));
                    }
                    let mut changes =
                        payloads.iter().filter_map(|payload| match serde_json::from_str::<Change>(payload) {
                            Ok(change) => {
                                let frame = Frame::of(&change);
                                Some((change, frame))
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, payload, "live feed: unreadable event");
                                None
                            }
                        });
                    loop {
                        let chunk: Vec<(Change, Frame)> = changes.by_ref().take(MAX_BATCH).collect();
                        let Some(batch) = Batch::of(chunk) else { break };
                        let _ = self.sender.send(Arc::new(batch));
                    }
                    cursor = Some(snapshot);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "live feed: cannot read live_events; retrying");
                    }
                    failing = true;
                    cursor = None;
                }
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = tokio::time::Instant::now();
                if let Err(e) = crate::store::live::sweep(&pool, KEEP_SECS).await {
                    tracing::warn!(error = %e, "live feed: cannot delete old events");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(q: Option<Uuid>, a: Option<Uuid>, pq: Option<Uuid>, pa: Option<Uuid>, n: Uuid) -> Change {
        Change {
            kind: "conversation".into(),
            conversation_id: Uuid::now_v7(),
            id: None,
            number_id: Some(n),
            queue_id: q,
            assignee_id: a,
            previous_queue_id: pq,
            previous_assignee_id: pa,
        }
    }

    #[test]
    fn an_agent_sees_their_own_their_queues_and_their_numbers_and_what_just_left_them() {
        let (me, other, my_queue, other_queue, my_number, other_number) =
            (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let agent =
            Audience::Agent { user: me, queues: HashSet::from([my_queue]), numbers: HashSet::from([my_number]) };
        assert!(agent.sees(&change(None, Some(me), None, None, other_number)));
        assert!(agent.sees(&change(Some(my_queue), None, None, None, other_number)));
        assert!(agent.sees(&change(None, None, None, None, my_number)));
        // Claimed by someone else out of my queue, or transferred away from me: I must see it go.
        assert!(agent.sees(&change(None, Some(other), Some(my_queue), None, other_number)));
        assert!(agent.sees(&change(Some(other_queue), None, None, Some(me), other_number)));
        assert!(!agent.sees(&change(Some(other_queue), Some(other), Some(other_queue), None, other_number)));
        assert!(Audience::All.sees(&change(None, None, None, None, other_number)));
    }

    #[test]
    fn a_changes_frame_is_what_the_inbox_reads() {
        let c = change(None, None, None, None, Uuid::now_v7());
        let frame: serde_json::Value = serde_json::from_str(&Frame::of(&c).text()).unwrap();
        assert_eq!(
            frame,
            serde_json::json!({"type": "change", "kind": "conversation", "conversation_id": c.conversation_id, "id": null})
        );
    }

    #[test]
    fn changes_that_arrive_together_go_in_one_frame_and_an_agent_gets_only_theirs() {
        let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
        let a = change(None, None, None, None, mine);
        let b = change(None, None, None, None, theirs);
        let batch = Batch::of(vec![(a.clone(), Frame::of(&a)), (b.clone(), Frame::of(&b))]).unwrap();
        let all: serde_json::Value = serde_json::from_str(&batch.frame_for(&Audience::All).unwrap().text()).unwrap();
        assert_eq!(all["type"], "changes");
        let ids: Vec<_> = all["changes"].as_array().unwrap().iter().map(|c| c["conversation_id"].clone()).collect();
        assert_eq!(ids, [serde_json::json!(a.conversation_id), serde_json::json!(b.conversation_id)]);
        let agent = Audience::Agent { user: Uuid::now_v7(), queues: HashSet::new(), numbers: HashSet::from([mine]) };
        assert_eq!(batch.frame_for(&agent), Some(Frame::of(&a)), "one change alone keeps its own frame");
        let stranger = Audience::Agent { user: Uuid::now_v7(), queues: HashSet::new(), numbers: HashSet::new() };
        assert_eq!(batch.frame_for(&stranger), None);
        assert!(Batch::of(vec![]).is_none());
    }

    #[test]
    fn the_triggers_payload_is_read() {
        let c: Change = serde_json::from_str(
            r#"{"kind":"message","c":"0193a0a0-0000-7000-8000-000000000001","id":"0193a0a0-0000-7000-8000-000000000002","n":"0193a0a0-0000-7000-8000-000000000003","q":null,"a":null}"#,
        )
        .unwrap();
        assert_eq!(c.kind, "message");
        assert!(c.id.is_some() && c.queue_id.is_none() && c.previous_assignee_id.is_none());
    }
}
