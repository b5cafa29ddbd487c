//! What Twilio POSTs: the raw form, and the typed messages and status callbacks parsed from it.
//!
//! The form is kept whole (every parameter, repeated names included) because the signature covers all of it and
//! because Twilio adds parameters without notice: the message row stores them all as JSON. The typed views pick
//! what Switchboard acts on and refuse what it cannot act on, each refusal with a reason a person can read.

use crate::domain::address::AddressError;
use crate::domain::{AccountSid, MessageSid, MessageStatus, MessagingServiceSid, WhatsAppAddress};
use serde_json::{Map, Value};

/// A decoded `application/x-www-form-urlencoded` body, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the body is not valid form data: {0}")]
    Malformed(&'static str),
}

/// Encodes parameters as Twilio posts them (`application/x-www-form-urlencoded`, in the given order).
pub fn encode(params: &[(String, String)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

impl Form {
    /// Decodes a form body strictly: invalid percent escapes or bytes that are not UTF-8 are refused, never
    /// replaced, since a replaced character would silently change what the signature covers.
    pub fn parse(raw: &[u8]) -> Result<Self, FormError> {
        let mut pairs = Vec::new();
        for part in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Self(pairs))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `MessageSid` as sent, before anything is checked (for logging a refused webhook).
    pub fn message_sid(&self) -> Option<&str> {
        self.get("MessageSid")
    }

    /// `From` as sent, before anything is checked (for logging a refused webhook, masked).
    pub fn from_address(&self) -> Option<&str> {
        self.get("From")
    }

    /// The first value of `name` unless it is empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Every parameter as a JSON object; a repeated name becomes an array of its values in arrival order.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (k, v) in &self.0 {
            match map.get_mut(k) {
                None => {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
                Some(Value::Array(items)) => items.push(Value::String(v.clone())),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(v.clone())]);
                }
            }
        }
        Value::Object(map)
    }

    /// A flat JSON object's scalar members as parameters (for webhooks Twilio sends as JSON).
    pub fn from_json_object(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let mut pairs = Vec::with_capacity(obj.len());
        for (k, v) in obj {
            match v {
                Value::String(s) => pairs.push((k.clone(), s.clone())),
                Value::Number(n) => pairs.push((k.clone(), n.to_string())),
                Value::Bool(b) => pairs.push((k.clone(), b.to_string())),
                Value::Null => pairs.push((k.clone(), String::new())),
                Value::Array(_) | Value::Object(_) => pairs.push((k.clone(), v.to_string())),
            }
        }
        Some(Self(pairs))
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(FormError::Malformed("a % escape is cut short"))?;
                let text =
                    std::str::from_utf8(hex).map_err(|_| FormError::Malformed("a % escape is not hexadecimal"))?;
                let byte =
                    u8::from_str_radix(text, 16).map_err(|_| FormError::Malformed("a % escape is not hexadecimal"))?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::Malformed("a value is not UTF-8 text"))
}

/// Why a webhook cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the parameter {0} is required")]
    Missing(&'static str),
    #[error("the parameter {name} {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name}: {source}")]
    Address { name: &'static str, source: AddressError },
}

impl WebhookError {
    /// A stable machine-readable code for API clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_parameter",
            Self::Invalid { .. } => "invalid_parameter",
            Self::Address { source: AddressError::NotWhatsApp, .. } => "not_whatsapp",
            Self::Address { source: AddressError::Group, .. } => "group_messages_unsupported",
            Self::Address { .. } => "invalid_address",
        }
    }
}

pub(super) fn required<'f>(form: &'f Form, name: &'static str) -> Result<&'f str, WebhookError> {
    form.non_empty(name).ok_or(WebhookError::Missing(name))
}

pub(super) fn parse_sid<T>(
    form: &Form,
    name: &'static str,
    parse: impl Fn(&str) -> Result<T, crate::domain::sid::SidError>,
) -> Result<T, WebhookError> {
    parse(required(form, name)?).map_err(|e| WebhookError::Invalid { name, reason: e.to_string() })
}

