//! Masking for logs: phone numbers and ids are personal data, so log lines carry only enough to correlate.

/// `+14155550100` → `+1415*****00`; `whatsapp:+14155550100` → `whatsapp:+1415*****00`. Short or unknown
/// shapes keep only their first two characters.
pub fn phone(text: &str) -> String {
    let (prefix, rest) = match text.strip_prefix("whatsapp:") {
        Some(rest) => ("whatsapp:", rest),
        None => ("", text),
    };
    let chars: Vec<char> = rest.chars().collect();
    let masked: String = if chars.len() >= 9 {
        let head: String = chars[..5].iter().collect();
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
    } else {
        let head: String = chars.iter().take(2).collect();
        format!("{head}{}", "*".repeat(chars.len().saturating_sub(2)))
    };
    format!("{prefix}{masked}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn phone_numbers_keep_country_area_and_last_two_digits() {
        assert_eq!(super::phone("+14155550100"), "+1415*****00");
        assert_eq!(super::phone("whatsapp:+14155550100"), "whatsapp:+1415*****00");
        assert_eq!(super::phone("+123"), "+1**");
        assert_eq!(super::phone("whatsapp:CO.899759302823042"), "whatsapp:CO.89***********42");
    }
}
