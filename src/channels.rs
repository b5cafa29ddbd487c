//! Channels: a Twilio account plus the WhatsApp numbers (or Messaging Service) it receives on.
//!
//! Creating a channel (from the CLI now, the admin API later) and the directory the webhook path reads a
//! channel from. The directory keeps decrypted channel configurations in memory for a few seconds so that a
//! webhook costs no extra database round trip; another server process sees a change at most that much later.

use crate::domain::{AccountSid, MessagingServiceSid, E164};
use crate::secrets::SecretBox;
use crate::store;
use secrecy::SecretString;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How a channel picks the sender of outbound messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendingMode {
    /// A WhatsApp number of the channel is the `From`.
    Sender,
    /// Twilio's Messaging Service picks the sender.
    MessagingService(MessagingServiceSid),
}

#[derive(Debug, Clone)]
pub struct Number {
    pub id: Uuid,
    pub name: String,
    pub e164: E164,
    pub accepts_media: bool,
    pub csat: bool,
    /// Takes WhatsApp calls.
    pub supports_calling: bool,
    /// The language its callers hear.
    pub language: Option<String>,
}

/// A channel as the webhook path needs it, credentials decrypted.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub id: Uuid,
    pub name: String,
    pub account_id: Uuid,
    pub account_sid: AccountSid,
    /// The tokens webhook signatures may be made with: the primary, then the secondary during rotation.
    pub auth_tokens: Vec<SecretString>,
    pub mode: SendingMode,
    pub numbers: Vec<Number>,
    pub deleted: bool,
}

impl ChannelConfig {
    pub fn number(&self, e164: &E164) -> Option<&Number> {
        self.numbers.iter().find(|n| &n.e164 == e164)
    }

    pub fn number_by_id(&self, id: Uuid) -> Option<&Number> {
        self.numbers.iter().find(|n| n.id == id)
    }
}

/// The URLs to paste into Twilio for a channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookUrls {
    pub messages: String,
    pub status: String,
}

pub fn webhook_urls(public_base_url: &str, channel: Uuid) -> WebhookUrls {
    let base = public_base_url.trim_end_matches('/');
    WebhookUrls {
        messages: format!("{base}/webhooks/twilio/{channel}/messages"),
        status: format!("{base}/webhooks/twilio/{channel}/status"),
    }
}

/// The voice webhook for WhatsApp calling, to paste as the Voice URL of the sender's TwiML Voice Application;
/// the wait and queue-leaving URLs the calls' TwiML names are under it (`/voice/wait`, `/voice/left`).
pub fn voice_webhook_url(public_base_url: &str, channel: Uuid) -> String {
    format!("{}/webhooks/twilio/{channel}/voice", public_base_url.trim_end_matches('/'))
}

/// The voice status callback, to paste as the TwiML Voice Application's Status Callback URL: how a call ended.
pub fn voice_status_webhook_url(public_base_url: &str, channel: Uuid) -> String {
    format!("{}/status", voice_webhook_url(public_base_url, channel))
}

/// A channel to create, already checked.
#[derive(Debug)]
pub struct NewChannel {
    pub name: String,
    pub account_sid: AccountSid,
    pub auth_token: SecretString,
    /// An API key (`SK…` and its secret) for REST calls instead of the Auth Token.
    pub api_key: Option<(String, SecretString)>,
    pub target: NewChannelTarget,
}

#[derive(Debug)]
pub enum NewChannelTarget {
    /// Named sender numbers: `(name, number)`.
    Numbers(Vec<(String, E164)>),
    MessagingService(MessagingServiceSid),
}

/// A channel as someone typed it (command line or API), before it is checked.
#[derive(Debug, Default)]
pub struct ChannelInput {
    pub name: String,
    pub account_sid: String,
    pub auth_token: String,
    pub api_key: Option<(String, String)>,
    /// `(optional name, number)`.
    pub numbers: Vec<(Option<String>, String)>,
    pub messaging_service_sid: Option<String>,
}

/// Why a channel input was refused: the field (named as the API names it) and a reason that reads after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    pub field: String,
    pub reason: String,
}

