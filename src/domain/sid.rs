//! Twilio resource ids: two letters naming the resource type and 32 hexadecimal digits.

use std::fmt;

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefixes:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefixes this kind of id may carry.
            pub const PREFIXES: &'static [&'static str] = $prefixes;

            pub fn parse(text: &str) -> Result<Self, SidError> {
                if text.len() != 34 {
                    return Err(SidError { expected: Self::PREFIXES });
                }
                let (prefix, hex) = text.split_at(2);
                if !Self::PREFIXES.contains(&prefix) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(SidError { expected: Self::PREFIXES });
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

sid_type!(
    /// A Twilio account (`AC…`).
    AccountSid,
    &["AC"]
);
sid_type!(
    /// A message (`SM…` for text, `MM…` with media).
    MessageSid,
    &["SM", "MM"]
);
sid_type!(
    /// A Messaging Service (`MG…`), which picks the sender for outbound messages.
    MessagingServiceSid,
    &["MG"]
);

sid_type!(
    /// A call (`CA…`), a WhatsApp call among them.
    CallSid,
    &["CA"]
);

sid_type!(
    /// A TwiML application (`AP…`): where calls from agents' browsers go.
    ApplicationSid,
    &["AP"]
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {} followed by 32 hexadecimal digits", .expected.join(" or "))]
pub struct SidError {
    expected: &'static [&'static str],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_need_their_prefix_and_32_hex_digits() {
        assert!(AccountSid::parse("AC2f6d1a0b9c8e7d6f5a4b3c2d1e0f9a8b").is_ok());
        assert!(MessageSid::parse("SM2f6d1a0b9c8e7d6f5a4b3c2d1e0f9a8b").is_ok());
        assert!(MessageSid::parse("MM2f6d1a0b9c8e7d6f5a4b3c2d1e0f9a8b").is_ok());
        assert!(MessageSid::parse("AC2f6d1a0b9c8e7d6f5a4b3c2d1e0f9a8b").is_err());
        assert!(AccountSid::parse("AC2f6d1a0b9c8e7d6f5a4b3c2d1e0f9a8").is_err());
        assert!(AccountSid::parse("AC2f6d1a0b9c8e7d6f5a4b3c2d1e0f9a8z").is_err());
        let err = MessagingServiceSid::parse("MG1").unwrap_err();
        assert_eq!(err.to_string(), "must be MG followed by 32 hexadecimal digits");
    }
}
