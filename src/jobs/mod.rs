//! The background worker: runs durable jobs from the `jobs` table.
//!
//! It knows job kinds, not what they do: the application hands it a table of [`Task`]s by kind (media
//! downloads, sends, the sandbox's callbacks), each owning what it needs.
//!
//! Every `serve` process runs one. It claims due jobs with `FOR UPDATE SKIP LOCKED` (so several processes share
//! the work without taking the same job twice), and runs up to `jobs.concurrency` at once. It wakes when this
//! process commits a job ([`Wake::kick`]) and otherwise polls every `jobs.poll_interval_ms`, which is how it finds
//! jobs other processes queued and retries that fall due. Not `LISTEN/NOTIFY`: PostgreSQL serialises the commits
//! of every transaction that notifies (a global lock held through the WAL flush), and every send and every
//! inbound message with media queues a job (BENCHMARKS.md, "Job wake-up without NOTIFY"). A failed attempt is
//! retried with exponential backoff and jitter; after the last attempt the job stays `failed`, visible, and
//! the thing it worked on says why. Each worker records a heartbeat; the jobs of a worker that has been silent
//! for `jobs.worker_timeout_ms` (killed, or its machine gone) are taken over, as are jobs running longer than
//! `jobs.lease_secs`. On shutdown no new job is claimed; the running ones get `jobs.shutdown_grace_ms` to finish,
//! and those still running then are stopped and handed back (pending at once, the attempt not counted) rather
//! than left for the worker timeout, so that a rolling restart delays no job. A job stopped mid-way is where a
//! crash would leave it: a download starts over; a send is never cut inside its request to Twilio (the grace
//! outlasts `outbound.request_timeout_ms`) and stops only while it waits for its rate slot, before it sends.

use crate::config::JobSettings;
use crate::store::jobs::{self, Job};
use futures_util::future::BoxFuture;
use rand::Rng;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Wakes this process's worker at once. Whoever commits a transaction that queued a job kicks it after the
/// commit (a kick before it would find nothing yet); a job queued without a kick still runs at the next poll.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn kick(&self) {
        self.0.notify_one();
    }
}

/// One kind of job: reads its payload and does the work. Each task owns what it needs (a pool, a client, a
/// directory); the engine knows only kinds and payloads.
pub trait Task: Send + Sync {
    fn run<'a>(&'a self, payload: &'a Value, attempt: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>>;

    /// Notes an attempt's error on what the job worked on, so that people see it there (nothing by default).
    fn record_failure<'a>(
        &'a self,
        _payload: &'a Value,
        _error: &'a str,
        _final_failure: bool,
    ) -> BoxFuture<'a, sqlx::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The tasks a worker runs, by job kind; assembled by the application, which knows every flow.
#[derive(Clone, Default)]
pub struct Tasks(HashMap<&'static str, Arc<dyn Task>>);

impl Tasks {
    pub fn with(mut self, kind: &'static str, task: impl Task + 'static) -> Self {
        self.0.insert(kind, Arc::new(task));
        self
    }

    fn get(&self, kind: &str) -> Option<&Arc<dyn Task>> {
        self.0.get(kind)
    }
}

/// A UUID member of a job's payload; a payload without it cannot be run.
pub fn uuid_in(payload: &Value, name: &str) -> Result<Uuid, JobError> {
    payload
        .get(name)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| JobError::Permanent(format!("payload without {name}")))
}

/// A text member of a job's payload; a payload without it cannot be run.
pub fn text_in<'a>(payload: &'a Value, name: &str) -> Result<&'a str, JobError> {
    payload.get(name).and_then(Value::as_str).ok_or_else(|| JobError::Permanent(format!("payload without {name}")))
}

/// The attempt now running, as a task sees it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub job_id: i64,
    pub worker: &'a str,
    /// 1 for the first attempt.
    pub number: i32,
    pub max: i32,
    /// Cancelled when the process begins to stop: a task that waits (for a rate slot, say) stops waiting and
    /// answers [`JobError::HandBack`] rather than start work the process may not live to finish.
    pub stopping: &'a CancellationToken,
}

