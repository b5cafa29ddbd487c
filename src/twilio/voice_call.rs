//! Twilio's voice webhooks about a WhatsApp call, read into types: the call arriving, its wait in a queue, its
//! leaving the queue, a dialled leg's status, a `<Dial>`'s action, and the call's status. Twilio's parameter
//! names are read here only.

use super::webhook::{parse_sid, required, Form, WebhookError};
use crate::domain::sid::CallSid;
use crate::domain::{AccountSid, WhatsAppAddress};

/// A voice webhook about a WhatsApp call: the call arriving, its wait in a queue, its leaving the queue, or its
/// status. Twilio's parameter names are read here only.
#[derive(Debug, Clone)]
pub struct VoiceCall {
    pub call_sid: CallSid,
    pub account_sid: AccountSid,
    /// The customer (inbound), or an agent's browser joining a call (`client:` and their identity).
    pub from: Party,
    /// The business's number (absent on an agent's browser leg).
    pub to: Option<WhatsAppAddress>,
    pub status: CallStatus,
    /// Seconds in the Twilio queue (`QueueTime`, on the wait URL and the `<Enqueue>` action).
    pub queue_time: Option<u32>,
    /// Why the caller left the queue (on the `<Enqueue>` action).
    pub queue_result: Option<QueueResult>,
    /// The call's length in seconds (`CallDuration`, on the final status).
    pub duration: Option<u32>,
    /// On a dialled leg's status callback (`<WhatsApp statusCallback>`): the call that dialled it.
    pub parent_call_sid: Option<CallSid>,
    /// On a `<Dial>`'s action: how the dialled leg ended (`DialCallStatus`) and how long it talked
    /// (`DialCallDuration`).
    pub dial: Option<DialStatus>,
    pub dial_duration: Option<u32>,
}

/// How the leg a `<Dial>` called ended, as Twilio's `DialCallStatus` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialStatus {
    /// `completed` or `answered`: it was answered.
    Answered,
    /// `busy` or `no-answer`: the person called did not take it (declined, or let it ring out).
    Unanswered,
    /// `failed` or `canceled`: Twilio could not place it, or it was cancelled before an answer.
    Failed,
}

impl DialStatus {
    fn parse(s: &str) -> Self {
        match s {
            "completed" | "answered" => Self::Answered,
            "busy" | "no-answer" => Self::Unanswered,
            _ => Self::Failed,
        }
    }
}

/// Where a call is, as Twilio's `CallStatus` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// `queued`, `ringing`, `in-progress`, or a status this version does not know.
    Going,
    /// `completed`, `busy`, `no-answer`, `canceled`: over.
    Over,
    /// `failed`: Twilio could not place or keep it.
    Failed,
}

impl CallStatus {
    fn parse(s: &str) -> Self {
        match s {
            "completed" | "busy" | "no-answer" | "canceled" => Self::Over,
            "failed" => Self::Failed,
            _ => Self::Going,
        }
    }
}

/// Why a caller left a Twilio queue (`QueueResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueResult {
    /// `bridged`, `bridging-in-process`: connected to whoever dequeued them.
    Bridged,
    /// `leave`: the wait URL answered `<Leave>`.
    Left,
    /// `redirected`: the call was given new TwiML (put on hold, or transferred).
    Redirected,
    /// `hangup`, or Twilio could not keep them waiting (`error`, `system-error`, `queue-full`).
    Gone,
}

impl QueueResult {
    fn parse(s: &str) -> Self {
        match s {
            "bridged" | "bridging-in-process" => Self::Bridged,
            "leave" => Self::Left,
            "redirected" => Self::Redirected,
            _ => Self::Gone,
        }
    }
}

/// Who is on the calling end of a voice webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    WhatsApp(WhatsAppAddress),
    /// A plain phone number: the caller id of a call Switchboard placed to an agent's leg.
    Phone(crate::domain::E164),
    /// A Twilio Voice SDK device, by the identity in its access token.
    Client(String),
}

impl TryFrom<&Form> for VoiceCall {
    type Error = WebhookError;

    fn try_from(form: &Form) -> Result<Self, Self::Error> {
        let address = |name: &'static str, text: &str| {
            WhatsAppAddress::parse(text).map_err(|source| WebhookError::Address { name, source })
        };
        let from = match required(form, "From")? {
            client if client.starts_with("client:") => Party::Client(client["client:".len()..].to_owned()),
            phone if phone.starts_with('+') => Party::Phone(
                crate::domain::E164::parse(phone)
                    .map_err(|e| WebhookError::Invalid { name: "From", reason: e.to_string() })?,
            ),
            other => Party::WhatsApp(address("From", other)?),
        };
        let to = match (&from, form.non_empty("To")) {
            // A leg Switchboard placed (to an agent's browser or phone): the business's number is not its `To`.
            (Party::Client(_) | Party::Phone(_), to) if to.is_none_or(|t| !t.starts_with("whatsapp:")) => None,
            (_, Some(to)) if !to.starts_with("client:") => Some(address("To", to)?),
            (Party::Client(_) | Party::Phone(_), _) => None,
            (Party::WhatsApp(_), _) => return Err(WebhookError::Missing("To")),
        };
        let seconds = |name: &'static str| match form.non_empty(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| WebhookError::Invalid { name, reason: "must be a whole number of seconds".into() }),
        };
        Ok(Self {
            call_sid: parse_sid(form, "CallSid", CallSid::parse)?,
            account_sid: parse_sid(form, "AccountSid", AccountSid::parse)?,
            from,
            to,
            status: CallStatus::parse(form.non_empty("CallStatus").unwrap_or("")),
            queue_time: seconds("QueueTime")?,
            queue_result: form.non_empty("QueueResult").map(QueueResult::parse),
            duration: seconds("CallDuration")?,
            parent_call_sid: match form.non_empty("ParentCallSid") {
                Some(_) => Some(parse_sid(form, "ParentCallSid", CallSid::parse)?),
                None => None,
            },
            dial: form.non_empty("DialCallStatus").map(DialStatus::parse),
            dial_duration: seconds("DialCallDuration")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    const AC: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn a_dialled_legs_callbacks_carry_its_parent_and_how_the_dial_ended() {
        const CA: &str = "CA0123456789abcdef0123456789abcdef";
        const PARENT: &str = "CAfedcba9876543210fedcba9876543210";
        let leg = VoiceCall::try_from(&form(&[
            ("CallSid", CA),
            ("ParentCallSid", PARENT),
            ("AccountSid", AC),
            ("From", "whatsapp:+14155238886"),
            ("To", "whatsapp:+14155550100"),
            ("CallStatus", "in-progress"),
        ]))
        .unwrap();
        assert_eq!(leg.parent_call_sid.as_ref().map(|s| s.as_str()), Some(PARENT));
        let action = |status: &str| {
            VoiceCall::try_from(&form(&[
                ("CallSid", PARENT),
                ("AccountSid", AC),
                ("From", "+14155238886"),
                ("To", "client:agent-1"),
                ("CallStatus", "in-progress"),
                ("DialCallStatus", status),
                ("DialCallDuration", "42"),
            ]))
            .unwrap()
        };
        let done = action("completed");
        assert_eq!((done.dial, done.dial_duration, done.to), (Some(DialStatus::Answered), Some(42), None));
        assert!(matches!(done.from, Party::Phone(_)), "the agent leg's caller id is a plain number");
        assert_eq!(action("no-answer").dial, Some(DialStatus::Unanswered));
        assert_eq!(action("busy").dial, Some(DialStatus::Unanswered));
        assert_eq!(action("canceled").dial, Some(DialStatus::Failed));
    }
}
