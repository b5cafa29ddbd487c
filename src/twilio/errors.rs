//! Readable explanations for the Twilio error codes a WhatsApp contact center meets. Codes are the stable key
//! (Twilio warns against relying on its error text); these sentences are what an agent or operator reads.

/// A plain-language explanation of a Twilio error code, when Switchboard knows it.
pub fn explain(code: i32) -> Option<&'static str> {
    Some(match code {
        63016 => "Outside the 24-hour messaging window: the customer has not written in the last 24 hours, so only an approved WhatsApp template can be sent.",
        63015 => "The Twilio Sandbox can only send to numbers that have joined it (and joins expire after 3 days).",
        63018 => "WhatsApp rate limit for this sender exceeded (messaging tier or throughput); the message was not delivered.",
        63024 => "Invalid recipient: the number is not on WhatsApp, has not accepted WhatsApp's terms, or uses an outdated client.",
        63032 => "WhatsApp did not deliver this marketing message to this user (per-user marketing limit or experiment).",
        63003 => "WhatsApp could not find the recipient's address: the number is invalid or inactive.",
        63007 => "Twilio could not find a WhatsApp sender for the 'From' address on this account (not registered, pending, or wrong credentials).",
        63017 => "The account's combined sending rate limit was exceeded.",
        63014 => "The customer has blocked this business on WhatsApp.",
        63021 => "WhatsApp refused the content: unsupported media, or a template text over 1,024 characters.",
        63019 => "WhatsApp could not download the media for this message.",
        63020 => "The WhatsApp Business Account has a payment problem.",
        63022 => "WhatsApp refused the message because the template or its parameters are invalid.",
        63025 => "WhatsApp refused this message as a duplicate or because it was already sent.",
        63012 => "WhatsApp had an internal error; the message may succeed if sent again.",
        21211 => "The 'To' number is not a valid phone number.",
        21610 => "The recipient has opted out (replied STOP); they must reply START before messages can be sent again.",
        20003 => "Twilio refused the credentials (wrong Account SID or Auth Token, or the account is suspended).",
        20429 => "Too many concurrent requests to Twilio; the request can safely be retried.",
        30003 => "The recipient's handset is unreachable or switched off.",
        30005 => "The recipient number is unknown or no longer exists.",
        30006 => "The recipient cannot receive this message (landline or unreachable carrier).",
        30007 => "The message was filtered as spam or blocked by the carrier.",
        30008 => "Unknown delivery error reported by the carrier.",
        30036 => "The message expired before it could be sent (validity period exceeded).",
        37000 => "The customer has not granted permission for WhatsApp calls.",
        37004 => "The WhatsApp call rate limit for this customer was reached.",
        _ => return None,
    })
}

/// Twilio's own message when it sent one, otherwise the explanation above, otherwise a generic sentence.
pub fn describe(code: i32, twilio_message: Option<&str>) -> String {
    match (explain(code), twilio_message) {
        (Some(ours), _) => ours.to_owned(),
        (None, Some(theirs)) if !theirs.is_empty() => theirs.to_owned(),
        (None, _) => format!("Twilio reported error {code} (see https://www.twilio.com/docs/api/errors/{code})."),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_codes_have_explanations_and_unknown_ones_point_to_twilio() {
        assert!(super::describe(63016, None).contains("24-hour"));
        assert_eq!(super::describe(99999, Some("Odd thing")), "Odd thing");
        assert!(super::describe(99999, None).contains("docs/api/errors/99999"));
    }
}
