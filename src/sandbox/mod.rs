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
pub mod media;
mod phone;
mod rest;
pub mod voice;

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
    Router::new().merge(rest::router()).merge(phone::router(state)).merge(phone::device_router())
}

/// The Auth Token of a sandbox number's account: what the sandbox signs the webhooks it posts with.
pub(crate) fn number_token(
    state: &AppState,
    number: &store::sandbox::SandboxNumber,
) -> crate::error::AppResult<secrecy::SecretString> {
    Ok(number
        .auth_token
        .as_ref()
        .map(|sealed| state.secrets.decrypt(sealed))
        .transpose()
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| anyhow::anyhow!("sandbox account without Auth Token"))?)
}

/// What the sandbox's calls post webhooks with: the channel's sandbox account and its Auth Token.
pub async fn voice_twilio(state: &AppState, channel_id: uuid::Uuid) -> crate::error::AppResult<voice::Twilio> {
    use secrecy::ExposeSecret;
    let number = store::sandbox::numbers(&state.pool)
        .await?
        .into_iter()
        .find(|n| n.channel_id == channel_id)
        .ok_or_else(|| crate::error::AppError::invalid_field("channel_id", "this is not a sandbox channel"))?;
    let token = number_token(state, &number)?;
    Ok(voice::Twilio {
        http: state.sandbox_http.clone(),
        public_base_url: state.public_base_url.clone(),
        local_base_url: state.settings.local_base_url().into(),
        account_sid: number.account_sid,
        auth_token: token.expose_secret().to_owned(),
    })
}

/// A new SID with Twilio's shape: two letters and 32 hex digits.
pub fn new_sid(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// On a first start (no channel was ever created), creates the sandbox channel with the sandbox number, under
/// a lock so that several processes starting together create one; with `bot`, also the sample built-in AI agent
/// ([`sample_bot`]) that the number's conversations go to first. Returns the channel's id when it was created.
pub async fn bootstrap(pool: &PgPool, secrets: &SecretBox, bot: bool) -> anyhow::Result<Option<uuid::Uuid>> {
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
    if bot {
        let agent = store::ai_agents::insert(&mut tx, &sample_bot()).await?;
        store::sandbox::point_numbers_at(&mut tx, id, agent.id).await?;
        store::audit::record(&mut tx, &actor, "ai_agent.created", "ai_agent", Some(&agent.id.to_string()), None, None)
            .await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// The sandbox's sample AI agent: the built-in bot with a few questions a shop gets, in four languages.
pub fn sample_bot() -> store::ai_agents::Settings {
    use crate::domain::ai::{Kind, Pair};
    let pair = |q: &str, a: &str, k: &[&str]| Pair {
        question: q.into(),
        answer: a.into(),
        keywords: k.iter().map(|w| (*w).to_owned()).collect(),
    };
    store::ai_agents::Settings {
        name: "Sandbox assistant".into(),
        kind: Kind::Builtin,
        languages: ["en", "es", "pt", "nl"].map(String::from).to_vec(),
        knowledge: vec![
            pair(
                "What are your opening hours?",
                "We're open Monday to Friday, 9:00 to 17:00.",
                &["open", "opening", "hours", "closed"],
            ),
            pair(
                "How much does shipping cost?",
                "Shipping is free on orders over €50; otherwise it costs €4.95.",
                &["delivery", "postage", "shipping"],
            ),
            pair(
                "How do I return a product?",
                "You can return anything within 30 days: reply RETURN with your order number and we'll send a label.",
                &["refund", "return", "send back"],
            ),
            pair("¿Cuál es su horario?", "Abrimos de lunes a viernes, de 9:00 a 17:00.", &["horario", "abierto", "abren"]),
            pair(
                "¿Cuánto cuesta el envío?",
                "El envío es gratis en pedidos de más de 50 €; si no, cuesta 4,95 €.",
                &["envio", "entrega", "gastos de envio"],
            ),
            pair("Qual é o horário de atendimento?", "Atendemos de segunda a sexta, das 9h às 17h.", &["horario", "aberto"]),
            pair("Wat zijn jullie openingstijden?", "We zijn open van maandag tot en met vrijdag, 9:00 tot 17:00.", &["open", "openingstijden"]),
        ],
        instructions: None,
        greeting: Some(
            "Hi! I'm the Sandbox assistant, a bot. Ask me about opening hours, shipping or returns, or write \"agent\" \
             to talk to a person."
                .into(),
        ),
        handover_message: None,
        handover_keywords: Vec::new(),
        max_turns: 10,
        reply_timeout_secs: 60,
        threshold: 0.5,
        base_url: None,
        model: None,
        api_key: None,
        system_prompt: None,
        temperature: None,
        extra_headers: None,
        extra_header_names: Vec::new(),
    }
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
