//! Group commit for inbound messages.
//!
//! Under load most of PostgreSQL's work per webhook is per statement (executor start-up, commit, round trip),
//! not per row. Webhook handlers hand their message to one of a few writer tasks and wait for its answer; a
//! writer takes every message already waiting (up to a batch size; while another writer is writing it gathers a
//! few more first, see [`crate::group_commit`], and with no writer busy it never waits, so a quiet server adds
//! no latency) and stores them in one statement and one commit. Each handler is answered only after that
//! commit, so nothing is acknowledged to Twilio before it is durable, exactly as with one statement per message.
//! If a batch fails as a whole (one row breaking a constraint, say), its messages are stored one by one, so one
//! bad message never takes others with it. A message with media to download is stored on its own, and the job
//! worker is woken for it once it is committed.

use crate::group_commit::Queue;
use crate::jobs::Wake;
use crate::store::messages::{self, NewInbound, Stored};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<sqlx::Result<Stored>>;

/// Hands messages to the writer tasks. Cheap to clone; the writers stop when the last clone is dropped.
#[derive(Clone)]
pub struct InboundWriter {
    queue: mpsc::Sender<(NewInbound, Reply)>,
    pool: PgPool,
    jobs: Wake,
}

impl InboundWriter {
    /// Starts `writers` tasks, each storing up to `max_batch` messages per statement.
    pub fn start(pool: PgPool, writers: usize, max_batch: usize, jobs: Wake) -> Self {
        let (queue, receiver) = mpsc::channel::<(NewInbound, Reply)>(writers * max_batch * 4);
        let batches = Queue::new(receiver, max_batch);
        for _ in 0..writers.max(1) {
            tokio::spawn(run(pool.clone(), batches.clone()));
        }
        Self { queue, pool, jobs }
    }

    /// Stores `message`, answering once it is committed (or failed).
    pub async fn store(&self, message: NewInbound) -> sqlx::Result<Stored> {
        if !message.batchable() {
            let stored = messages::insert_inbound(&self.pool, &message).await;
            if message.queues_download() {
                self.jobs.kick();
            }
            return stored;
        }
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((message, _))) = self.queue.send((message, reply)).await {
            // The writers are gone (shutting down): store it here rather than refuse it.
            return messages::insert_inbound(&self.pool, &message).await;
        }
        answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

async fn run(pool: PgPool, queue: Arc<Queue<(NewInbound, Reply)>>) {
    let mut batch: Vec<(NewInbound, Reply)> = Vec::new();
    while let Some(_writing) = queue.next_batch(&mut batch).await {
        write(&pool, &mut batch).await;
    }
}

async fn write(pool: &PgPool, batch: &mut Vec<(NewInbound, Reply)>) {
    if batch.len() > 1 {
        let rows: Vec<&NewInbound> = batch.iter().map(|(m, _)| m).collect();
        match messages::insert_inbound_batch(pool, &rows).await {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "batch insert failed; storing its messages one by one")
            }
        }
    }
    for (message, reply) in batch.drain(..) {
        let _ = reply.send(messages::insert_inbound(pool, &message).await);
    }
}
