//! Words as the built-in bot compares them: accents and case folded, split on anything that is not a letter or a
//! digit, common function words dropped, and stemmed (Snowball, from `rust-stemmers`, the stemmer tantivy uses)
//! in each of the AI agent's languages, so that "shipping", "shipped" and "ships" meet, as do "envío" and "envio".

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lowercase, without accents (é → e, ç → c, ß stays), with every run of other characters as one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The Snowball algorithm for a language tag (`pt-BR` → Portuguese), if there is one.
pub fn algorithm(tag: &str) -> Option<Algorithm> {
    let primary = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    Some(match primary.as_str() {
        "ar" => Algorithm::Arabic,
        "da" => Algorithm::Danish,
        "nl" => Algorithm::Dutch,
        "en" => Algorithm::English,
        "fi" => Algorithm::Finnish,
        "fr" => Algorithm::French,
        "de" => Algorithm::German,
        "el" => Algorithm::Greek,
        "hu" => Algorithm::Hungarian,
        "it" => Algorithm::Italian,
        "no" | "nb" | "nn" => Algorithm::Norwegian,
        "pt" => Algorithm::Portuguese,
        "ro" => Algorithm::Romanian,
        "ru" => Algorithm::Russian,
        "es" => Algorithm::Spanish,
        "sv" => Algorithm::Swedish,
        "ta" => Algorithm::Tamil,
        "tr" => Algorithm::Turkish,
        _ => return None,
    })
}

/// Function words of the languages customers most write in, folded, by language: they say nothing about what
/// is asked, and they tell which language a message is in.
const STOP_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "a", "an", "the", "is", "are", "was", "be", "do", "does", "did", "i", "me", "my", "you", "your", "we",
            "our", "it", "its", "to", "of", "in", "on", "at", "for", "and", "or", "can", "could", "would", "will",
            "what", "how", "when", "where", "which", "who", "there", "this", "that", "with", "have", "has", "please",
            "hi", "hello", "thanks", "thank", "about", "from", "if", "any", "am", "so", "u", "want", "like", "need",
            "get",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "un", "una", "de", "del", "y", "o", "en", "que", "es", "son", "mi", "mis", "tu",
            "su", "por", "para", "con", "como", "cual", "cuando", "donde", "hola", "gracias", "se", "lo", "le", "al",
            "quiero", "puedo", "hay", "me", "yo", "favor",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "as", "um", "uma", "do", "da", "dos", "das", "e", "no", "na", "nos", "nas", "meu", "minha",
            "voce", "qual", "quando", "onde", "ola", "obrigado", "obrigada", "posso", "eu", "com", "em", "pra", "de",
            "que", "quero",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "en", "of", "is", "zijn", "ik", "mijn", "je", "jij", "u", "uw", "wat", "hoe",
            "wanneer", "waar", "welke", "van", "op", "te", "met", "voor", "kan", "kunt", "hallo", "hoi", "bedankt",
            "dank", "er", "dat", "die", "dit", "wil", "mag", "jullie",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "ein", "eine", "und", "oder", "ist", "sind", "ich", "mein", "meine", "sie", "ihr",
            "wie", "wann", "wo", "welche", "von", "zu", "mit", "fur", "kann", "konnen", "hallo", "danke", "bitte",
            "es",
        ],
    ),
    (
        "fr",
        &[
            "le", "les", "une", "des", "et", "ou", "est", "sont", "je", "mon", "ma", "mes", "vous", "votre", "quel",
            "quelle", "quand", "comment", "du", "au", "aux", "pour", "avec", "puis", "peux", "bonjour", "merci", "il",
            "elle", "ce", "cette", "qui", "ne", "pas",
        ],
    ),
];

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.iter().any(|(_, words)| words.contains(&word))
}

