//! What a WhatsApp caller hears while their call waits for an agent: the queue's waiting strategy, and the
//! decision, each time Twilio asks, between holding on and giving up.
//!
//! The seed is emphatic that a call answered without a waiting strategy is silent, which callers take for a
//! failed call. So there is always one: a queue without its own uses [`WaitingStrategy::default`], and every text
//! left out falls back to the built-in phrase in the number's language (English, Spanish, Portuguese, Dutch or
//! Japanese; English for any other).
//!
//! Edge cases:
//! - The maximum wait is checked whenever Twilio asks what to play next, so with hold music a caller may wait up
//!   to one more track (or [`PAUSE_SECS`] of spoken waiting) past it.
//! - A position is announced only when known (a call's place among the waiting calls of its queue) and only
//!   every [`ANNOUNCE_EVERY_SECS`], so a caller is not told the same number on every loop.

use super::Invalid;
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

/// The shortest and longest maximum wait an admin may set, in seconds.
pub const MAX_WAIT_RANGE: std::ops::RangeInclusive<u32> = 30..=3600;
/// The maximum wait when the strategy sets none: five minutes.
pub const DEFAULT_MAX_WAIT_SECS: u32 = 300;
/// Silence between two spoken waiting messages when there is no hold music.
pub const PAUSE_SECS: u32 = 20;
/// How often the caller's position is said again.
pub const ANNOUNCE_EVERY_SECS: u32 = 60;
const MAX_TEXT: usize = 1000;

/// A queue's waiting strategy for calls. Every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitingStrategy {
    /// Said once when the call enters the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// An `https` audio file (MP3 or WAV) played while the caller waits; left out: the waiting message is
    /// spoken, then a short silence, over and over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub hold_music_url: Option<Url>,
    /// Said between the pieces of hold music (or on its own without music).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_message: Option<String>,
    /// Tell the caller their place in the queue (at most once a minute).
    #[serde(default)]
    pub announce_position: bool,
    /// 30 to 3,600 seconds; left out: 300. After it, the caller hears `max_wait_message`, the call ends as
    /// missed and the conversation waits in the queue for someone to call back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_message: Option<String>,
    /// Said to a caller outside the queue's business hours, before the call ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_message: Option<String>,
}

impl WaitingStrategy {
    /// Checks an admin's strategy (`at` names it in the request, e.g. `waiting_strategy`); texts are trimmed
    /// and an empty text is the same as none.
    pub fn check(mut self, at: &str) -> Result<Self, Invalid> {
        for (name, text) in [
            ("greeting", &mut self.greeting),
            ("waiting_message", &mut self.waiting_message),
            ("max_wait_message", &mut self.max_wait_message),
            ("closed_message", &mut self.closed_message),
        ] {
            *text = text.take().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
            if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
                return Err(Invalid::new(format!("{at}.{name}"), format!("{name} is at most {MAX_TEXT} characters")));
            }
        }
        if let Some(url) = &self.hold_music_url {
            if url.scheme() != "https" {
                return Err(Invalid::new(
                    format!("{at}.hold_music_url"),
                    "hold_music_url must be an https URL that Twilio can fetch",
                ));
            }
        }
        if let Some(secs) = self.max_wait_secs {
            if !MAX_WAIT_RANGE.contains(&secs) {
                return Err(Invalid::new(
                    format!("{at}.max_wait_secs"),
                    format!("max_wait_secs must be from {} to {}", MAX_WAIT_RANGE.start(), MAX_WAIT_RANGE.end()),
                ));
            }
        }
        Ok(self)
    }

    pub fn max_wait_secs(&self) -> u32 {
        self.max_wait_secs.unwrap_or(DEFAULT_MAX_WAIT_SECS)
    }
}

/// The built-in phrases, in one of the seeds' languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phrases {
    pub greeting: &'static str,
    pub waiting: &'static str,
    /// With `{position}`.
    pub position: &'static str,
    pub max_wait: &'static str,
    pub closed: &'static str,
}

