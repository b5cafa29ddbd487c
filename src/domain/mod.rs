//! The product's vocabulary, parsed once at the edge and trusted inside.
//!
//! Nothing here knows about HTTP or SQL: these are plain types and pure functions, so the rules they carry
//! (what a WhatsApp address is, which delivery status may follow which) are tested without a server.

pub mod address;
pub mod ai;
pub mod automation;
pub mod business_hours;
pub mod business_profile;
pub mod call;
pub mod call_permission;
pub mod call_waiting;
pub mod cidr;
pub mod contact;
pub mod conversation;
pub mod inbound;
pub mod invalid;
pub mod language;
pub mod mask;
pub mod message_status;
pub mod opt_in;
pub mod outbound_media;
pub mod permission;
pub mod role;
pub mod routing;
pub mod sid;
pub mod template;
pub mod window;

pub use address::{Bsuid, WhatsAppAddress, E164};
pub use conversation::{ConversationStatus, RoutingState};
pub use invalid::Invalid;
pub use message_status::MessageStatus;
pub use permission::Permission;
pub use role::Role;
pub use sid::{AccountSid, MessageSid, MessagingServiceSid};
