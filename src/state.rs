//! The one state object handed to every handler.

use crate::channels::ChannelDirectory;
use crate::config::Settings;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Short transactions beside a request's own (see `database::Database::side_pool`).
    pub side_pool: PgPool,
    /// What reports read (see `database::Database::report_pool`).
    pub report_pool: PgPool,
    pub settings: Arc<Settings>,
    pub channels: ChannelDirectory,
    /// Encrypts secrets before they are stored.
    pub secrets: crate::secrets::SecretBox,
    /// Twilio's REST API.
    pub twilio: crate::twilio::rest::RestClient,
    /// Stores inbound messages, several per commit under load.
    pub inbound: crate::ingest::writer::InboundWriter,
    /// Sends `POST /notifications` requests, several per transaction under load.
    pub notifications: crate::notify::writer::NotificationWriter,
    /// `http.public_url` (or `http://<bind>`) without a trailing slash: what Twilio signs against.
    pub public_base_url: Arc<str>,
    /// The built-in sandbox's client for the webhooks it posts to this server.
    pub sandbox_http: reqwest::Client,
    /// The built-in sandbox's WhatsApp calls in this process.
    pub sandbox_calls: crate::sandbox::voice::Calls,
    /// This process's name among those sharing the database.
    pub instance: Arc<str>,
    /// Routing rules, queues, numbers and schedules as routing decisions read them.
    pub routing: crate::routing::config::ConfigCache,
    /// Wakes this process's router (a new conversation was stored here).
    pub router_wake: Arc<tokio::sync::Notify>,
    /// Wakes this process's call offering (a call arrived or was declined here).
    pub call_wake: Arc<tokio::sync::Notify>,
    /// What automations read, cached.
    pub automation: crate::automation::config::AutomationCache,
    /// Wakes this process's automation engine (a message on a number with automations was stored here).
    pub automation_wake: Arc<tokio::sync::Notify>,
    /// Wakes this process's job worker; kicked after committing a transaction that queued a job.
    pub jobs_wake: crate::jobs::Wake,
    /// Media and uploads: the data directory or the S3 bucket every node shares.
    pub storage: crate::storage::Storage,
    /// The AI agents' knowledge, indexed (shared by the reply job and the "Try it" panel).
    pub ai_indexes: crate::ai::agent::Indexes,
    /// The client AI models are asked with.
    pub ai_http: reqwest::Client,
    /// What open inboxes are told as it happens.
    pub live: crate::live::Hub,
}
