//! The one state object handed to every handler.

use crate::channels::ChannelDirectory;
use crate::config::Settings;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub channels: ChannelDirectory,
    /// `http.public_url` (or `http://<bind>`) without a trailing slash: what Twilio signs against.
    pub public_base_url: Arc<str>,
}
