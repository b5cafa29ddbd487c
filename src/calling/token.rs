//! The access token an agent's browser answers calls with (Twilio's Voice JavaScript SDK): minted for one
//! channel from its account's API key and its TwiML voice application, with the agent's id as the identity
//! (the voice webhook connects a browser only to a call that agent accepted), valid for [`TTL_SECS`].

use crate::secrets::SecretBox;
use crate::store::channels::{self as db, VoiceCredentials};
use crate::twilio::access_token::{self, VoiceGrant};
use secrecy::ExposeSecret;
use sqlx::PgConnection;
use uuid::Uuid;

/// An hour: the browser asks for a new one before it ends (Twilio's SDK warns ahead of expiry).
pub const TTL_SECS: i64 = 3600;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VoiceToken {
    pub token: String,
    /// The identity the browser answers as: the agent's id.
    pub identity: String,
    pub channel_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

/// Why no token can be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownChannel,
    /// No channel has a number that takes calls.
    NoCallingChannel,
    /// Several have: the caller must name one.
    ChooseChannel,
    /// What the channel lacks: `api_key` and/or `voice_application_sid`.
    NotConfigured(Vec<&'static str>),
    /// The stored secret cannot be opened with this server's master key.
    Sealed,
}

pub async fn mint(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    agent: Uuid,
    channel: Option<Uuid>,
) -> sqlx::Result<Result<VoiceToken, Refusal>> {
    let found = db::voice_credentials(conn, channel).await?;
    let c: VoiceCredentials = match (found.len(), channel) {
        (0, Some(_)) => return Ok(Err(Refusal::UnknownChannel)),
        (0, None) => return Ok(Err(Refusal::NoCallingChannel)),
        (1, _) => found.into_iter().next().expect("one"),
        _ => return Ok(Err(Refusal::ChooseChannel)),
    };
    let (Some(key_sid), Some(sealed), Some(app)) = (&c.api_key_sid, &c.api_key_secret, &c.voice_application_sid) else {
        let lacks_key = c.api_key_sid.is_none() || c.api_key_secret.is_none();
        let missing = [(lacks_key, "api_key"), (c.voice_application_sid.is_none(), "voice_application_sid")];
        return Ok(Err(Refusal::NotConfigured(missing.into_iter().filter(|m| m.0).map(|m| m.1).collect())));
    };
    let Ok(secret) = secrets.decrypt(sealed) else { return Ok(Err(Refusal::Sealed)) };
    let identity = agent.to_string();
    let now = time::OffsetDateTime::now_utc();
    let grant = VoiceGrant {
        account_sid: &c.account_sid,
        api_key_sid: key_sid,
        api_key_secret: secret.expose_secret(),
        application_sid: app,
        identity: &identity,
    };
    let token = access_token::voice_token(&grant, now.unix_timestamp(), TTL_SECS);
    Ok(Ok(VoiceToken {
        token,
        identity,
        channel_id: c.channel_id,
        expires_at: now + time::Duration::seconds(TTL_SECS),
    }))
}
