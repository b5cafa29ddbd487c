//! Group commit for Twilio's answers.
//!
//! Each accepted message needs its SID recorded and its job ended, in one commit (see `sender`). Under load the
//! commit, not the work, is the cost, so sends hand their result to a recorder task that writes whatever is
//! waiting (up to 64, never waiting for more) in one statement. A send is answered after that commit. A batch
//! that fails is tried again (a message Twilio accepted must not be sent again because a write hiccuped);
//! only after that do the waiting sends see the error.

use crate::store::outbound::{self, Accepted};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

const MAX_BATCH: usize = 64;
const ATTEMPTS: u32 = 4;

type Reply = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<(Accepted, Reply)>,
    /// Told after each batch commits: the sends waiting for an earlier message of their conversation look again.
    recorded: Arc<Notify>,
}

impl Recorder {
    pub fn start(pool: PgPool) -> Self {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * 8);
        let recorded = Arc::new(Notify::new());
        tokio::spawn(run(pool, receiver, recorded.clone()));
        Self { queue, recorded }
    }

    /// Told whenever a batch of SIDs was committed.
    pub fn recorded(&self) -> &Notify {
        &self.recorded
    }

    /// Records that Twilio accepted a message, answering once committed.
    pub async fn record(&self, accepted: Accepted) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((accepted, reply)).await.map_err(|_| "the recorder stopped".to_owned())?;
        answer.await.map_err(|_| "the recorder stopped".to_owned())?
    }
}

async fn run(pool: PgPool, mut receiver: mpsc::Receiver<(Accepted, Reply)>, recorded: Arc<Notify>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (rows, replies): (Vec<Accepted>, Vec<Reply>) = batch.drain(..).unzip();
        let mut result = Err(String::new());
        for attempt in 1..=ATTEMPTS {
            result = outbound::record_accepted(&pool, &rows).await.map_err(|e| e.to_string());
            match &result {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, attempt, messages = rows.len(), "cannot record Twilio's SIDs; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        for reply in replies {
            let _ = reply.send(result.clone());
        }
        recorded.notify_waiters();
    }
}
