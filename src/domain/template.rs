//! WhatsApp template bodies: `{{1}}`, `{{2}}`, … mark the variables. WhatsApp requires them numbered from 1
//! without gaps; a body may use a variable more than once.

/// The placeholders of a body in order of appearance, as numbers; an error says what is wrong.
fn placeholders(body: &str) -> Result<Vec<u32>, String> {
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "a {{ is not closed with }}".to_owned())?;
        let inner = after[..end].trim();
        let n: u32 = inner
            .parse()
            .ok()
            .filter(|n| *n >= 1 && *n <= 100)
            .ok_or_else(|| format!("{{{{{inner}}}}} is not a variable: write {{{{1}}}}, {{{{2}}}}, …"))?;
        found.push(n);
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// How many variables a body has, if they are numbered 1..=n without gaps.
pub fn variable_count(body: &str) -> Result<u32, String> {
    let mut numbers = placeholders(body)?;
    numbers.sort_unstable();
    numbers.dedup();
    for (i, n) in numbers.iter().enumerate() {
        if *n != i as u32 + 1 {
            return Err(format!(
                "variables must be numbered from {{{{1}}}} without gaps; {{{{{}}}}} is missing",
                i + 1
            ));
        }
    }
    Ok(numbers.len() as u32)
}

/// The body with each `{{n}}` replaced by `values[n-1]`; `None` if a value is missing.
pub fn render(body: &str, values: &[String]) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let n: usize = after[..end].trim().parse().ok()?;
        out.push_str(values.get(n.checked_sub(1)?)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// Every content type a template may have (Twilio's Content API types that WhatsApp supports).
pub const CONTENT_TYPES: &[&str] = &[
    "twilio/text",
    "twilio/media",
    "twilio/quick-reply",
    "twilio/list-picker",
    "twilio/call-to-action",
    "twilio/card",
    "whatsapp/card",
    "whatsapp/authentication",
    "twilio/location",
    "twilio/catalog",
];

/// A button of a content: a quick reply or list item (`id` comes back as `ButtonPayload` / `ListId`), or a
/// call-to-action (`url` or `phone`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Button {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A list item's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A call-to-action button's kind, as Twilio's Content API names it ([`ACTIONS`]): `VOICE_CALL_REQUEST`
    /// asks the customer for permission to call them, `VOICE_CALL` lets them call the business.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The Content API's call-to-action action types.
pub const ACTIONS: &[&str] = &["URL", "PHONE_NUMBER", "COPY_CODE", "VOICE_CALL", "VOICE_CALL_REQUEST"];

/// Whether a template is a WhatsApp call-permission request: a call-to-action content with the
/// `VOICE_CALL_REQUEST` element (seed 001: only such a template may ask a customer for permission to call).
pub fn is_call_permission_request(content_type: &str, buttons: &[Button]) -> bool {
    content_type == "twilio/call-to-action" && buttons.iter().any(|b| b.action.as_deref() == Some("VOICE_CALL_REQUEST"))
}

/// Whether a template carries a call button (`VOICE_CALL`): the customer taps it to call the business.
pub fn has_call_button(buttons: &[Button]) -> bool {
    buttons.iter().any(|b| b.action.as_deref() == Some("VOICE_CALL"))
}

/// Content types WhatsApp lets a business send without template approval inside the 24-hour window.
pub const INTERACTIVE: &[&str] = &["twilio/quick-reply", "twilio/list-picker", "twilio/call-to-action", "twilio/card"];

pub fn is_interactive(content_type: &str) -> bool {
    INTERACTIVE.contains(&content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_variables_numbered_without_gaps() {
        assert_eq!(variable_count("Hello"), Ok(0));
        assert_eq!(variable_count("Hi {{1}}, order {{2}} ships {{ 3 }}"), Ok(3));
        assert_eq!(variable_count("{{1}} and {{1}} again"), Ok(1));
        assert!(variable_count("Hi {{2}}").unwrap_err().contains("{{1}} is missing"));
        assert!(variable_count("Hi {{name}}").unwrap_err().contains("not a variable"));
        assert!(variable_count("Hi {{1").unwrap_err().contains("not closed"));
        assert!(variable_count("{{0}}").is_err());
    }

    #[test]
    fn only_a_call_to_action_with_the_voice_call_request_element_asks_for_call_permission() {
        let button = |action: Option<&str>| Button {
            title: "Allow calls".into(),
            id: None,
            description: None,
            url: None,
            phone: None,
            action: action.map(str::to_owned),
        };
        assert!(is_call_permission_request("twilio/call-to-action", &[button(Some("VOICE_CALL_REQUEST"))]));
        assert!(!is_call_permission_request("twilio/call-to-action", &[button(Some("VOICE_CALL"))]));
        assert!(!is_call_permission_request("twilio/call-to-action", &[button(None)]));
        assert!(!is_call_permission_request("twilio/quick-reply", &[button(Some("VOICE_CALL_REQUEST"))]));
    }

    #[test]
    fn renders_values_in_place() {
        let values = ["Ana".to_owned(), "42".to_owned()];
        assert_eq!(render("Hi {{1}}, order {{2}}; bye {{1}}", &values).unwrap(), "Hi Ana, order 42; bye Ana");
        assert_eq!(render("Hi {{3}}", &values), None);
    }
}
