//! Splitting a reply longer than one WhatsApp message (1,600 characters through Twilio) into several, at
//! sentence boundaries where it can: then at spaces, and inside a word only when one word is longer than a
//! message.

/// `text` in parts of at most `max` characters, in order; the parts joined with spaces give back the text's
/// words. A part keeps the text as written (line breaks included); whitespace at a cut is dropped.
pub fn split(text: &str, max: usize) -> Vec<String> {
    assert!(max > 0);
    let text = text.trim();
    let fits = |s: &str| s.trim().chars().count() <= max;
    let mut parts = Vec::new();
    // The part being gathered: text[from..to].
    let (mut from, mut to) = (0, 0);
    for (start, end) in sentences(text) {
        if fits(&text[from..end]) {
            to = end;
            continue;
        }
        if !text[from..to].trim().is_empty() {
            parts.push(text[from..to].trim().to_owned());
        }
        if fits(&text[start..end]) {
            (from, to) = (start, end);
        } else {
            parts.extend(by_words(&text[start..end], max));
            (from, to) = (end, end);
        }
    }
    if !text[from..to].trim().is_empty() {
        parts.push(text[from..to].trim().to_owned());
    }
    parts
}

/// Where sentences start and end (a line break ends one too), covering the whole text.
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '\n' => true,
            '.' | '!' | '?' | '。' | '…' => chars.peek().is_none_or(|(_, next)| next.is_whitespace()),
            _ => false,
        };
        if end {
            let stop = i + c.len_utf8();
            out.push((start, stop));
            start = stop;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

/// A sentence longer than a message, cut at spaces (inside a word only if the word alone is too long).
fn by_words(sentence: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for word in sentence.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > max {
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            parts.push(word.drain(..max).collect());
        }
        let word: String = word.into_iter().collect();
        let n = word.chars().count();
        if n == 0 {
            continue;
        }
        if current.chars().count() + usize::from(!current.is_empty()) + n > max {
            parts.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_short_reply_is_one_message() {
        assert_eq!(split("  Hello there. How can I help?  ", 1600), vec!["Hello there. How can I help?"]);
    }

    #[test]
    fn a_long_reply_is_cut_after_a_sentence() {
        let parts = split("One two three. Four five six. Seven.", 16);
        assert_eq!(parts, vec!["One two three.", "Four five six.", "Seven."]);
    }

    #[test]
    fn a_sentence_longer_than_a_message_is_cut_at_spaces_and_a_huge_word_inside_itself() {
        assert_eq!(split("aaa bbb ccc ddd", 7), vec!["aaa bbb", "ccc ddd"]);
        assert_eq!(split("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn paragraphs_stay_as_written() {
        assert_eq!(split("Hi, I'm a bot.\n\nFree over €50.", 1600), vec!["Hi, I'm a bot.\n\nFree over €50."]);
    }

    #[test]
    fn decimals_and_abbreviations_inside_a_sentence_are_not_boundaries() {
        assert_eq!(split("It costs 4.50 today. Yes.", 20), vec!["It costs 4.50 today.", "Yes."]);
    }

    proptest! {
        #[test]
        fn every_part_fits_and_no_word_is_lost(text in "[a-zé .!?\n]{0,400}", max in 5usize..60) {
            let parts = split(&text, max);
            for p in &parts {
                prop_assert!(p.chars().count() <= max && !p.is_empty(), "{p:?}");
            }
            let before: String = text.split_whitespace().collect();
            let after: String = parts.iter().flat_map(|p| p.split_whitespace()).collect();
            prop_assert_eq!(before, after);
        }
    }
}
