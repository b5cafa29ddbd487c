//! A customer's WhatsApp message, as the business receives it: parsed once from Twilio's webhook (`twilio::webhook`)
//! and carried typed to the store, which writes it in one statement.

use super::{AccountSid, MessageSid, MessagingServiceSid, WhatsAppAddress, E164};
use serde_json::Value;

/// One piece of media attached to an inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMedia {
    pub url: String,
    pub content_type: Option<String>,
}

/// A shared location.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub address: Option<String>,
    pub label: Option<String>,
}

/// A customer's WhatsApp message as Twilio delivers it to the incoming-message webhook.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub message_sid: MessageSid,
    pub account_sid: AccountSid,
    pub messaging_service_sid: Option<MessagingServiceSid>,
    pub from: WhatsAppAddress,
    /// The business's own WhatsApp number that received the message.
    pub to: E164,
    pub body: String,
    pub profile_name: Option<String>,
    pub wa_id: Option<String>,
    /// The business-scoped user id, when Twilio sends one.
    pub bsuid: Option<String>,
    pub media: Vec<InboundMedia>,
    pub message_type: Option<String>,
    pub button_text: Option<String>,
    pub button_payload: Option<String>,
    pub location: Option<Location>,
    pub replied_to_sid: Option<String>,
    pub referral: Option<Value>,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
}
