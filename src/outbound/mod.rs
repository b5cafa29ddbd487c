//! The business's side of a conversation: the rules for what may be sent (the 24-hour window, templates,
//! attachments), the durable sender that hands messages to Twilio, and their delivery status as Twilio reports
//! it.

pub mod policy;
pub mod recorder;
pub mod sender;
pub mod status;