/// The built-in phrases for a language tag (`pt-BR` reads as `pt`); English for a language without them.
pub fn phrases(language: Option<&str>) -> Phrases {
    let primary = language.and_then(|l| l.split(['-', '_']).next()).unwrap_or("en").to_ascii_lowercase();
    match primary.as_str() {
        "es" => Phrases {
            greeting: "Gracias por llamar. En breve le atenderá un agente.",
            waiting: "Todos nuestros agentes están ocupados. Por favor, no cuelgue.",
            position: "Su posición en la cola es {position}.",
            max_wait: "Lo sentimos, no hay ningún agente disponible. Le devolveremos la llamada lo antes posible.",
            closed: "Nuestro horario de atención ha terminado. Le devolveremos la llamada cuando volvamos a abrir.",
        },
        "pt" => Phrases {
            greeting: "Obrigado por ligar. Um atendente falará com você em breve.",
            waiting: "Todos os nossos atendentes estão ocupados. Por favor, aguarde.",
            position: "Sua posição na fila é {position}.",
            max_wait: "Desculpe, nenhum atendente está disponível. Retornaremos a sua ligação assim que possível.",
            closed: "Estamos fora do horário de atendimento. Retornaremos a sua ligação quando voltarmos.",
        },
        "nl" => Phrases {
            greeting: "Bedankt voor uw oproep. Een medewerker is zo bij u.",
            waiting: "Al onze medewerkers zijn in gesprek. Blijft u aan de lijn.",
            position: "U bent nummer {position} in de wachtrij.",
            max_wait: "Helaas is er geen medewerker beschikbaar. We bellen u zo snel mogelijk terug.",
            closed: "We zijn op dit moment gesloten. We bellen u terug zodra we weer open zijn.",
        },
        "ja" => Phrases {
            greeting: "お電話ありがとうございます。まもなく担当者におつなぎします。",
            waiting: "ただいま担当者が対応中です。このままお待ちください。",
            position: "お客様の順番は{position}番目です。",
            max_wait: "申し訳ございません。ただいま対応できる担当者がおりません。折り返しご連絡いたします。",
            closed: "ただいま営業時間外です。営業時間内に折り返しご連絡いたします。",
        },
        _ => Phrases {
            greeting: "Thank you for calling. An agent will be with you shortly.",
            waiting: "All our agents are busy. Please stay on the line.",
            position: "You are number {position} in the queue.",
            max_wait: "We are sorry, no agent is available. We will call you back as soon as we can.",
            closed: "We are closed at the moment. We will call you back when we are open again.",
        },
    }
}

/// What the caller hears when the call arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// The greeting, then the call waits in the queue.
    Wait { greeting: String },
    /// Out of hours: the closed message, then the call ends.
    Closed { message: String },
}

/// The arrival of a call at a queue that is open or closed now.
pub fn arrival(strategy: &WaitingStrategy, language: Option<&str>, open: bool) -> Arrival {
    let p = phrases(language);
    if open {
        Arrival::Wait { greeting: strategy.greeting.clone().unwrap_or_else(|| p.greeting.to_owned()) }
    } else {
        Arrival::Closed { message: strategy.closed_message.clone().unwrap_or_else(|| p.closed.to_owned()) }
    }
}

/// What a caller hears once the maximum wait has passed.
pub fn max_wait_message(strategy: &WaitingStrategy, language: Option<&str>) -> String {
    strategy.max_wait_message.clone().unwrap_or_else(|| phrases(language).max_wait.to_owned())
}

/// One turn of waiting: what the caller hears next, or that the wait is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Keep waiting: an announcement of the position (when due), the waiting message, then the music or a
    /// pause of [`PAUSE_SECS`].
    On { announcement: Option<String>, message: String, music: Option<Url> },
    /// The maximum wait has passed: this message, then the call ends as missed.
    GiveUp { message: String },
}

