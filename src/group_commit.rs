//! What the group-commit writers share (`ingest::writer`, `notify::writer`): taking the next batch.

use tokio::sync::{mpsc, Mutex};

/// Waits for one item, then takes every item already waiting, up to `max`, into `batch`: a writer never waits
/// for more to arrive, so a quiet server adds no latency. False once every sender is gone.
pub async fn next_batch<T>(receiver: &Mutex<mpsc::Receiver<T>>, batch: &mut Vec<T>, max: usize) -> bool {
    let mut rx = receiver.lock().await;
    match rx.recv().await {
        Some(first) => batch.push(first),
        None => return false,
    }
    while batch.len() < max {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    true
}
