//! Consent to business-initiated messages, and WhatsApp's messaging limits, as pure rules.
//!
//! A business may write first (a template outside the 24-hour window) only to a customer who opted in on that
//! number, and never to one who opted out since. Customers opt out and back in by writing a keyword alone
//! ([`keyword`]): STOP / START and their equivalents in the languages our customers' customers write. Twilio's
//! error 21610 (the recipient unsubscribed) is an opt-out too.
//!
//! Each number may reach at most its tier's number of unique customers with business-initiated messages in a
//! rolling 24 hours ([`Tier::cap`]); a customer reached again within those 24 hours does not count twice, and
//! replies inside a window the customer opened never count.

use super::conversation::text_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// A customer's consent on a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptInState {
    OptedIn,
    OptedOut,
}

text_enum!(OptInState { OptedIn => "opted_in", OptedOut => "opted_out" });

/// Where a consent change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptInSource {
    /// Recorded through the API (a company's system, an admin).
    Api,
    /// A CSV import.
    Import,
    /// The customer wrote a STOP or START keyword.
    Keyword,
    /// The customer asked in a conversation (recorded by the agent who saw it).
    Inbound,
    /// Twilio answered 21610: the customer unsubscribed.
    Twilio,
}

text_enum!(OptInSource {
    Api => "api",
    Import => "import",
    Keyword => "keyword",
    Inbound => "inbound",
    Twilio => "twilio",
});

/// Whether a business-initiated message may go to a customer whose latest consent on the number is `latest`:
/// only after an opt-in that no opt-out followed.
pub fn may_write_first(latest: Option<OptInState>) -> bool {
    latest == Some(OptInState::OptedIn)
}

/// Whether an agent may start a conversation: anyone who has not opted out (an agent's template start is a
/// one-to-one service message, not a campaign; the customer's "stop" still wins).
pub fn agent_may_start(latest: Option<OptInState>) -> bool {
    latest != Some(OptInState::OptedOut)
}

/// A keyword found: what the customer asked for, and the language of the confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub state: OptInState,
    pub language: &'static str,
}

/// `(word, state, language)`, words in the folded form [`fold`] gives. Words that are also everyday answers in a
/// contact center ("cancel", "end", "yes", "no") are left out: a customer writing "cancel" about an order must
/// reach a person, not be unsubscribed.
const KEYWORDS: &[(&str, OptInState, &str)] = {
    use OptInState::{OptedIn as IN, OptedOut as OUT};
    &[
        ("stop", OUT, "en"),
        ("stopall", OUT, "en"),
        ("unsubscribe", OUT, "en"),
        ("optout", OUT, "en"),
        ("start", IN, "en"),
        ("unstop", IN, "en"),
        ("subscribe", IN, "en"),
        ("optin", IN, "en"),
        ("baja", OUT, "es"),
        ("parar", OUT, "es"),
        ("detener", OUT, "es"),
        ("alta", IN, "es"),
        ("comenzar", IN, "es"),
        ("sair", OUT, "pt"),
        ("descadastrar", OUT, "pt"),
        ("iniciar", IN, "pt"),
        ("voltar", IN, "pt"),
        ("afmelden", OUT, "nl"),
        ("stoppen", OUT, "nl"),
        ("aanmelden", IN, "nl"),
        ("stopp", OUT, "de"),
        ("abmelden", OUT, "de"),
        ("anmelden", IN, "de"),
        ("arret", OUT, "fr"),
        ("desabonner", OUT, "fr"),
        ("desinscrire", OUT, "fr"),
        ("demarrer", IN, "fr"),
        ("abonner", IN, "fr"),
        ("停止", OUT, "ja"),
        ("配信停止", OUT, "ja"),
        ("ストップ", OUT, "ja"),
        ("開始", IN, "ja"),
        ("配信開始", IN, "ja"),
        ("スタート", IN, "ja"),
    ]
};

/// The message as keywords are compared: trimmed, lower case, accents and surrounding punctuation removed,
/// inner spaces and hyphens dropped ("Opt-out!" → "optout", "Arrêt" → "arret").
fn fold(text: &str) -> String {
    let trimmed = text.trim().trim_matches(|c: char| c.is_ascii_punctuation() || "¡¿。！".contains(c));
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars().flat_map(char::to_lowercase) {
        let plain = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            ' ' | '-' | '_' => continue,
            other => other,
        };
        out.push(plain);
    }
    out
}

