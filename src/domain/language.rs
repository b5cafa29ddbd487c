//! Language tags (`nl`, `en-US`, `pt_BR`): what agents speak, what numbers and templates use, what routing
//! compares.

/// A language tag such as `nl`, `en-US` or `pt_BR` (the form WhatsApp template languages use).
pub fn is_tag(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let primary_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    primary_ok && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `wanted` (an agent's or a rule's language) covers `actual` (the customer's): the same tag ignoring
/// case and `-`/`_`, or a bare primary language (`pt`) covering its regional forms (`pt-BR`).
pub fn matches(wanted: &str, actual: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let (wanted, actual) = (norm(wanted), norm(actual));
    wanted == actual || (!wanted.contains('-') && actual.split('-').next() == Some(wanted.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["nl", "en-US", "pt_BR", "fil", "zh-Hant"] {
            assert!(is_tag(ok), "{ok}");
        }
        for bad in ["", "EN", "english", "e", "en-", "en US"] {
            assert!(!is_tag(bad), "{bad}");
        }
    }

    #[test]
    fn a_primary_language_covers_its_regions_but_not_the_reverse() {
        assert!(matches("pt", "pt-BR"));
        assert!(matches("pt-br", "pt_BR"));
        assert!(matches("nl", "nl"));
        assert!(!matches("pt-BR", "pt"));
        assert!(!matches("pt-PT", "pt-BR"));
        assert!(!matches("en", "nl"));
    }
}
