//! What the group-commit writers share (`ingest::writer`, `notify::writer`): the queue they take their batches
//! from, and when a writer takes one.
//!
//! A statement costs PostgreSQL most of its time per statement (executor start-up, triggers' set-up, commit),
//! not per row: one inbound message alone costs about four times its share of a batch of fourteen. So a writer
//! that finds only a few items waiting while another writer is still writing gathers more before it starts:
//! until [`Queue::gather`] items are waiting, or until no other writer is writing (then the database has room
//! again, and waiting longer would only add latency). A writer that finds no other writer busy takes what is
//! there at once, so a quiet server adds no latency. Measured in BENCHMARKS.md (issue 21, 2026-12-05).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex, Notify};

/// The writers' shared queue.
pub struct Queue<T> {
    receiver: Mutex<mpsc::Receiver<T>>,
    /// How many writers are writing a batch now.
    writing: AtomicUsize,
    /// Signalled when a writer finishes a batch.
    finished: Notify,
    max: usize,
    gather: usize,
}

/// A writer writing its batch; dropping it says the writer finished.
pub struct Writing<'a, T> {
    queue: &'a Queue<T>,
}

impl<T> Drop for Writing<'_, T> {
    fn drop(&mut self) {
        self.queue.writing.fetch_sub(1, Ordering::AcqRel);
        self.queue.finished.notify_one();
    }
}

impl<T> Queue<T> {
    /// Batches of at most `max` items; a writer gathers up to a quarter of that while another is writing.
    pub fn new(receiver: mpsc::Receiver<T>, max: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(Self {
            receiver: Mutex::new(receiver),
            writing: AtomicUsize::new(0),
            finished: Notify::new(),
            max,
            gather: (max / 4).max(1),
        })
    }

    /// How many items a writer waits for while another writer is writing.
    pub fn gather(&self) -> usize {
        self.gather
    }

    /// Waits for one item, then takes every item already waiting, up to the maximum; while another writer is
    /// writing, it goes on until [`Self::gather`] items are in `batch` or no other writer is writing. `None` once
    /// every sender is gone and nothing is left. The batch is being written until the guard is dropped.
    pub async fn next_batch(&self, batch: &mut Vec<T>) -> Option<Writing<'_, T>> {
        let mut rx = self.receiver.lock().await;
        batch.push(rx.recv().await?);
        loop {
            while batch.len() < self.max {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            if batch.len() >= self.gather || self.writing.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::select! {
                // A writer finished; a signal kept from before this wait (`notify_one` keeps one) costs a re-check.
                _ = self.finished.notified() => {}
                next = rx.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
            }
        }
        self.writing.fetch_add(1, Ordering::AcqRel);
        Some(Writing { queue: self })
    }
}

#[cfg(test)]
mod tests {
    //! No test here waits on the clock: a writer's gathering is polled by hand (`poll!`), and each poll does all
    //! that can be done at once, so "still gathering" is `Pending` and "taken" is `Ready`.
    use super::*;
    use futures_util::poll;
    use std::task::Poll;

    /// Sends `items`, then takes them as one batch (no other writer busy): a writer writing them.
    async fn writing_batch_of<'a>(
        queue: &'a Queue<i32>,
        tx: &mpsc::Sender<i32>,
        items: std::ops::Range<i32>,
    ) -> Writing<'a, i32> {
        for i in items {
            tx.send(i).await.unwrap();
        }
        queue.next_batch(&mut Vec::new()).await.unwrap()
    }

    #[tokio::test]
    async fn with_no_other_writer_busy_a_lone_item_is_taken_at_once() {
        let (tx, rx) = mpsc::channel(64);
        let queue = Queue::new(rx, 32);
        tx.send(1).await.unwrap();
        let mut batch = Vec::new();
        assert!(matches!(poll!(Box::pin(queue.next_batch(&mut batch))), Poll::Ready(Some(_))));
        assert_eq!(batch, vec![1]);
    }

    #[tokio::test]
    async fn everything_waiting_is_taken_up_to_the_maximum() {
        let (tx, rx) = mpsc::channel(64);
        let queue = Queue::new(rx, 4);
        for i in 0..6 {
            tx.send(i).await.unwrap();
        }
        let mut batch = Vec::new();
        let _writing = queue.next_batch(&mut batch).await.unwrap();
        assert_eq!(batch, vec![0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn while_another_writer_writes_a_writer_gathers_until_enough_are_waiting() {
        let (tx, rx) = mpsc::channel(64);
        let queue = Queue::new(rx, 32);
        assert_eq!(queue.gather(), 8);
        let _busy = writing_batch_of(&queue, &tx, 0..1).await;
        tx.send(1).await.unwrap();
        let mut second = Vec::new();
        let mut gathering = Box::pin(queue.next_batch(&mut second));
        for i in 2..=8 {
            assert!(poll!(&mut gathering).is_pending(), "took a batch of {} while another writer was writing", i - 1);
            tx.send(i).await.unwrap();
        }
        assert!(matches!(poll!(&mut gathering), Poll::Ready(Some(_))));
        drop(gathering);
        assert_eq!(second, (1..=8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_gathering_writer_takes_what_it_has_when_the_other_writer_finishes() {
        let (tx, rx) = mpsc::channel(64);
        let queue = Queue::new(rx, 32);
        let busy = writing_batch_of(&queue, &tx, 0..1).await;
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let mut second = Vec::new();
        let mut gathering = Box::pin(queue.next_batch(&mut second));
        assert!(poll!(&mut gathering).is_pending());
        drop(busy);
        assert!(matches!(poll!(&mut gathering), Poll::Ready(Some(_))));
        drop(gathering);
        assert_eq!(second, vec![1, 2]);
    }

    #[tokio::test]
    async fn a_finish_signalled_before_the_gathering_began_does_not_end_it() {
        let (tx, rx) = mpsc::channel(64);
        let queue = Queue::new(rx, 32);
        drop(writing_batch_of(&queue, &tx, 0..3).await);
        let _busy = writing_batch_of(&queue, &tx, 3..6).await;
        tx.send(6).await.unwrap();
        let mut second = Vec::new();
        assert!(poll!(Box::pin(queue.next_batch(&mut second))).is_pending());
    }

    #[tokio::test]
    async fn when_every_sender_is_gone_the_rest_is_taken_then_none() {
        let (tx, rx) = mpsc::channel(64);
        let queue = Queue::new(rx, 32);
        let _busy = writing_batch_of(&queue, &tx, 0..1).await;
        tx.send(1).await.unwrap();
        drop(tx);
        let mut second = Vec::new();
        assert!(matches!(poll!(Box::pin(queue.next_batch(&mut second))), Poll::Ready(Some(_))));
        assert_eq!(second, vec![1]);
        assert!(queue.next_batch(&mut Vec::new()).await.is_none());
    }
}
