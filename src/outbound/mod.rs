//! The business's side of a conversation: the rules for what may be sent (the 24-hour window, templates,
//! attachments), composing and queueing a message (the one path every sender takes), starting a conversation, the
//! durable sender that hands messages to Twilio, their delivery status as Twilio reports it, and sending a failed
//! message again.

pub mod compose;
pub mod limits;
pub mod policy;
pub mod recorder;
pub mod retry;
pub mod sender;
pub mod start;
pub mod status;