fn flag(form: &Form, name: &str) -> bool {
    form.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub use crate::domain::inbound::{InboundMedia, InboundMessage, Location};

/// Parameters whose presence marks a message from a WhatsApp group.
const GROUP_MARKERS: &[&str] = &["GroupId", "GroupSid", "GroupName", "GroupSubject", "ParticipantAddress"];

/// The most media items a WhatsApp message can carry through Twilio.
pub const MAX_MEDIA: usize = 10;

impl TryFrom<&Form> for InboundMessage {
    type Error = WebhookError;

    fn try_from(form: &Form) -> Result<Self, Self::Error> {
        let message_sid = parse_sid(form, "MessageSid", MessageSid::parse)?;
        let account_sid = parse_sid(form, "AccountSid", AccountSid::parse)?;
        let messaging_service_sid = match form.non_empty("MessagingServiceSid") {
            Some(_) => Some(parse_sid(form, "MessagingServiceSid", MessagingServiceSid::parse)?),
            None => None,
        };
        if let Some(marker) = GROUP_MARKERS.iter().find(|m| form.non_empty(m).is_some()) {
            tracing::debug!(marker, "group marker present");
            return Err(WebhookError::Address { name: "From", source: AddressError::Group });
        }
        let from = WhatsAppAddress::parse(required(form, "From")?)
            .map_err(|source| WebhookError::Address { name: "From", source })?;
        let to = match WhatsAppAddress::parse(required(form, "To")?)
            .map_err(|source| WebhookError::Address { name: "To", source })?
        {
            WhatsAppAddress::Phone(p) => p,
            WhatsAppAddress::Bsuid(_) => {
                return Err(WebhookError::Invalid {
                    name: "To",
                    reason: "must be the business's WhatsApp number".into(),
                })
            }
        };
        let media = parse_media(form)?;
        let location = parse_location(form)?;
        let bsuid = form
            .non_empty("ExternalUserId")
            .map(|v| v.strip_prefix(WhatsAppAddress::PREFIX).unwrap_or(v).to_owned())
            .or_else(|| match &from {
                WhatsAppAddress::Bsuid(b) => Some(b.as_str().to_owned()),
                WhatsAppAddress::Phone(_) => None,
            });
        let wa_id = form.non_empty("WaId").map(str::to_owned).or_else(|| from.phone().map(|p| p.digits().to_owned()));
        Ok(Self {
            message_sid,
            account_sid,
            messaging_service_sid,
            from,
            to,
            body: form.get("Body").unwrap_or_default().to_owned(),
            profile_name: form.non_empty("ProfileName").map(str::to_owned),
            wa_id,
            bsuid,
            media,
            message_type: form.non_empty("MessageType").map(str::to_owned),
            // A list reply's item is kept like a button's: `ListId` as the payload, `ListTitle` as the text.
            button_text: form.non_empty("ButtonText").or_else(|| form.non_empty("ListTitle")).map(str::to_owned),
            button_payload: form.non_empty("ButtonPayload").or_else(|| form.non_empty("ListId")).map(str::to_owned),
            location,
            replied_to_sid: form.non_empty("OriginalRepliedMessageSid").map(str::to_owned),
            referral: referral(form),
            forwarded: flag(form, "Forwarded"),
            frequently_forwarded: flag(form, "FrequentlyForwarded"),
        })
    }
}

fn parse_media(form: &Form) -> Result<Vec<InboundMedia>, WebhookError> {
    let declared = match form.non_empty("NumMedia") {
        None => 0,
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| WebhookError::Invalid { name: "NumMedia", reason: "must be a whole number".into() })?,
    };
    if declared > MAX_MEDIA {
        return Err(WebhookError::Invalid { name: "NumMedia", reason: format!("must be at most {MAX_MEDIA}") });
    }
    (0..declared)
        .map(|i| {
            let url = form.non_empty(&format!("MediaUrl{i}")).ok_or(WebhookError::Invalid {
                name: "NumMedia",
                reason: format!("announces {declared} media but MediaUrl{i} is missing"),
            })?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(WebhookError::Invalid { name: "MediaUrl", reason: "must be an http(s) URL".into() });
            }
            Ok(InboundMedia {
                url: url.to_owned(),
                content_type: form.non_empty(&format!("MediaContentType{i}")).map(str::to_owned),
            })
        })
        .collect()
}

fn parse_location(form: &Form) -> Result<Option<Location>, WebhookError> {
    let (Some(lat), Some(lon)) = (form.non_empty("Latitude"), form.non_empty("Longitude")) else {
        return Ok(None);
    };
    let coordinate = |name: &'static str, text: &str, limit: f64| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && v.abs() <= limit)
            .ok_or(WebhookError::Invalid { name, reason: format!("must be a number between -{limit} and {limit}") })
    };
    Ok(Some(Location {
        latitude: coordinate("Latitude", lat, 90.0)?,
        longitude: coordinate("Longitude", lon, 180.0)?,
        address: form.non_empty("Address").map(str::to_owned),
        label: form.non_empty("Label").map(str::to_owned),
    }))
}

