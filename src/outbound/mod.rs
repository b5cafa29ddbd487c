//! The business's side of a conversation: what happens to messages it sends. For now, their delivery status
//! as Twilio reports it; the durable sender joins here.

pub mod status;
