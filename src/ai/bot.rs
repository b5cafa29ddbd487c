//! The built-in FAQ bot: finds the question/answer pair a customer's message asks about, with a confidence it
//! answers above, and notices when the customer asks for a person. No network, no model: Okapi BM25 over each
//! pair's question and keywords ([`super::text`] folds and stems the words), so the embedded default answers
//! in microseconds and says why.
//!
//! The ranking is BM25; the confidence of the best pair is how much of the message it explains and how much of
//! its question the message asked, each weighted by how rare the words are (inverse document frequency):
//!
//! `confidence = √(share of the message's weight found in the pair × share of the question's weight found in
//! the message)`, the second being 1 when one of the pair's keywords appears whole in the message. Both must be
//! high: a long message that mentions a keyword in passing is not enough (a mean of the two let a keyword alone
//! reach 0.5, so the default threshold answered one message in two about something else in `benches/ai_bot.rs`).
//!
//! A message that repeats a question scores 1; a paraphrase that shares the rare words scores high; a message
//! about something else scores near 0. Words no pair contains count against the message at the weight of the
//! rarest known word, so "what is the capital of France" stays under any sensible threshold.

use super::text::{fold, Stemmers};
use crate::domain::ai::Pair;
use std::collections::{HashMap, HashSet};

/// BM25's term-frequency saturation and length normalisation (the usual values).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// An AI agent's knowledge, indexed.
pub struct Index {
    stemmers: Stemmers,
    /// Term → (pair, occurrences in its question and keywords).
    postings: HashMap<String, Vec<(u32, u32)>>,
    /// Per pair: its question's words (each as its stems), for the question's share.
    questions: Vec<Vec<Vec<String>>>,
    /// Per pair: its keywords, folded, each matched whole.
    keywords: Vec<Vec<String>>,
    lengths: Vec<u32>,
    average_length: f32,
    /// Words that mean "a person, please" (built-in ones and the agent's hand-over keywords), folded.
    person_words: Vec<String>,
}

/// The best pair for a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Its position in the agent's knowledge.
    pub index: usize,
    pub score: f32,
    /// 0 to 1 (see the module's documentation).
    pub confidence: f32,
}

/// Words customers use to ask for a person, in the languages of our customers, folded. Matched as whole words
/// (or whole phrases), so "agentes" does not match but "agente" does.
const PERSON_WORDS: &[&str] = &[
    // English
    "agent",
    "human",
    "person",
    "real person",
    "representative",
    "operator",
    "someone",
    "somebody",
    "staff",
    "talk to a person",
    "speak to someone",
    "customer service",
    // Spanish
    "agente",
    "humano",
    "persona",
    "asesor",
    "asesora",
    "operador",
    "operadora",
    "alguien",
    // Portuguese
    "atendente",
    "pessoa",
    "humano",
    "alguem",
    "operador",
    // Dutch
    "mens",
    "medewerker",
    "persoon",
    "iemand",
    // German
    "mensch",
    "mitarbeiter",
    "berater",
    "jemand",
    // French
    "humain",
    "conseiller",
    "conseillere",
    "quelqu un",
    // Italian
    "operatore",
    "umano",
];

impl Index {
    /// Indexes `pairs` for an agent speaking `languages`, with its own `handover_keywords`.
    pub fn build(pairs: &[Pair], languages: &[String], handover_keywords: &[String]) -> Self {
        let stemmers = Stemmers::for_languages(languages);
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut questions = Vec::with_capacity(pairs.len());
        let mut keywords = Vec::with_capacity(pairs.len());
        let mut lengths = Vec::with_capacity(pairs.len());
        for (i, pair) in pairs.iter().enumerate() {
            let question = stemmers.words(&pair.question);
            let mut counts: HashMap<&str, u32> = HashMap::new();
            let keyword_words: Vec<Vec<String>> = pair.keywords.iter().flat_map(|k| stemmers.words(k)).collect();
            let mut length = 0;
            for word in question.iter().chain(keyword_words.iter()) {
                length += 1;
                for term in word {
                    *counts.entry(term.as_str()).or_default() += 1;
                }
            }
            for (term, n) in counts {
                postings.entry(term.to_owned()).or_default().push((i as u32, n));
            }
            questions.push(question);
            keywords.push(pair.keywords.iter().map(|k| fold(k)).filter(|k| !k.is_empty()).collect());
            lengths.push(length);
        }
        let average_length =
            if lengths.is_empty() { 1.0 } else { lengths.iter().sum::<u32>() as f32 / lengths.len() as f32 };
        let mut person_words: Vec<String> = PERSON_WORDS.iter().map(|w| (*w).to_owned()).collect();
        person_words.extend(handover_keywords.iter().map(|k| fold(k)).filter(|k| !k.is_empty()));
        Self { stemmers, postings, questions, keywords, lengths, average_length: average_length.max(1.0), person_words }
    }

    fn pairs(&self) -> usize {
        self.lengths.len()
    }

