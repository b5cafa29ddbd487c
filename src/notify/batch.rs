//! A batch of notifications (up to `notifications.batch_max_recipients`), sent by a durable job: the request is
//! stored with its recipients when it is accepted, and the job sends them a chunk per transaction, each
//! recipient's result written in the same transaction as its message. A job stopped or killed between chunks
//! goes on where it stopped; no recipient is sent twice.

use super::{Common, Recipient, TemplateChoice};
use crate::auth::Caller;
use crate::jobs::{self, Attempt, Done, JobError, Task};
use crate::outbound::compose::Outbox;
use crate::outbound::policy::SendError;
use crate::store::audit::Actor;
use crate::store::notifications::{self as db, Outcome};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

pub const KIND: &str = db::BATCH_KIND;

/// Recipients sent per transaction.
const CHUNK: i64 = 250;

/// What a batch's recipients share, as stored with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRequest {
    pub number_id: Uuid,
    pub template: StoredTemplate,
    pub topic: Option<String>,
    pub tag_ids: Vec<Uuid>,
    pub queue_id: Option<Uuid>,
    /// Who sent it, named in each conversation's timeline.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTemplate {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub language: Option<String>,
    pub variables: BTreeMap<String, String>,
}

impl StoredRequest {
    pub fn new(common: &Common, actor: &Actor) -> Self {
        let t = &common.template;
        Self {
            number_id: common.number_id,
            template: StoredTemplate {
                id: t.id,
                name: t.name.clone(),
                language: t.language.clone(),
                variables: t.variables.clone(),
            },
            topic: common.topic.clone(),
            tag_ids: common.tag_ids.clone(),
            queue_id: common.queue_id,
            actor_kind: actor.kind.to_owned(),
            actor_id: actor.id,
            actor_label: actor.label.clone(),
        }
    }

    fn common(&self) -> Common {
        let t = &self.template;
        Common {
            number_id: self.number_id,
            template: TemplateChoice {
                id: t.id,
                name: t.name.clone(),
                language: t.language.clone(),
                variables: t.variables.clone(),
            },
            topic: self.topic.clone(),
            tag_ids: self.tag_ids.clone(),
            queue_id: self.queue_id,
        }
    }

    fn caller(&self) -> Caller {
        let kind =
            ["user", "token", "oauth_client", "cli"].into_iter().find(|k| *k == self.actor_kind).unwrap_or("system");
        Caller {
            actor: Actor { kind, id: self.actor_id, label: self.actor_label.clone() },
            user_id: None,
            supervisor: true,
        }
    }
}

pub struct BatchTask {
    pub pool: PgPool,
    /// For the messaging-limit reservations.
    pub side_pool: PgPool,
    pub outbox: Outbox,
    pub jobs_wake: jobs::Wake,
}

impl Task for BatchTask {
    fn run<'a>(&'a self, payload: &'a Value, attempt: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let id = jobs::uuid_in(payload, "batch_id")?;
            let Some(head) = db::start_batch(&self.pool, id).await? else { return Ok(Done::Completed) };
            let request: StoredRequest = serde_json::from_value(head.request)
                .map_err(|e| JobError::Permanent(format!("the batch's request cannot be read: {e}")))?;
            while self.chunk(id, &request).await? {
                if attempt.stopping.is_cancelled() {
                    return Err(JobError::HandBack);
                }
            }
            db::finish_batch(&self.pool, id).await?;
            tracing::info!(batch = %id, "notification batch sent");
            Ok(Done::Completed)
        })
    }
}

impl BatchTask {
    /// Sends the next chunk; answers whether there may be more.
    async fn chunk(&self, id: Uuid, request: &StoredRequest) -> Result<bool, JobError> {
        let mut tx = self.pool.begin().await?;
        let rows = db::next_recipients(&mut tx, id, CHUNK).await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let recipients: Vec<Recipient> = rows
            .iter()
            .map(|(position, to, variables)| {
                let variables = serde_json::from_value(variables.clone()).map_err(|e| {
                    JobError::Permanent(format!("recipient {position}'s variables cannot be read: {e}"))
                })?;
                Ok(Recipient { to: to.clone(), variables })
            })
            .collect::<Result<_, JobError>>()?;
        let caller = request.caller();
        let (outcomes, reservation) = match super::check(&mut tx, request.common()).await {
            Ok(checked) => {
                let field = |_: usize, name: &str| name.to_owned();
                let (results, reservation) =
                    super::send(&self.side_pool, &mut tx, self.outbox, &caller, &checked, &recipients, field).await?;
                let outcomes = rows
                    .iter()
                    .zip(results)
                    .map(|((position, _, _), r)| match r {
                        Ok(sent) => Outcome {
                            position: *position,
                            message_id: Some(sent.message_id),
                            conversation_id: Some(sent.conversation_id),
                            error: None,
                        },
                        Err(r) => Outcome {
                            position: *position,
                            message_id: None,
                            conversation_id: None,
                            error: Some(super::refusal_json(r)),
                        },
                    })
                    .collect::<Vec<_>>();
                (outcomes, Some(reservation))
            }
            // What all share became unusable since (the template paused, the number removed): every remaining
            // recipient is refused with that reason.
            Err(SendError::Refused(r)) => {
                let error = super::refusal_json(r);
                let outcomes = rows
                    .iter()
                    .map(|(position, _, _)| Outcome {
                        position: *position,
                        message_id: None,
                        conversation_id: None,
                        error: Some(error.clone()),
                    })
                    .collect();
                (outcomes, None)
            }
            Err(SendError::Database(e)) => return Err(e.into()),
        };
        db::record_outcomes(&mut tx, id, &outcomes).await?;
        if let Err(e) = tx.commit().await {
            if let Some(r) = reservation {
                r.release(&self.side_pool).await;
            }
            return Err(e.into());
        }
        self.jobs_wake.kick();
        Ok(rows.len() as i64 == CHUNK)
    }
}