/// The next turn for a call that has waited `waited_secs` at `position` (1 = next) in its queue; `announced_at`:
/// the wait time at which the position was last said, if ever.
pub fn hold(
    strategy: &WaitingStrategy,
    language: Option<&str>,
    waited_secs: u32,
    position: Option<u32>,
    announced_at: Option<u32>,
) -> Hold {
    let p = phrases(language);
    if waited_secs >= strategy.max_wait_secs() {
        return Hold::GiveUp { message: max_wait_message(strategy, language) };
    }
    let due = announced_at.is_none_or(|at| waited_secs >= at.saturating_add(ANNOUNCE_EVERY_SECS));
    let announcement = position
        .filter(|_| strategy.announce_position && due)
        .map(|n| p.position.replace("{position}", &n.to_string()));
    Hold::On {
        announcement,
        message: strategy.waiting_message.clone().unwrap_or_else(|| p.waiting.to_owned()),
        music: strategy.hold_music_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn music() -> Url {
        "https://music.example.com/hold.mp3".parse().unwrap()
    }

    #[test]
    fn without_a_strategy_the_caller_still_hears_a_greeting_and_a_waiting_message() {
        let none = WaitingStrategy::default();
        assert_eq!(arrival(&none, None, true), Arrival::Wait { greeting: phrases(None).greeting.into() });
        let Hold::On { message, .. } = hold(&none, None, 0, Some(1), None) else { panic!("gave up at once") };
        assert!(!message.is_empty());
    }

    #[test]
    fn the_built_in_phrases_are_in_the_numbers_language_and_english_otherwise() {
        assert!(phrases(Some("pt-BR")).greeting.starts_with("Obrigado"));
        assert!(phrases(Some("ES")).greeting.starts_with("Gracias"));
        assert_eq!(phrases(Some("de")), phrases(Some("en")));
        assert_eq!(phrases(None), phrases(Some("en-GB")));
        for lang in ["en", "es", "pt", "nl", "ja"] {
            assert!(phrases(Some(lang)).position.contains("{position}"), "{lang}");
        }
    }

    #[test]
    fn out_of_hours_the_caller_hears_the_closed_message() {
        let own = WaitingStrategy { closed_message: Some("Closed for lunch.".into()), ..Default::default() };
        assert_eq!(arrival(&own, None, false), Arrival::Closed { message: "Closed for lunch.".into() });
        assert_eq!(
            arrival(&WaitingStrategy::default(), Some("nl"), false),
            Arrival::Closed { message: phrases(Some("nl")).closed.into() }
        );
    }

    #[test]
    fn the_wait_ends_at_the_maximum_wait_with_its_message() {
        let s = WaitingStrategy { max_wait_secs: Some(60), ..Default::default() };
        assert!(matches!(hold(&s, None, 59, None, None), Hold::On { .. }));
        assert_eq!(hold(&s, None, 60, None, None), Hold::GiveUp { message: phrases(None).max_wait.into() });
        assert!(matches!(hold(&WaitingStrategy::default(), None, 299, None, None), Hold::On { .. }));
        assert!(matches!(hold(&WaitingStrategy::default(), None, 300, None, None), Hold::GiveUp { .. }));
    }

    #[test]
    fn the_position_is_said_when_asked_for_and_at_most_once_a_minute() {
        let s = WaitingStrategy { announce_position: true, hold_music_url: Some(music()), ..Default::default() };
        let said = |h: Hold| match h {
            Hold::On { announcement, .. } => announcement,
            Hold::GiveUp { .. } => panic!("gave up"),
        };
        assert_eq!(said(hold(&s, None, 0, Some(3), None)).as_deref(), Some("You are number 3 in the queue."));
        assert_eq!(said(hold(&s, None, 30, Some(2), Some(0))), None);
        assert_eq!(said(hold(&s, None, 60, Some(2), Some(0))).as_deref(), Some("You are number 2 in the queue."));
        assert_eq!(said(hold(&s, None, 0, None, None)), None, "an unknown position is not said");
        let quiet = WaitingStrategy { announce_position: false, ..s };
        assert_eq!(said(hold(&quiet, None, 0, Some(3), None)), None);
    }

    #[test]
    fn hold_music_plays_when_the_strategy_has_it() {
        let s = WaitingStrategy { hold_music_url: Some(music()), ..Default::default() };
        assert!(matches!(hold(&s, None, 0, None, None), Hold::On { music: Some(m), .. } if m == music()));
    }

    #[test]
    fn a_strategy_is_checked_field_by_field() {
        let bad = |s: WaitingStrategy| s.check("waiting_strategy").unwrap_err().field;
        let http =
            WaitingStrategy { hold_music_url: Some("http://x.example/a.mp3".parse().unwrap()), ..Default::default() };
        assert_eq!(bad(http), "waiting_strategy.hold_music_url");
        assert_eq!(
            bad(WaitingStrategy { max_wait_secs: Some(10), ..Default::default() }),
            "waiting_strategy.max_wait_secs"
        );
        let long = WaitingStrategy { greeting: Some("a".repeat(1001)), ..Default::default() };
        assert_eq!(bad(long), "waiting_strategy.greeting");
        let blank = WaitingStrategy { greeting: Some("  ".into()), ..Default::default() }.check("w").unwrap();
        assert_eq!(blank.greeting, None, "an empty text is the same as none");
    }
}