/// The keyword a message is, when it is one alone (a sentence that contains "stop" is not a request to stop).
/// `extra_stop` and `extra_start` are an installation's own words, compared folded like the built-in ones.
pub fn keyword(text: &str, extra_stop: &[String], extra_start: &[String]) -> Option<Keyword> {
    if text.len() > 40 {
        return None;
    }
    let folded = fold(text);
    if folded.is_empty() {
        return None;
    }
    if let Some((_, state, language)) = KEYWORDS.iter().find(|(w, _, _)| *w == folded) {
        return Some(Keyword { state: *state, language });
    }
    let own = |words: &[String]| words.iter().any(|w| fold(w) == folded);
    if own(extra_stop) {
        return Some(Keyword { state: OptInState::OptedOut, language: "" });
    }
    if own(extra_start) {
        return Some(Keyword { state: OptInState::OptedIn, language: "" });
    }
    None
}

/// An installation's own keywords (`notifications.stop_keywords`, `notifications.start_keywords`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnWords {
    pub stop: Vec<String>,
    pub start: Vec<String>,
}

impl OwnWords {
    /// [`keyword`] with these words besides the built-in ones.
    pub fn keyword(&self, text: &str) -> Option<Keyword> {
        keyword(text, &self.stop, &self.start)
    }
}

/// The confirmation sent after a keyword, in its language (English otherwise).
pub fn confirmation(k: Keyword) -> &'static str {
    use OptInState::{OptedIn, OptedOut};
    match (k.state, k.language) {
        (OptedOut, "es") => "Has dejado de recibir mensajes de este número. Responde ALTA para volver a recibirlos.",
        (OptedIn, "es") => "Volverás a recibir mensajes de este número. Responde BAJA para dejar de recibirlos.",
        (OptedOut, "pt") => "Você não receberá mais mensagens deste número. Responda INICIAR para voltar a recebê-las.",
        (OptedIn, "pt") => "Você voltará a receber mensagens deste número. Responda SAIR para parar.",
        (OptedOut, "nl") => "Je ontvangt geen berichten meer van dit nummer. Stuur AANMELDEN om ze weer te ontvangen.",
        (OptedIn, "nl") => "Je ontvangt weer berichten van dit nummer. Stuur STOP om te stoppen.",
        (OptedOut, "de") => {
            "Sie erhalten keine Nachrichten mehr von dieser Nummer. Antworten Sie ANMELDEN, um sie wieder zu erhalten."
        }
        (OptedIn, "de") => {
            "Sie erhalten wieder Nachrichten von dieser Nummer. Antworten Sie STOPP, um sie abzubestellen."
        }
        (OptedOut, "fr") => {
            "Vous ne recevrez plus de messages de ce numéro. Répondez DEMARRER pour les recevoir à nouveau."
        }
        (OptedIn, "fr") => "Vous recevrez à nouveau les messages de ce numéro. Répondez ARRET pour les arrêter.",
        (OptedOut, "ja") => "この番号からのメッセージの配信を停止しました。再開するには「開始」と返信してください。",
        (OptedIn, "ja") => "この番号からのメッセージの配信を再開しました。停止するには「停止」と返信してください。",
        (OptedOut, _) => "You will no longer receive messages from this number. Reply START to receive them again.",
        (OptedIn, _) => "You will receive messages from this number again. Reply STOP to stop them.",
    }
}

/// Twilio's error for a recipient who unsubscribed from the sender.
pub const TWILIO_UNSUBSCRIBED: i32 = 21610;

/// A number's messaging limit tier, as WhatsApp assigns it to the business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 250 unique customers in 24 hours: an unverified business (the default).
    #[serde(rename = "tier_250")]
    Tier250,
    #[serde(rename = "tier_1k")]
    Tier1k,
    #[serde(rename = "tier_10k")]
    Tier10k,
    #[serde(rename = "tier_100k")]
    Tier100k,
    Unlimited,
}

text_enum!(Tier {
    Tier250 => "tier_250",
    Tier1k => "tier_1k",
    Tier10k => "tier_10k",
    Tier100k => "tier_100k",
    Unlimited => "unlimited",
});

