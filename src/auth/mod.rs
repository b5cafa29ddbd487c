//! Who is calling: users with passwords and browser sessions, API tokens, and the extractor that turns a
//! request into a [`Principal`] (or a 401/403 that says why not).

pub mod caller;
pub mod password;
pub mod principal;
pub mod secret_token;
pub mod users;

pub use caller::Caller;
pub use principal::{PendingPrincipal, Principal, Via};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sb_session";
/// The header that must repeat the session's CSRF token on every unsafe request authenticated by cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