    /// Inverse document frequency (BM25's, never negative).
    fn idf(&self, term: &str) -> f32 {
        let n = self.pairs() as f32;
        let df = self.postings.get(term).map_or(0, Vec::len) as f32;
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    /// The weight of a word: its rarest stem's.
    fn weight(&self, word: &[String]) -> f32 {
        word.iter().map(|t| self.idf(t)).fold(0.0, f32::max)
    }

    /// The pair that best answers `text`, if any shares a word with it.
    pub fn best(&self, text: &str) -> Option<Match> {
        let words = self.stemmers.words(text);
        if words.is_empty() || self.pairs() == 0 {
            return None;
        }
        let mut scores: HashMap<u32, f32> = HashMap::new();
        let mut seen = HashSet::new();
        for term in words.iter().flatten() {
            if !seen.insert(term.as_str()) {
                continue;
            }
            let Some(list) = self.postings.get(term) else { continue };
            let idf = self.idf(term);
            for &(pair, tf) in list {
                let tf = tf as f32;
                let norm = 1.0 - B + B * self.lengths[pair as usize] as f32 / self.average_length;
                *scores.entry(pair).or_default() += idf * tf * (K1 + 1.0) / (tf + K1 * norm);
            }
        }
        let (&pair, &score) = scores.iter().max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))?;
        Some(Match { index: pair as usize, score, confidence: self.confidence(&words, &fold(text), pair as usize) })
    }

    /// How well pair `i` explains the message (see the module's documentation).
    fn confidence(&self, words: &[Vec<String>], folded: &str, i: usize) -> f32 {
        let has = |word: &[String]| {
            word.iter().any(|t| self.postings.get(t).is_some_and(|l| l.iter().any(|p| p.0 as usize == i)))
        };
        // Words no pair knows weigh as much as the rarest word the index knows.
        let unknown = ((self.pairs() as f32 + 0.5) / 0.5 + 1.0).ln();
        let (mut found, mut total) = (0.0, 0.0);
        for word in words {
            let known = word.iter().any(|t| self.postings.contains_key(t));
            let w = if known { self.weight(word) } else { unknown };
            total += w;
            if has(word) {
                found += w;
            }
        }
        let message_share = if total > 0.0 { found / total } else { 0.0 };
        let padded = format!(" {folded} ");
        let question_share = if self.keywords[i].iter().any(|k| padded.contains(&format!(" {k} "))) {
            1.0
        } else {
            let mine: HashSet<&String> = words.iter().flatten().collect();
            let (mut asked, mut all) = (0.0, 0.0);
            for word in &self.questions[i] {
                let w = self.weight(word);
                all += w;
                if word.iter().any(|t| mine.contains(t)) {
                    asked += w;
                }
            }
            if all > 0.0 {
                asked / all
            } else {
                0.0
            }
        };
        (message_share * question_share).sqrt()
    }

    /// Whether the customer asks for a person: a built-in word or one of the agent's hand-over keywords, whole.
    pub fn asks_for_person(&self, text: &str) -> bool {
        let padded = format!(" {} ", fold(text));
        self.person_words.iter().any(|w| padded.contains(&format!(" {w} ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pair(q: &str, a: &str, keywords: &[&str]) -> Pair {
        Pair { question: q.into(), answer: a.into(), keywords: keywords.iter().map(|k| (*k).to_owned()).collect() }
    }

    fn shop() -> Index {
        let pairs = vec![
            pair("What are your opening hours?", "Mon–Fri 9–17.", &["open", "closed", "hours"]),
            pair("How much does shipping cost?", "Shipping is free over €50.", &["delivery", "postage"]),
            pair("How can I return a product?", "Use the return form.", &["refund", "send back"]),
            pair("¿Cuánto cuesta el envío?", "El envío es gratis desde 50 €.", &["entrega"]),
            pair("Wat zijn de openingstijden?", "Ma–vr 9–17 uur.", &[]),
        ];
        Index::build(&pairs, &["en".into(), "es".into(), "nl".into()], &["manager".into()])
    }

    #[test]
    fn the_question_itself_is_answered_with_full_confidence() {
        let m = shop().best("What are your opening hours?").unwrap();
        assert_eq!(m.index, 0);
        assert!(m.confidence > 0.99, "{m:?}");
    }

    #[test]
    fn a_paraphrase_finds_the_right_pair_above_the_default_threshold() {
        let idx = shop();
        for (text, want) in [
            ("when are you open", 0),
            ("shipping costs?", 1),
            ("how much is delivery", 1),
            ("I want a refund", 2),
            ("returning products, how?", 2),
            ("cuanto cuesta el envio", 3),
            ("openingstijden", 4),
        ] {
            let m = idx.best(text).unwrap_or_else(|| panic!("{text}: no match"));
            assert_eq!(m.index, want, "{text}: {m:?}");
            assert!(m.confidence >= 0.5, "{text}: {m:?}");
        }
    }

    #[test]
    fn an_unrelated_question_stays_under_the_threshold() {
        let idx = shop();
        for text in ["What is the capital of France?", "my cat is sick", "asdf qwerty", "?!"] {
            let c = idx.best(text).map_or(0.0, |m| m.confidence);
            assert!(c < 0.5, "{text}: {c}");
        }
    }

    #[test]
    fn a_request_for_a_person_is_noticed_in_every_language() {
        let idx = shop();
        for text in [
            "I want to talk to a human",
            "quiero hablar con una persona",
            "Falar com um atendente, por favor",
            "Mag ik een mens spreken?",
            "AGENT",
            "get me your manager",
        ] {
            assert!(idx.asks_for_person(text), "{text}");
        }
        for text in ["what are the agentes fees", "opening hours", "personal data"] {
            assert!(!idx.asks_for_person(text), "{text}");
        }
    }

    #[test]
    fn an_empty_knowledge_answers_nothing() {
        let idx = Index::build(&[], &[], &[]);
        assert!(idx.best("opening hours").is_none());
    }

    proptest! {
        #[test]
        fn confidence_is_between_zero_and_one(text in "\\PC{0,80}") {
            if let Some(m) = shop().best(&text) {
                prop_assert!((0.0..=1.0001).contains(&m.confidence), "{m:?}");
            }
        }
    }
}