/// The Click-to-WhatsApp ad referral, when the message came from an ad. `ReferralNumMedia=0` alone, which
/// Twilio sends on every message, is not a referral.
/// A click-to-WhatsApp ad the customer came from, as stored (Twilio's `Referral…` parameters without the prefix)
/// and as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = AdReferral)]
pub struct Referral {
    /// The ad's or post's URL.
    #[serde(rename(deserialize = "SourceUrl"))]
    pub source_url: Option<String>,
    #[serde(rename(deserialize = "SourceId"))]
    pub source_id: Option<String>,
    /// `ad` or `post`.
    #[serde(rename(deserialize = "SourceType"))]
    pub source_type: Option<String>,
    #[serde(rename(deserialize = "Headline"))]
    pub headline: Option<String>,
    #[serde(rename(deserialize = "Body"))]
    pub body: Option<String>,
    /// The click id Meta's conversions API matches.
    #[serde(rename(deserialize = "CtwaClid"))]
    pub ctwa_clid: Option<String>,
}

fn referral(form: &Form) -> Option<Value> {
    let map: Map<String, Value> = form
        .0
        .iter()
        .filter(|(k, v)| k.starts_with("Referral") && k != "ReferralNumMedia" && !v.is_empty())
        .map(|(k, v)| (k["Referral".len()..].to_owned(), Value::String(v.clone())))
        .collect();
    (!map.is_empty()).then_some(Value::Object(map))
}

/// A status callback for a message the business sent.
#[derive(Debug, Clone)]
pub struct StatusCallback {
    pub message_sid: MessageSid,
    pub account_sid: AccountSid,
    /// `None` when Twilio reports a status this version does not know; the callback is acknowledged and ignored.
    pub status: Option<MessageStatus>,
    pub raw_status: String,
    pub error_code: Option<i32>,
    pub error_message: Option<String>,
}

impl TryFrom<&Form> for StatusCallback {
    type Error = WebhookError;

    fn try_from(form: &Form) -> Result<Self, Self::Error> {
        let message_sid = parse_sid(form, "MessageSid", MessageSid::parse)?;
        let account_sid = parse_sid(form, "AccountSid", AccountSid::parse)?;
        let raw_status = form
            .non_empty("MessageStatus")
            .or_else(|| form.non_empty("SmsStatus"))
            .ok_or(WebhookError::Missing("MessageStatus"))?
            .to_owned();
        let error_code =
            match form.non_empty("ErrorCode") {
                None => None,
                Some(c) => Some(c.parse::<i32>().map_err(|_| WebhookError::Invalid {
                    name: "ErrorCode",
                    reason: "must be a whole number".into(),
                })?),
            }
            .filter(|c| *c != 0);
        Ok(Self {
            message_sid,
            account_sid,
            status: raw_status.parse().ok(),
            raw_status,
            error_code,
            error_message: form.non_empty("ErrorMessage").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    const SID: &str = "SM0123456789abcdef0123456789abcdef";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MessageSid", SID),
            ("AccountSid", AC),
            ("From", "whatsapp:+14155550100"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "Hola"),
        ]
    }

    #[test]
    fn form_decoding_is_strict_and_keeps_repeats() {
        let f = Form::parse(b"Body=It%27s+amazing+%F0%9F%98%80&Digits=1&Digits=2&Empty=").unwrap();
        assert_eq!(f.get("Body"), Some("It's amazing 😀"));
        assert_eq!(f.0.len(), 4);
        assert_eq!(f.to_json()["Digits"], serde_json::json!(["1", "2"]));
        assert!(Form::parse(b"Body=%ZZ").is_err());
        assert!(Form::parse(b"Body=%F0%9F").is_err());
        assert!(Form::parse(b"Body=%4").is_err());
    }

    #[test]
    fn a_text_message_parses() {
        let m = InboundMessage::try_from(&form(&base())).unwrap();
        assert_eq!(m.message_sid.as_str(), SID);
        assert_eq!(m.to.as_str(), "+14155238886");
        assert_eq!(m.wa_id.as_deref(), Some("14155550100"));
        assert!(m.media.is_empty() && m.referral.is_none() && m.location.is_none());
    }

    #[test]
    fn extras_are_parsed() {
        let mut p = base();
        p.extend([
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME"),
            ("MediaContentType0", "image/jpeg"),
            ("ButtonText", "Yes"),
            ("ButtonPayload", "confirm"),
            ("Latitude", "52.37"),
            ("Longitude", "4.89"),
            ("Label", "Office"),
            ("OriginalRepliedMessageSid", "SMaaaa"),
            ("ReferralNumMedia", "0"),
            ("ReferralCtwaClid", "abc"),
            ("Forwarded", "true"),
            ("ExternalUserId", "whatsapp:US.123abc"),
        ]);
        let m = InboundMessage::try_from(&form(&p)).unwrap();
        assert_eq!(m.media.len(), 1);
        assert_eq!(m.button_payload.as_deref(), Some("confirm"));
        assert_eq!(m.location.as_ref().unwrap().label.as_deref(), Some("Office"));
        assert_eq!(m.referral, Some(serde_json::json!({"CtwaClid": "abc"})));
        assert!(m.forwarded && !m.frequently_forwarded);
        assert_eq!(m.bsuid.as_deref(), Some("US.123abc"));
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        let without = |name: &str| form(&base().into_iter().filter(|(k, _)| *k != name).collect::<Vec<_>>());
        assert_eq!(InboundMessage::try_from(&without("MessageSid")).unwrap_err(), WebhookError::Missing("MessageSid"));
        let mut p = base();
        p[2] = ("From", "+14155550100");
        assert_eq!(InboundMessage::try_from(&form(&p)).unwrap_err().code(), "not_whatsapp");
        p[2] = ("From", "whatsapp:120363042345678901@g.us");
        assert_eq!(InboundMessage::try_from(&form(&p)).unwrap_err().code(), "group_messages_unsupported");
        let mut p = base();
        p.push(("GroupId", "120363042345678901"));
        assert_eq!(InboundMessage::try_from(&form(&p)).unwrap_err().code(), "group_messages_unsupported");
        let mut p = base();
        p.push(("NumMedia", "2"));
        p.push(("MediaUrl0", "https://x/y"));
        assert!(InboundMessage::try_from(&form(&p)).unwrap_err().to_string().contains("MediaUrl1 is missing"));
    }

    #[test]
    fn status_callbacks_parse_and_tolerate_unknown_statuses() {
        let s = StatusCallback::try_from(&form(&[
            ("MessageSid", SID),
            ("AccountSid", AC),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "63016"),
        ]))
        .unwrap();
        assert_eq!(s.status, Some(MessageStatus::Undelivered));
        assert_eq!(s.error_code, Some(63016));
        let s = StatusCallback::try_from(&form(&[
            ("MessageSid", SID),
            ("AccountSid", AC),
            ("MessageStatus", "teleported"),
        ]))
        .unwrap();
        assert_eq!(s.status, None);
    }
}

