//! Group commit for notifications.
//!
//! One notification is a transaction of about fifteen statements (the number, the template, the customer, their
//! open conversation, window and consent, the tier; a conversation, its event, the message and its send job)
//! plus the messaging-limit reservation's own short transaction, and under load PostgreSQL's work is mostly per
//! statement and per commit, not per row. So `POST /notifications` hands its request to one of a few writer
//! tasks and waits for the answer. A writer takes every request already waiting (up to `max_batch`; while
//! another writer is writing it gathers a few more first, see [`crate::group_commit`], and with no writer busy
//! it never waits, so a quiet server adds no latency), groups the requests that share a sender, number,
//! template, topic, tags and queue, checks each group once and sends to its recipients with [`super::send`] (the
//! customers, their situations, their consent and the reservation are read or written once per group), and
//! commits once.
//!
//! **Guarantee**: the same as one transaction per request. A request is answered 202 only after the commit that
//! queued its message; a refused recipient queues nothing; every rule is checked for each recipient as if it
//! were alone (a second request for the same customer in one group continues the conversation the first
//! opened, as it would have one commit later). If the shared transaction fails as a whole (a deadlock, a lost
//! connection), each of its requests is tried again alone in its own transaction, so one request's trouble never
//! fails another, and a reservation is given back whenever its transaction does not commit.

use super::{check, send, Common, Recipient, Sent};
use crate::auth::Caller;
use crate::group_commit::Queue;
use crate::jobs::Wake;
use crate::outbound::compose::Outbox;
use crate::outbound::limits::Reservation;
use crate::outbound::policy::SendError;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// One notification: who sends it, what it shares with others, and its recipient.
#[derive(Debug, Clone)]
pub struct Request {
    pub caller: Caller,
    pub common: Common,
    pub recipient: Recipient,
}

impl Request {
    /// One request for one recipient; the template's variables are the recipient's own, so that requests that
    /// differ only in their variables share a group.
    pub fn new(caller: Caller, mut common: Common, to: String) -> Self {
        let variables = std::mem::take(&mut common.template.variables);
        Self { caller, common, recipient: Recipient { to, variables } }
    }

    /// Whether two requests can be checked and sent as one group: everything but the recipient is the same.
    fn shares_with(&self, other: &Request) -> bool {
        let (a, b) = (&self.common, &other.common);
        let (ta, tb) = (&a.template, &b.template);
        self.caller.actor.kind == other.caller.actor.kind
            && self.caller.actor.id == other.caller.actor.id
            && self.caller.actor.label == other.caller.actor.label
            && self.caller.user_id == other.caller.user_id
            && self.caller.supervisor == other.caller.supervisor
            && a.number_id == b.number_id
            && (ta.id, &ta.name, &ta.language) == (tb.id, &tb.name, &tb.language)
            && ta.variables == tb.variables
            && a.topic == b.topic
            && a.tag_ids == b.tag_ids
            && a.queue_id == b.queue_id
    }
}

type Answer = Result<Sent, SendError>;
type Reply = oneshot::Sender<Answer>;

/// What a writer needs to send.
#[derive(Clone)]
struct Context {
    pool: PgPool,
    /// For reservations, which commit on their own (see `outbound::limits`).
    side_pool: PgPool,
    outbox: Outbox,
    jobs: Wake,
}

/// Hands notifications to the writer tasks. Cheap to clone; the writers stop when the last clone is dropped.
#[derive(Clone)]
pub struct NotificationWriter {
    queue: mpsc::Sender<(Request, Reply)>,
    ctx: Context,
}

impl NotificationWriter {
    /// Starts `writers` tasks, each sending up to `max_batch` requests per transaction.
    pub fn start(
        pool: PgPool,
        side_pool: PgPool,
        outbox: Outbox,
        jobs: Wake,
        writers: usize,
        max_batch: usize,
    ) -> Self {
        let ctx = Context { pool, side_pool, outbox, jobs };
        let (queue, receiver) = mpsc::channel::<(Request, Reply)>(writers.max(1) * max_batch.max(1) * 4);
        let batches = Queue::new(receiver, max_batch);
        for _ in 0..writers.max(1) {
            tokio::spawn(run(ctx.clone(), batches.clone()));
        }
        Self { queue, ctx }
    }