impl Attempt<'_> {
    pub fn is_last(&self) -> bool {
        self.number >= self.max
    }
}

/// How an attempt ended, when it succeeded.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// The job is finished and is deleted now.
    Completed,
    /// The task deleted its job itself, in the same transaction as its result.
    Removed,
}

/// How an attempt ended, when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Permanent(String),
    /// The process is stopping ([`Attempt::stopping`]) and the task stopped at a safe point: the job is handed
    /// back at once, the attempt not counted.
    #[error("handed back: the worker is shutting down")]
    HandBack,
    /// Something else must happen first (an earlier message of the conversation is still being sent): the job
    /// is tried again after the delay, the attempt not counted.
    #[error("waiting: {1}")]
    NotYet(Duration, &'static str),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::Retry(format!("database: {e}"))
    }
}

/// What every attempt shares: the pool the engine records outcomes with, and the tasks.
struct Engine {
    pool: PgPool,
    tasks: Tasks,
}

pub struct Worker {
    ctx: Arc<Engine>,
    settings: JobSettings,
    id: Arc<str>,
    wake: Wake,
}

impl Worker {
    /// `id` names this process among those sharing the database (its heartbeat row); `tasks` are the kinds of
    /// job it runs; `wake` is kicked by this process's code that queues jobs.
    pub fn new(pool: PgPool, tasks: Tasks, settings: JobSettings, id: Arc<str>, wake: Wake) -> Self {
        Self { ctx: Arc::new(Engine { pool, tasks }), settings, id, wake }
    }

    /// Runs until `shutdown`, then lets the jobs in hand finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let lease = Duration::from_secs(self.settings.lease_secs);
        let heartbeat = Duration::from_millis(self.settings.heartbeat_ms);
        let worker_timeout = Duration::from_millis(self.settings.worker_timeout_ms);
        if let Err(e) = jobs::heartbeat(&self.ctx.pool, &self.id).await {
            tracing::warn!(error = %e, "cannot register the worker; its jobs may be taken over early");
        }
        let mut running: JoinSet<()> = JoinSet::new();
        let mut last_beat = tokio::time::Instant::now();
        let mut last_reclaim = tokio::time::Instant::now() - heartbeat;
        loop {
            if last_beat.elapsed() >= heartbeat {
                last_beat = tokio::time::Instant::now();
                if let Err(e) = jobs::heartbeat(&self.ctx.pool, &self.id).await {
                    tracing::warn!(error = %e, "cannot record the worker's heartbeat");
                }
            }
            if last_reclaim.elapsed() >= heartbeat {
                last_reclaim = tokio::time::Instant::now();
                match jobs::reclaim_expired(&self.ctx.pool, lease, worker_timeout).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(jobs = n, "took over jobs whose worker stopped"),
                    Err(e) => tracing::warn!(error = %e, "cannot reclaim expired jobs"),
                }
            }
            let free = self.settings.concurrency.saturating_sub(running.len());
            let mut claimed = 0;
            // Claim in batches: one claim (one commit) for a quarter of the slots rather than one per freed
            // slot, which under load doubled the commits per job. An idle worker claims at once.
            if free > 0 && (running.is_empty() || free >= self.settings.concurrency.div_ceil(4)) {
                match jobs::claim(&self.ctx.pool, &self.id, free as i64).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for job in batch {
                            let (ctx, settings, id) = (self.ctx.clone(), self.settings.clone(), self.id.clone());
                            let stopping = shutdown.clone();
                            running.spawn(async move { execute(&ctx, &settings, &id, job, &stopping).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot claim jobs"),
                }
            }
            if claimed > 0 && claimed == free {
                // There may be more; look again as soon as a slot frees.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    Some(_) = running.join_next() => {}
                    _ = tokio::time::sleep(heartbeat) => {}
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = self.wake.0.notified() => {}
                _ = tokio::time::sleep(poll.min(heartbeat)) => {}
            }
        }
        let grace = Duration::from_millis(self.settings.shutdown_grace_ms);
        let finished = tokio::time::timeout(grace, async { while running.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            running.abort_all();
            while running.join_next().await.is_some() {}
            match jobs::hand_back(&self.ctx.pool, &self.id, None).await {
                Ok(n) => tracing::info!(jobs = n, "shutting down: handed back the jobs still running"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot hand back running jobs; they are taken over after the worker timeout")
                }
            }
        }
        if let Err(e) = jobs::retire(&self.ctx.pool, &self.id).await {
            tracing::warn!(error = %e, "cannot retire the worker's heartbeat");
        }
    }
}

async fn execute(ctx: &Engine, settings: &JobSettings, worker: &str, job: Job, stopping: &CancellationToken) {
    let Some(task) = ctx.tasks.get(&job.kind).cloned() else {
        let e = format!("unknown job kind {:?}", job.kind);
        tracing::error!(job = job.id, kind = %job.kind, error = %e, "job cannot be run; marked failed");
        if let Err(db) = jobs::fail(&ctx.pool, job.id, worker, &e).await {
            tracing::error!(job = job.id, error = %db, "cannot mark the job failed; it is retried when its lease expires");
        }
        return;
    };
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let max = job.max_attempts.unwrap_or(settings.max_attempts);
    let attempt = Attempt { job_id: job.id, worker, number: job.attempts, max, stopping };
    let outcome = tracing::Instrument::instrument(task.run(&job.payload, attempt), span.clone()).await;
    let result = match outcome {
        Ok(Done::Completed) => jobs::complete(&ctx.pool, job.id, worker).await,
        Ok(Done::Removed) => Ok(()),
        Err(JobError::HandBack) => jobs::hand_back(&ctx.pool, worker, Some(job.id)).await.map(drop),
        Err(JobError::NotYet(delay, why)) => jobs::defer(&ctx.pool, job.id, worker, delay, why).await,
        Err(JobError::Retry(e)) if job.attempts < max => {
            let delay = backoff(settings, job.attempts);
            span.in_scope(
                || tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "job attempt failed; will retry"),
            );
            record_failure(task.as_ref(), &job.payload, &span, &e, false).await;
            jobs::retry_later(&ctx.pool, job.id, worker, delay, &e).await
        }
        Err(JobError::Retry(e) | JobError::Permanent(e)) => {
            span.in_scope(|| tracing::error!(error = %e, attempts = job.attempts, "job failed for good"));
            record_failure(task.as_ref(), &job.payload, &span, &e, true).await;
            jobs::fail(&ctx.pool, job.id, worker, &e).await
        }
    };
    if let Err(e) = result {
        // The job stays 'running' and is taken over when its lease expires.
        span.in_scope(|| tracing::error!(error = %e, "cannot record the job's outcome"));
    }
}

