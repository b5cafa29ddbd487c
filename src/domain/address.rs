//! Phone numbers and WhatsApp addresses.
//!
//! Twilio writes WhatsApp parties as `whatsapp:+14155550100`. Since 2026 a user who hides their phone number is
//! written with a business-scoped user id instead (`whatsapp:CC.899759302823042`). Group chats are not part of
//! the WhatsApp Business Platform; an address that looks like a group is refused with its own error so that the
//! caller can say so plainly.

use std::fmt;

/// A phone number in E.164 form: `+`, a country code that does not start with 0, at most 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct E164(String);

/// Why a text is not an E.164 number, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E164Error {
    #[error("a phone number is required")]
    Empty,
    #[error("the number must start with + and the country code, for example +14155550100")]
    MissingPlus,
    #[error("the number may contain only digits after the +, without spaces, dashes or letters")]
    NotDigits,
    #[error("a country code never starts with 0")]
    LeadingZero,
    #[error("the number is too short: E.164 numbers have at least 7 digits")]
    TooShort,
    #[error("the number is too long: E.164 numbers have at most 15 digits")]
    TooLong,
}

impl E164 {
    pub const MIN_DIGITS: usize = 7;
    pub const MAX_DIGITS: usize = 15;

    pub fn parse(text: &str) -> Result<Self, E164Error> {
        if text.is_empty() {
            return Err(E164Error::Empty);
        }
        let Some(digits) = text.strip_prefix('+') else {
            return Err(E164Error::MissingPlus);
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E164Error::NotDigits);
        }
        if digits.starts_with('0') {
            return Err(E164Error::LeadingZero);
        }
        if digits.len() < Self::MIN_DIGITS {
            return Err(E164Error::TooShort);
        }
        if digits.len() > Self::MAX_DIGITS {
            return Err(E164Error::TooLong);
        }
        Ok(Self(text.to_owned()))
    }

    /// A number as people and other systems write it: with or without the `+`, with spaces, dashes, dots and
    /// parentheses ("31 6-1234 5678", "(+31) 612345678"); anything else is refused as [`E164::parse`] does.
    pub fn parse_lenient(text: &str) -> Result<Self, E164Error> {
        let kept: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
        if kept.is_empty() {
            return Err(E164Error::Empty);
        }
        if kept.starts_with('+') {
            Self::parse(&kept)
        } else {
            Self::parse(&format!("+{kept}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without `+`, which is how WhatsApp writes a WaId.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WhatsApp business-scoped user id (BSUID): a two-letter country code, a dot, up to 128 letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Bsuid(String);

impl Bsuid {
    pub const MAX_ID_LEN: usize = 128;

    pub fn parse(text: &str) -> Option<Self> {
        let (country, id) = text.split_once('.')?;
        let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        let id_ok = !id.is_empty() && id.len() <= Self::MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric());
        (country_ok && id_ok).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One party of a WhatsApp message as Twilio writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WhatsAppAddress {
    Phone(E164),
    Bsuid(Bsuid),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not a WhatsApp address: it must start with whatsapp: (SMS and other channels are not served here)")]
    NotWhatsApp,
    #[error("WhatsApp group messages are not supported: only one-to-one conversations can be received")]
    Group,
    #[error("the WhatsApp address is neither an E.164 number nor a business-scoped user id: {0}")]
    Malformed(E164Error),
}

impl WhatsAppAddress {
    pub const PREFIX: &'static str = "whatsapp:";

    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let rest = text.strip_prefix(Self::PREFIX).ok_or(AddressError::NotWhatsApp)?;
        if looks_like_group(rest) {
            return Err(AddressError::Group);
        }
        if let Some(bsuid) = Bsuid::parse(rest) {
            return Ok(Self::Bsuid(bsuid));
        }
        E164::parse(rest).map(Self::Phone).map_err(AddressError::Malformed)
    }

    pub fn phone(&self) -> Option<&E164> {
        match self {
            Self::Phone(p) => Some(p),
            Self::Bsuid(_) => None,
        }
    }
}

impl fmt::Display for WhatsAppAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Phone(p) => write!(f, "{}{}", Self::PREFIX, p),
            Self::Bsuid(b) => write!(f, "{}{}", Self::PREFIX, b.as_str()),
        }
    }
}

/// Group chat ids are `<creator>-<timestamp>@g.us` (older) or `<digits>@g.us`; no one-to-one address has `@`
/// or a dash between digit runs.
fn looks_like_group(rest: &str) -> bool {
    rest.contains("@g.us")
        || rest.ends_with("@broadcast")
        || rest.trim_start_matches('+').split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_without_plus_or_with_spaces_and_dashes_is_read_leniently() {
        assert_eq!(E164::parse_lenient("31612345678").unwrap().as_str(), "+31612345678");
        assert_eq!(E164::parse_lenient(" +31 6-1234 5678 ").unwrap().as_str(), "+31612345678");
        assert_eq!(E164::parse_lenient("(+1) 415.555.0100").unwrap().as_str(), "+14155550100");
        assert!(E164::parse_lenient("call me").is_err());
        assert!(E164::parse_lenient("+31 6 abc").is_err());
        assert!(E164::parse_lenient("  ").is_err());
        assert!(E164::parse_lenient("0612345678").is_err(), "a national number has no country code");
    }

    #[test]
    fn e164_accepts_real_numbers() {
        for n in ["+14155550100", "+5215512345678", "+2901234", "+358401234567"] {
            assert_eq!(E164::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn e164_refusals_say_what_is_wrong() {
        assert_eq!(E164::parse(""), Err(E164Error::Empty));
        assert_eq!(E164::parse("14155550100"), Err(E164Error::MissingPlus));
        assert_eq!(E164::parse("+1 415 555 0100"), Err(E164Error::NotDigits));
        assert_eq!(E164::parse("+1415CALLNOW"), Err(E164Error::NotDigits));
        assert_eq!(E164::parse("+"), Err(E164Error::NotDigits));
        assert_eq!(E164::parse("+04155550100"), Err(E164Error::LeadingZero));
        assert_eq!(E164::parse("+123456"), Err(E164Error::TooShort));
        assert_eq!(E164::parse("+1234567890123456"), Err(E164Error::TooLong));
    }

    #[test]
    fn whatsapp_addresses_parse_phone_and_bsuid() {
        assert_eq!(
            WhatsAppAddress::parse("whatsapp:+14155238886").unwrap(),
            WhatsAppAddress::Phone(E164::parse("+14155238886").unwrap())
        );
        let b = WhatsAppAddress::parse("whatsapp:CO.899759302823042").unwrap();
        assert!(matches!(b, WhatsAppAddress::Bsuid(ref id) if id.as_str() == "CO.899759302823042"));
        assert_eq!(b.to_string(), "whatsapp:CO.899759302823042");
    }

    #[test]
    fn non_whatsapp_and_group_addresses_are_refused() {
        assert_eq!(WhatsAppAddress::parse("+14155550100"), Err(AddressError::NotWhatsApp));
        assert_eq!(WhatsAppAddress::parse("messenger:123"), Err(AddressError::NotWhatsApp));
        assert_eq!(WhatsAppAddress::parse("whatsapp:120363042345678901@g.us"), Err(AddressError::Group));
        assert_eq!(WhatsAppAddress::parse("whatsapp:14155550100-1600000000"), Err(AddressError::Group));
        assert!(matches!(WhatsAppAddress::parse("whatsapp:hello"), Err(AddressError::Malformed(_))));
    }
}