impl Tier {
    /// The unique customers it may reach in a rolling 24 hours; `None`: no cap.
    pub fn cap(self) -> Option<i64> {
        match self {
            Self::Tier250 => Some(250),
            Self::Tier1k => Some(1_000),
            Self::Tier10k => Some(10_000),
            Self::Tier100k => Some(100_000),
            Self::Unlimited => None,
        }
    }
}

/// Whether a message to a customer counts towards the limit: it is business-initiated, which is any message
/// sent while the customer has no open 24-hour window.
pub fn counts_towards_limit(window_open: bool) -> bool {
    !window_open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(text: &str) -> Option<(OptInState, &'static str)> {
        keyword(text, &[], &[]).map(|k| (k.state, k.language))
    }

    #[test]
    fn a_keyword_alone_in_any_case_with_punctuation_is_recognised() {
        assert_eq!(kw("STOP"), Some((OptInState::OptedOut, "en")));
        assert_eq!(kw("  stop.  "), Some((OptInState::OptedOut, "en")));
        assert_eq!(kw("Start!"), Some((OptInState::OptedIn, "en")));
        assert_eq!(kw("Opt-out"), Some((OptInState::OptedOut, "en")));
    }

    #[test]
    fn the_six_languages_and_their_accents_are_understood() {
        assert_eq!(kw("Baja"), Some((OptInState::OptedOut, "es")));
        assert_eq!(kw("SAIR"), Some((OptInState::OptedOut, "pt")));
        assert_eq!(kw("afmelden"), Some((OptInState::OptedOut, "nl")));
        assert_eq!(kw("Stopp"), Some((OptInState::OptedOut, "de")));
        assert_eq!(kw("Arrêt"), Some((OptInState::OptedOut, "fr")));
        assert_eq!(kw("Démarrer"), Some((OptInState::OptedIn, "fr")));
        assert_eq!(kw("配信停止"), Some((OptInState::OptedOut, "ja")));
        assert_eq!(kw("開始"), Some((OptInState::OptedIn, "ja")));
    }

    #[test]
    fn a_sentence_containing_a_keyword_is_not_one() {
        assert_eq!(kw("please stop the delivery"), None);
        assert_eq!(kw("can you start my order"), None);
        assert_eq!(kw(""), None);
    }

    #[test]
    fn everyday_answers_are_not_keywords() {
        for word in ["cancel", "end", "yes", "no", "quit", "cancelar"] {
            assert_eq!(kw(word), None, "{word}");
        }
    }

    #[test]
    fn an_installations_own_words_count_too() {
        let k = keyword("Genoeg!", &["genoeg".into()], &["meer".into()]).unwrap();
        assert_eq!(k.state, OptInState::OptedOut);
        assert_eq!(keyword("MEER", &["genoeg".into()], &["meer".into()]).unwrap().state, OptInState::OptedIn);
    }

    #[test]
    fn the_confirmation_is_in_the_keywords_language() {
        let k = keyword("baja", &[], &[]).unwrap();
        assert!(confirmation(k).contains("ALTA"));
        assert!(confirmation(keyword("stop", &[], &[]).unwrap()).contains("START"));
    }

    #[test]
    fn only_a_standing_opt_in_lets_the_business_write_first() {
        assert!(!may_write_first(None));
        assert!(!may_write_first(Some(OptInState::OptedOut)));
        assert!(may_write_first(Some(OptInState::OptedIn)));
    }

    #[test]
    fn agents_may_start_unless_the_customer_opted_out() {
        assert!(agent_may_start(None));
        assert!(agent_may_start(Some(OptInState::OptedIn)));
        assert!(!agent_may_start(Some(OptInState::OptedOut)));
    }

    #[test]
    fn each_tier_caps_as_whatsapp_does_and_unlimited_has_no_cap() {
        assert_eq!(Tier::Tier250.cap(), Some(250));
        assert_eq!(Tier::Tier100k.cap(), Some(100_000));
        assert_eq!(Tier::Unlimited.cap(), None);
        assert_eq!("tier_1k".parse::<Tier>(), Ok(Tier::Tier1k));
    }

    #[test]
    fn only_messages_outside_a_window_count_towards_the_limit() {
        assert!(counts_towards_limit(false));
        assert!(!counts_towards_limit(true));
    }
}
