//! Everything that speaks Twilio's wire format: webhook signatures, webhook forms, error codes, TwiML and media
//! downloads. Nothing outside this module knows how Twilio spells a parameter.

pub mod access_token;
pub mod errors;
pub mod media;
pub mod rest;
pub mod signature;
pub mod twiml;
pub mod voice_call;
pub mod webhook;

use secrecy::SecretString;

/// HTTP Basic credentials for Twilio: the Account SID and Auth Token, or an API key SID and secret.
#[derive(Clone)]
pub struct BasicAuth {
    pub username: String,
    pub password: SecretString,
}

impl BasicAuth {
    /// The credentials Switchboard uses for an account: its API key when it has one (revocable on its own, the
    /// way Twilio recommends), otherwise the Account SID and Auth Token.
    pub fn choose(
        account_sid: &str,
        api_key: Option<(&str, SecretString)>,
        auth_token: Option<SecretString>,
    ) -> Option<Self> {
        match (api_key, auth_token) {
            (Some((sid, secret)), _) => Some(Self { username: sid.to_owned(), password: secret }),
            (None, Some(token)) => Some(Self { username: account_sid.to_owned(), password: token }),
            (None, None) => None,
        }
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth").field("username", &self.username).field("password", &"[redacted]").finish()
    }
}

/// The empty TwiML answer: "received, nothing to say back".
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
