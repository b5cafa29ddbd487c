//! Splitting a reply longer than one WhatsApp message (1,600 characters through Twilio) into several, at
//! sentence boundaries where it can: then at spaces, and inside a word only when one word is longer than a
//! message.

/// `text` in parts of at most `max` characters, in order; the parts joined with spaces give back the text's
/// words. Whitespace at the cut is dropped.
pub fn split(text: &str, max: usize) -> Vec<String> {
    assert!(max > 0);
    let text = text.trim();
    let mut parts = Vec::new();
    let mut current = String::new();
    for sentence in sentences(text) {
        let sentence = sentence.trim();
        if sentence.is_empty() {
            continue;
        }
        let joined = current.chars().count() + usize::from(!current.is_empty()) + sentence.chars().count();
        if joined <= max {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(sentence);
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if sentence.chars().count() <= max {
            current.push_str(sentence);
        } else {
            for piece in by_words(sentence, max) {
                if !current.is_empty() {
                    parts.push(std::mem::take(&mut current));
                }
                current = piece;
            }
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Sentences with their ending punctuation, and paragraphs (a line break ends a sentence too).
fn sentences(text: &str) -> Vec<&str> {
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
            out.push(&text[start..stop]);
            start = stop;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
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
