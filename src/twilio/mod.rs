//! Everything that speaks Twilio's wire format: webhook signatures, webhook forms, error codes, TwiML and media
//! downloads. Nothing outside this module knows how Twilio spells a parameter.

pub mod errors;
pub mod media;
pub mod rest;
pub mod signature;
pub mod webhook;

/// The empty TwiML answer: "received, nothing to say back".
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