/// The language of `text` among `candidates` (language tags), by the function words it uses; `None` when it uses
/// none of theirs, or two languages tie.
pub fn guess_language<'a>(text: &str, candidates: &'a [String]) -> Option<&'a str> {
    let folded = fold(text);
    let words: Vec<&str> = folded.split(' ').collect();
    let mut best: Option<(&'a str, usize)> = None;
    let mut tie = false;
    for tag in candidates {
        let primary = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        let Some((_, list)) = STOP_WORDS.iter().find(|(l, _)| *l == primary) else { continue };
        let hits = words.iter().filter(|w| list.contains(w)).count();
        match best {
            Some((_, n)) if hits == n => tie = true,
            Some((_, n)) if hits < n => {}
            _ if hits > 0 => {
                best = Some((tag.as_str(), hits));
                tie = false;
            }
            _ => {}
        }
    }
    best.filter(|_| !tie).map(|(tag, _)| tag)
}

/// Stemmers for an agent's languages (English when it names none it has a stemmer for).
pub struct Stemmers(Vec<Stemmer>);

impl Stemmers {
    pub fn for_languages(languages: &[String]) -> Self {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for a in languages.iter().filter_map(|l| algorithm(l)) {
            if !algorithms.iter().any(|b| std::mem::discriminant(b) == std::mem::discriminant(&a)) {
                algorithms.push(a);
            }
        }
        if algorithms.is_empty() {
            algorithms.push(Algorithm::English);
        }
        Self(algorithms.into_iter().map(Stemmer::create).collect())
    }

    /// The words of `text` that carry meaning, each as its stems in every language (one or more terms per
    /// word, without repeats within a word).
    pub fn words(&self, text: &str) -> Vec<Vec<String>> {
        fold(text)
            .split(' ')
            .filter(|w| !w.is_empty() && !is_stop_word(w))
            .map(|w| {
                let mut stems: Vec<String> = Vec::with_capacity(self.0.len());
                for s in &self.0 {
                    let stem = s.stem(w).into_owned();
                    if !stems.contains(&stem) {
                        stems.push(stem);
                    }
                }
                stems
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_accents_case_and_punctuation() {
        assert_eq!(fold("¿Cuánto cuesta el ENVÍO?"), "cuanto cuesta el envio");
        assert_eq!(fold("  São Paulo -- açaí!! "), "sao paulo acai");
    }

    #[test]
    fn a_word_and_its_inflections_share_a_stem() {
        let s = Stemmers::for_languages(&["en".into()]);
        assert_eq!(s.words("shipping"), s.words("shipped"));
        assert_eq!(s.words("Returns"), s.words("return"));
        let es = Stemmers::for_languages(&["es".into()]);
        assert_eq!(es.words("envíos"), es.words("envio"));
    }

    #[test]
    fn the_language_is_told_by_its_function_words() {
        let langs: Vec<String> = ["en", "es", "pt-BR", "nl"].map(String::from).to_vec();
        assert_eq!(guess_language("quiero hablar con una persona", &langs), Some("es"));
        assert_eq!(guess_language("Mag ik een mens spreken?", &langs), Some("nl"));
        assert_eq!(guess_language("What are the opening hours?", &langs), Some("en"));
        assert_eq!(guess_language("Quero falar com um atendente", &langs), Some("pt-BR"));
        assert_eq!(guess_language("xyz", &langs), None);
    }

    #[test]
    fn function_words_carry_no_meaning() {
        let s = Stemmers::for_languages(&["en".into()]);
        assert_eq!(s.words("What are the opening hours?").len(), 2);
    }

    #[test]
    fn a_region_subtag_picks_its_language_and_unknown_languages_fall_back_to_english() {
        assert!(matches!(algorithm("pt-BR"), Some(Algorithm::Portuguese)));
        assert!(matches!(algorithm("nl_NL"), Some(Algorithm::Dutch)));
        assert!(algorithm("xx").is_none());
        let s = Stemmers::for_languages(&["xx".into()]);
        assert_eq!(s.words("running"), vec![vec!["run".to_owned()]]);
    }
}