impl NewChannel {
    /// Checks every rule a new channel follows; the command line and the API both come through here.
    pub fn parse(input: ChannelInput) -> Result<Self, InvalidInput> {
        let bad = |field: &str, reason: String| InvalidInput { field: field.to_owned(), reason };
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.len() > 200 {
            return Err(bad("name", "must be 1 to 200 characters".into()));
        }
        let account_sid = AccountSid::parse(input.account_sid.trim()).map_err(|e| bad("account_sid", e.to_string()))?;
        if input.auth_token.trim().is_empty() {
            return Err(bad("auth_token", "is required: Twilio signs every webhook with it".into()));
        }
        let api_key = match input.api_key {
            None => None,
            Some((sid, secret)) => {
                let sid_ok =
                    sid.len() == 34 && sid.starts_with("SK") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
                if !sid_ok || secret.is_empty() {
                    return Err(bad(
                        "api_key_sid",
                        "must be SK followed by 32 hexadecimal digits, with a non-empty api_key_secret".into(),
                    ));
                }
                Some((sid, SecretString::from(secret)))
            }
        };
        let target = match (input.messaging_service_sid, input.numbers.is_empty()) {
            (Some(sid), true) => NewChannelTarget::MessagingService(
                MessagingServiceSid::parse(sid.trim()).map_err(|e| bad("messaging_service_sid", e.to_string()))?,
            ),
            (None, false) => NewChannelTarget::Numbers(
                input
                    .numbers
                    .into_iter()
                    .enumerate()
                    .map(|(i, (label, number))| {
                        let number = number.trim();
                        let e164 = E164::parse(number)
                            .map_err(|e| bad(&format!("numbers[{i}].e164"), format!("{number:?}: {e}")))?;
                        let label = label
                            .map(|l| l.trim().to_owned())
                            .filter(|l| !l.is_empty())
                            .unwrap_or_else(|| e164.to_string());
                        Ok((label, e164))
                    })
                    .collect::<Result<_, InvalidInput>>()?,
            ),
            (Some(_), false) => {
                return Err(bad("messaging_service_sid", "and numbers exclude each other: give one of them".into()))
            }
            (None, true) => return Err(bad("numbers", "are required unless a messaging_service_sid is given".into())),
        };
        Ok(Self {
            name,
            account_sid,
            auth_token: SecretString::from(input.auth_token.trim().to_owned()),
            api_key,
            target,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("another channel already uses Messaging Service {0}")]
    MessagingServiceTaken(String),
    #[error("the number {0} is listed twice")]
    DuplicateNumber(String),
    /// The account is connected already, with another Auth Token.
    #[error("Twilio account {0} is already connected with another Auth Token: to change the token, rotate it on an existing channel of the account (POST /api/v1/channels/{{id}}/auth-token)")]
    AuthTokenDiffers(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Stores the account (its token encrypted), the channel and its numbers in one transaction.
pub async fn create(pool: &PgPool, secrets: &SecretBox, new: &NewChannel) -> Result<Uuid, CreateError> {
    let mut tx = pool.begin().await?;
    let id = create_in(&mut tx, secrets, new).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`create`] on the caller's transaction.
pub async fn create_in(
    tx: &mut sqlx::PgConnection,
    secrets: &SecretBox,
    new: &NewChannel,
) -> Result<Uuid, CreateError> {
    use secrecy::ExposeSecret;
    let token = secrets.encrypt(new.auth_token.expose_secret());
    let account_id = match store::channels::insert_or_find_account(tx, new.account_sid.as_str(), &token).await? {
        Ok(id) => id,
        // Another channel of the same account: it uses the stored credential, which must be the token given.
        Err(existing) => {
            let given = new.auth_token.expose_secret();
            let known = [&existing.auth_token, &existing.secondary_auth_token]
                .into_iter()
                .flatten()
                .filter_map(|sealed| secrets.decrypt(sealed).ok())
                .any(|t| bool::from(subtle::ConstantTimeEq::ct_eq(t.expose_secret().as_bytes(), given.as_bytes())));
            if !known {
                return Err(CreateError::AuthTokenDiffers(new.account_sid.as_str().to_owned()));
            }
            existing.id
        }
    };
    if let Some((sid, secret)) = &new.api_key {
        store::channels::set_api_key(tx, account_id, sid, &secrets.encrypt(secret.expose_secret())).await?;
    }
    let id = Uuid::now_v7();
    let service = match &new.target {
        NewChannelTarget::MessagingService(sid) => Some(sid.as_str()),
        NewChannelTarget::Numbers(_) => None,
    };
    store::channels::insert_channel(tx, id, &new.name, account_id, service).await.map_err(|e| {
        match store::violated_constraint(&e) {
            Some("channels_messaging_service_sid_key") => {
                CreateError::MessagingServiceTaken(service.unwrap_or_default().to_owned())
            }
            _ => e.into(),
        }
    })?;
    if let NewChannelTarget::Numbers(numbers) = &new.target {
        for (name, e164) in numbers {
            store::channels::insert_number(tx, id, name, e164.as_str()).await.map_err(|e| {
                match store::violated_constraint(&e) {
                    Some("whatsapp_numbers_channel_e164_key") => CreateError::DuplicateNumber(e164.to_string()),
                    _ => e.into(),
                }
            })?;
        }
    }
    Ok(id)
}

/// When an entry was loaded, and the channel (`None`: no such channel, remembered so that requests for unknown
/// ids do not each reach the database).
type CacheEntry = (Instant, Option<Arc<ChannelConfig>>);

/// Reads channels for the webhook path, with a short-lived cache.
#[derive(Clone)]
pub struct ChannelDirectory {
    pool: PgPool,
    secrets: SecretBox,
    ttl: Duration,
    cache: Arc<RwLock<HashMap<Uuid, CacheEntry>>>,
}

impl ChannelDirectory {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

    pub fn new(pool: PgPool, secrets: SecretBox, ttl: Duration) -> Self {
        Self { pool, secrets, ttl, cache: Arc::default() }
    }

    /// The channel, or `None` if there is no such channel.
    pub async fn get(&self, id: Uuid) -> anyhow::Result<Option<Arc<ChannelConfig>>> {
        if let Some((at, entry)) = self.cache.read().expect("cache lock").get(&id) {
            if at.elapsed() < self.ttl {
                return Ok(entry.clone());
            }
        }
        let loaded = match store::channels::find(&self.pool, id).await? {
            Some((channel, numbers)) => Some(Arc::new(self.decrypt(channel, numbers)?)),
            None => None,
        };
        let mut cache = self.cache.write().expect("cache lock");
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        cache.insert(id, (Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Forgets a channel so the next read sees the database.
    pub fn invalidate(&self, id: Uuid) {
        self.cache.write().expect("cache lock").remove(&id);
    }

    fn decrypt(
        &self,
        c: store::channels::ChannelRecord,
        numbers: Vec<store::channels::NumberRecord>,
    ) -> anyhow::Result<ChannelConfig> {
        use anyhow::Context as _;
        let account_sid = AccountSid::parse(&c.account_sid).context("stored account SID")?;
        let mut auth_tokens = Vec::new();
        for sealed in [&c.auth_token, &c.secondary_auth_token].into_iter().flatten() {
            auth_tokens.push(self.secrets.decrypt(sealed)?);
        }
        let mode = match &c.messaging_service_sid {
            Some(sid) => {
                SendingMode::MessagingService(MessagingServiceSid::parse(sid).context("stored Messaging Service SID")?)
            }
            None => SendingMode::Sender,
        };
        let numbers = numbers
            .into_iter()
            .map(|n| {
                Ok(Number {
                    id: n.id,
                    name: n.name,
                    e164: E164::parse(&n.e164).context("stored number")?,
                    accepts_media: n.customers_may_send_attachments,
                    csat: n.csat_enabled,
                    supports_calling: n.supports_calling,
                    language: n.language,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(ChannelConfig {
            id: c.id,
            name: c.name,
            account_id: c.account_id,
            account_sid,
            auth_tokens,
            mode,
            numbers,
            deleted: c.deleted_at.is_some(),
        })
    }
}

/// The REST credentials of an account (see [`BasicAuth::choose`]), decrypted.
pub fn account_credentials(
    secrets: &SecretBox,
    account: &store::channels::AccountRecord,
) -> anyhow::Result<crate::twilio::BasicAuth> {
    let api_key = match (&account.api_key_sid, &account.api_key_secret) {
        (Some(sid), Some(secret)) => Some((sid.as_str(), secrets.decrypt(secret)?)),
        _ => None,
    };
    let token = account.auth_token.as_ref().map(|t| secrets.decrypt(t)).transpose()?;
    crate::twilio::BasicAuth::choose(&account.account_sid, api_key, token)
        .ok_or_else(|| anyhow::anyhow!("the account {} has no credentials", account.account_sid))
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_urls_hang_under_the_public_url() {
        let id = uuid::Uuid::nil();
        let urls = super::webhook_urls("https://cc.example.com/sb/", id);
        assert_eq!(urls.messages, format!("https://cc.example.com/sb/webhooks/twilio/{id}/messages"));
        assert_eq!(urls.status, format!("https://cc.example.com/sb/webhooks/twilio/{id}/status"));
    }
}
