//! The built-in Twilio sandbox: the embedded default that lets Switchboard run with no Twilio account.
//!
//! It plays Twilio on the server itself. A sandbox account's REST calls (see `twilio::rest`) come here instead
//! of api.twilio.com: `Messages.json` records what the business sent, answers like Twilio (201 with a message
//! resource; Twilio's error bodies for bad requests; 429 or 500 when told to), and later sends correctly
//! signed status callbacks (`sent` → `delivered` → `read`, or `failed` with 63016 for free text outside the
//! 24-hour window, as Twilio does). The Content API serves a small catalogue of templates. The customer phone
//! page (`/sandbox`) plays the customer: its messages go through the real, signed webhook path.
//!
//! Nothing else in Switchboard knows it is talking to the sandbox: the code path is the one that talks to real
//! Twilio, only the base URL and credentials differ. Moving a channel to real Twilio is changing its
//! credentials.

pub mod callbacks;
pub mod content;
mod phone;
mod rest;

use crate::channels::{self, NewChannel, NewChannelTarget};
use crate::domain::{AccountSid, E164};
use crate::secrets::SecretBox;
use crate::state::AppState;
use crate::store;
use axum::Router;
use rand::RngCore;
use secrecy::SecretString;
use sqlx::PgPool;

/// Twilio's own WhatsApp sandbox number, which the sandbox channel uses too.
pub const SANDBOX_NUMBER: &str = "+14155238886";

/// The sandbox's routes: Twilio's REST endpoints and the customer phone page.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().merge(rest::router()).merge(phone::router(state))
}

/// A new SID with Twilio's shape: two letters and 32 hex digits.
pub fn new_sid(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// On a first start (no channel was ever created), creates the sandbox channel with the sandbox number, under
/// a lock so that several processes starting together create one. Returns its id when it was created.
pub async fn bootstrap(pool: &PgPool, secrets: &SecretBox) -> anyhow::Result<Option<uuid::Uuid>> {
    let mut tx = pool.begin().await?;
    if store::sandbox::any_channel_locked(&mut tx).await? {
        return Ok(None);
    }
    let mut token = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut token);
    let new = NewChannel {
        name: "Sandbox".into(),
        account_sid: AccountSid::parse(&new_sid("AC")).expect("a well-formed SID"),
        auth_token: SecretString::from(hex::encode(token)),
        api_key: None,
        target: NewChannelTarget::Numbers(vec![(
            "Sandbox".into(),
            E164::parse(SANDBOX_NUMBER).expect("a well-formed number"),
        )]),
    };
    let id = channels::create_in(&mut tx, secrets, &new).await?;
    store::sandbox::mark_sandbox(&mut tx, id).await?;
    let actor = store::audit::Actor { kind: "system", id: None, label: "first start".into() };
    store::audit::record(&mut tx, &actor, "channel.created", "channel", Some(&id.to_string()), None, None).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Posts `params` to `url` as Twilio posts a webhook: form-encoded, signed with `token` over `url` as given,
/// delivered to this server's local address when `url` is on its public base.
pub async fn post_signed(
    http: &reqwest::Client,
    public_base: &str,
    local_base: &str,
    token: &str,
    url: &str,
    params: &[(String, String)],
) -> reqwest::Result<reqwest::Response> {
    let signature = crate::twilio::signature::compute(token, url, params);
    http.post(local_url(public_base, local_base, url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(crate::twilio::webhook::encode(params))
        .send()
        .await
}

/// A URL on this server's public base, rewritten onto its local address (where the sandbox can reach it
/// whatever proxy sits in front); any other URL as it is.
pub fn local_url(state_public: &str, local: &str, url: &str) -> String {
    match url.strip_prefix(state_public.trim_end_matches('/')) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", local.trim_end_matches('/')),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_urls_are_reached_on_the_local_address() {
        let l = |u| super::local_url("https://cc.example.com/sb", "http://127.0.0.1:8080", u);
        assert_eq!(l("https://cc.example.com/sb/webhooks/x/status"), "http://127.0.0.1:8080/webhooks/x/status");
        assert_eq!(l("https://cc.example.com/sbx/y"), "https://cc.example.com/sbx/y");
        assert_eq!(l("https://elsewhere.example/x"), "https://elsewhere.example/x");
        assert_eq!(super::new_sid("SM").len(), 34);
    }
}