    /// Sends one notification, answering once it is committed (or refused, or failed).
    pub async fn send(&self, request: Request) -> Answer {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((request, _))) = self.queue.send((request, reply)).await {
            // The writers are gone (shutting down): send it here rather than refuse it.
            return alone(&self.ctx, request).await;
        }
        answer.await.map_err(|_| SendError::Database(sqlx::Error::WorkerCrashed))?
    }
}

async fn run(ctx: Context, queue: Arc<Queue<(Request, Reply)>>) {
    let mut batch: Vec<(Request, Reply)> = Vec::new();
    while let Some(_writing) = queue.next_batch(&mut batch).await {
        write(&ctx, &mut batch).await;
    }
}

async fn write(ctx: &Context, batch: &mut Vec<(Request, Reply)>) {
    if batch.len() > 1 {
        let requests: Vec<&Request> = batch.iter().map(|(r, _)| r).collect();
        match together(ctx, &requests).await {
            Ok(answers) => {
                ctx.jobs.kick();
                for ((_, reply), answer) in batch.drain(..).zip(answers) {
                    let _ = reply.send(answer);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "a group of notifications failed; sending them one by one")
            }
        }
    }
    for (request, reply) in batch.drain(..) {
        let _ = reply.send(alone(ctx, request).await);
    }
}

/// A recipient's field as one notification names it.
fn field(_: usize, name: &str) -> String {
    match name {
        "variables" => "template.variables".to_owned(),
        other => other.to_owned(),
    }
}

/// Every request in one transaction, grouped; answers each request's result, or the error that lost the
/// transaction (every reservation given back).
async fn together(ctx: &Context, requests: &[&Request]) -> sqlx::Result<Vec<Answer>> {
    let mut answers: Vec<Option<Answer>> = requests.iter().map(|_| None).collect();
    let mut reservations: Vec<Reservation> = Vec::new();
    let result: sqlx::Result<()> = async {
        let mut tx = ctx.pool.begin().await?;
        for first in 0..requests.len() {
            if answers[first].is_some() {
                continue;
            }
            let group: Vec<usize> = (first..requests.len())
                .filter(|&i| answers[i].is_none() && requests[first].shares_with(requests[i]))
                .collect();
            let lead = requests[first];
            let checked = match check(&mut tx, lead.common.clone()).await {
                Ok(checked) => checked,
                Err(SendError::Database(e)) => return Err(e),
                Err(SendError::Refused(r)) => {
                    for &i in &group {
                        answers[i] = Some(Err(SendError::Refused(r.clone())));
                    }
                    continue;
                }
            };
            let recipients: Vec<Recipient> = group.iter().map(|&i| requests[i].recipient.clone()).collect();
            let (results, reservation) =
                send(&ctx.side_pool, &mut tx, ctx.outbox, &lead.caller, &checked, &recipients, field).await?;
            reservations.push(reservation);
            for (&i, result) in group.iter().zip(results) {
                answers[i] = Some(result.map_err(SendError::Refused));
            }
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        for r in reservations {
            r.release(&ctx.side_pool).await;
        }
        return Err(e);
    }
    Ok(answers.into_iter().map(|a| a.expect("every request belongs to a group")).collect())
}

/// One request in its own transaction.
async fn alone(ctx: &Context, request: Request) -> Answer {
    let mut tx = ctx.pool.begin().await?;
    let checked = check(&mut tx, request.common).await?;
    let (mut results, reservation) =
        send(&ctx.side_pool, &mut tx, ctx.outbox, &request.caller, &checked, &[request.recipient], field).await?;
    let sent = results.pop().expect("one result per recipient")?;
    if let Err(e) = tx.commit().await {
        reservation.release(&ctx.side_pool).await;
        return Err(e.into());
    }
    ctx.jobs.kick();
    Ok(sent)
}