/// Notes the error on what the job worked on; if even that fails, the log says so (the job's own row still
/// records its state and error).
async fn record_failure(task: &dyn Task, payload: &Value, span: &tracing::Span, error: &str, final_failure: bool) {
    if let Err(db) = task.record_failure(payload, error, final_failure).await {
        span.in_scope(|| tracing::error!(error = %db, "cannot record the job's error on what it worked on"));
    }
}

/// Exponential backoff with jitter: the `attempt`-th retry waits between half and all of
/// `min(retry_max, retry_base · 2^(attempt-1))`.
pub fn backoff(settings: &JobSettings, attempt: i32) -> Duration {
    let exp = settings.retry_base_ms.saturating_mul(1u64 << (attempt.clamp(1, 30) - 1) as u32);
    let ceiling = exp.min(settings.retry_max_ms).max(1);
    let ms = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JobSettings {
        JobSettings {
            enabled: true,
            concurrency: 1,
            max_attempts: 8,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            poll_interval_ms: 1000,
            lease_secs: 60,
            heartbeat_ms: 1000,
            worker_timeout_ms: 5000,
            shutdown_grace_ms: 10_000,
        }
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_is_capped() {
        let s = settings();
        for _ in 0..100 {
            let first = backoff(&s, 1).as_millis();
            assert!((500..=1000).contains(&first), "{first}");
            let third = backoff(&s, 3).as_millis();
            assert!((2000..=4000).contains(&third), "{third}");
            let late = backoff(&s, 20).as_millis();
            assert!((30_000..=60_000).contains(&late), "{late}");
        }
    }
}