/// Whatever arrives on a webhook, the parser answers with a form or a refusal, never a panic (bounded runs in
/// every test run; the webhook parser and the signature check are what the internet reaches first).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::twilio::signature::{self, SignedBody};
    use proptest::prelude::*;

    /// Bytes that look like a form often enough to get past the decoder: names, `=`, `&`, escapes, UTF-8.
    fn formish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"&".to_vec()),
            Just(b"=".to_vec()),
            Just(b"%".to_vec()),
            Just(b"%2".to_vec()),
            Just(b"%E2%82%AC".to_vec()),
            Just(b"%FF".to_vec()),
            Just(b"+".to_vec()),
            Just(b"MessageSid=SM0123456789abcdef0123456789abcdef".to_vec()),
            Just(b"AccountSid=AC0123456789abcdef0123456789abcdef".to_vec()),
            Just(b"From=whatsapp%3A%2B14155550100".to_vec()),
            Just(b"To=whatsapp%3A%2B14155238886".to_vec()),
            Just(b"NumMedia=".to_vec()),
            Just(b"MediaUrl0=".to_vec()),
            Just(b"Latitude=".to_vec()),
            Just(b"MessageStatus=".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..12),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn any_body_parses_or_is_refused_without_panicking(raw in formish()) {
            if let Ok(form) = Form::parse(&raw) {
                let _ = InboundMessage::try_from(&form);
                let _ = StatusCallback::try_from(&form);
                let _ = form.to_json();
            }
        }

        #[test]
        fn any_signature_check_answers_without_panicking(
            raw in formish(),
            url in "[ -~]{0,80}",
            claimed in "[ -~]{0,60}",
            json in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let params = Form::parse(&raw).map(|f| f.0).unwrap_or_default();
            let tokens = ["a-token-0123456789abcdef012345678"];
            prop_assert!(!signature::is_valid(&tokens, &url, SignedBody::Form(&params), &claimed)
                || claimed == signature::compute(tokens[0], &url, &params)
                || signature::url_candidates(&url).iter().any(|u| claimed == signature::compute(tokens[0], u, &params)));
            let _ = signature::is_valid(&tokens, &url, SignedBody::Json(&json), &claimed);
            let _ = signature::url_candidates(&url);
        }
    }
}
