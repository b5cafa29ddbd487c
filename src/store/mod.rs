//! SQL, one file per aggregate. Functions take a pool or a connection and speak in domain types; nothing else
//! in the crate writes SQL about the product's data (`database` only opens the pool, creates the embedded
//! cluster's database and checks readiness). The store imports `domain` and nothing else of the crate.

pub mod ai;
pub mod ai_agents;
pub mod api_tokens;
pub mod attachments;
pub mod audit;
pub mod automation;
pub mod business_hours;
pub mod call_permissions;
pub mod calls;
pub mod canned_responses;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod csat;
pub mod directory;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod links;
pub mod listing;
pub mod live;
pub mod login_failures;
pub mod messages;
pub mod metrics;
pub mod notes;

pub mod notifications;
pub mod numbers;
pub mod oauth;
pub mod opt_ins;
pub mod ordered;
pub mod outbound;
pub mod queues;
pub mod reach;
pub mod reports;
pub mod routing;
pub mod sandbox;
pub mod statuses;
pub mod sweep;
pub mod tags;
pub mod templates;
pub mod uploads;
pub mod users;
pub mod webhooks;

/// A deadlock, a serialization failure or a lock not available: PostgreSQL aborted the transaction, and running
/// it again may simply succeed.
pub fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001" | "55P03")))
}

/// The name of the unique constraint a database error violated, if that is what it is.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint(),
        _ => None,
    }
}
