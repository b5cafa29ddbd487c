//! TwiML for WhatsApp calls: the verbs Switchboard answers a voice webhook with, written as Twilio spells them
//! (`<Say>`, `<Play>`, `<Pause>`, `<Enqueue>`, `<Dial>`, `<Leave>`, `<Hangup>`, `<Reject>`), by an XML writer so that
//! text and URLs are always escaped.

use quick_xml::events::{BytesDecl, Event};
use quick_xml::Writer;

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Text spoken in `language` (a Twilio voice language such as `pt-BR`, see [`say_language`]).
    Say {
        text: String,
        language: Option<&'static str>,
    },
    /// An audio file, played once.
    Play {
        url: String,
    },
    Pause {
        secs: u32,
    },
    /// Puts the caller in a Twilio queue named `name`. Twilio asks `wait_url` what to play while they wait
    /// (and again when that ends), and `action` once they leave the queue.
    Enqueue {
        name: String,
        wait_url: String,
        action: String,
    },
    /// Connects this leg to the caller waiting in the Twilio queue `name` (`<Dial><Queue>`).
    DialQueue {
        name: String,
    },
    /// Calls a customer on WhatsApp from the business's sender (`<Dial callerId="whatsapp:+…"><WhatsApp>`):
    /// Twilio posts `status_callback` when they answer and the `<Dial>`'s `action` when the call with them ends.
    DialWhatsApp {
        /// The business's sender, `whatsapp:+…`.
        caller_id: String,
        /// The customer, E.164.
        to: String,
        action: String,
        status_callback: String,
    },
    /// From a wait URL: the caller leaves the queue (Twilio then asks the `<Enqueue>`'s action).
    Leave,
    Hangup,
    /// The call is refused before it is answered (the caller hears that it is not taken).
    Reject,
}

/// A whole TwiML document: `<Response>` with the verbs in order.
pub fn render(verbs: &[Verb]) -> String {
    let mut w = Writer::new(Vec::new());
    let written: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("Response").write_inner_content(|w| {
            for verb in verbs {
                match verb {
                    Verb::Say { text, language } => {
                        let e = w.create_element("Say");
                        match language {
                            Some(l) => e.with_attribute(("language", *l)).write_text_content(text_event(text))?,
                            None => e.write_text_content(text_event(text))?,
                        };
                    }
                    Verb::Play { url } => {
                        w.create_element("Play").write_text_content(text_event(url))?;
                    }
                    Verb::Pause { secs } => {
                        w.create_element("Pause")
                            .with_attribute(("length", secs.to_string().as_str()))
                            .write_empty()?;
                    }
                    Verb::Enqueue { name, wait_url, action } => {
                        w.create_element("Enqueue")
                            .with_attributes([
                                ("waitUrl", wait_url.as_str()),
                                ("waitUrlMethod", "POST"),
                                ("action", action.as_str()),
                                ("method", "POST"),
                            ])
                            .write_text_content(text_event(name))?;
                    }
                    Verb::DialQueue { name } => {
                        w.create_element("Dial").write_inner_content(|w| {
                            w.create_element("Queue").write_text_content(text_event(name))?;
                            Ok(())
                        })?;
                    }
                    Verb::DialWhatsApp { caller_id, to, action, status_callback } => {
                        w.create_element("Dial")
                            .with_attributes([
                                ("callerId", caller_id.as_str()),
                                ("action", action.as_str()),
                                ("method", "POST"),
                            ])
                            .write_inner_content(|w| {
                                w.create_element("WhatsApp")
                                    .with_attributes([
                                        ("statusCallback", status_callback.as_str()),
                                        ("statusCallbackEvent", "answered"),
                                        ("statusCallbackMethod", "POST"),
                                    ])
                                    .write_text_content(text_event(to))?;
                                Ok(())
                            })?;
                    }
                    Verb::Leave => {
                        w.create_element("Leave").write_empty()?;
                    }
                    Verb::Hangup => {
                        w.create_element("Hangup").write_empty()?;
                    }
                    Verb::Reject => {
                        w.create_element("Reject").with_attribute(("reason", "rejected")).write_empty()?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(())
    })();
    written.expect("writing XML to memory cannot fail");
    String::from_utf8(w.into_inner()).expect("the XML writer writes UTF-8")
}

fn text_event(text: &str) -> quick_xml::events::BytesText<'_> {
    quick_xml::events::BytesText::new(text)
}

/// The `<Say>` language for a number's language tag: the tag itself when it names a region, else the region
/// Twilio's voices speak it in most (`pt` → `pt-BR`); `None` (Twilio's default, English) for a language
/// without a voice here.
pub fn say_language(tag: Option<&str>) -> Option<&'static str> {
    let tag = tag?.replace('_', "-");
    const VOICES: &[&str] = &[
        "en-US", "en-GB", "en-AU", "en-IN", "es-ES", "es-MX", "es-US", "pt-BR", "pt-PT", "nl-NL", "nl-BE", "ja-JP",
        "fr-FR", "fr-CA", "de-DE", "it-IT",
    ];
    if let Some(exact) = VOICES.iter().find(|v| v.eq_ignore_ascii_case(&tag)) {
        return Some(exact);
    }
    let primary = tag.split('-').next()?.to_ascii_lowercase();
    match primary.as_str() {
        "en" => Some("en-US"),
        "es" => Some("es-ES"),
        "pt" => Some("pt-BR"),
        "nl" => Some("nl-NL"),
        "ja" => Some("ja-JP"),
        "fr" => Some("fr-FR"),
        "de" => Some("de-DE"),
        "it" => Some("it-IT"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_a_document_with_each_verb_in_order() {
        let xml = render(&[
            Verb::Say { text: "Olá".into(), language: Some("pt-BR") },
            Verb::Enqueue {
                name: "q1".into(),
                wait_url: "https://sb.example/wait?a=1&b=2".into(),
                action: "https://sb.example/left".into(),
            },
        ]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"pt-BR\">Olá</Say>\
             <Enqueue waitUrl=\"https://sb.example/wait?a=1&amp;b=2\" waitUrlMethod=\"POST\" \
             action=\"https://sb.example/left\" method=\"POST\">q1</Enqueue></Response>"
        );
    }

    #[test]
    fn text_is_escaped() {
        let xml = render(&[Verb::Say { text: "<Hangup/> & \"you\"".into(), language: None }]);
        assert!(xml.contains("<Say>&lt;Hangup/&gt; &amp; &quot;you&quot;</Say>"), "{xml}");
    }

    #[test]
    fn empty_verbs_are_self_closing() {
        let xml = render(&[Verb::DialQueue { name: "call-1".into() }]);
        assert!(xml.ends_with("<Response><Dial><Queue>call-1</Queue></Dial></Response>"), "{xml}");
        let xml = render(&[Verb::Pause { secs: 20 }, Verb::Leave, Verb::Hangup, Verb::Reject]);
        assert!(
            xml.ends_with("<Response><Pause length=\"20\"/><Leave/><Hangup/><Reject reason=\"rejected\"/></Response>")
        );
    }

    #[test]
    fn a_business_call_dials_the_customer_on_whatsapp_from_the_sender() {
        let xml = render(&[Verb::DialWhatsApp {
            caller_id: "whatsapp:+558551234567".into(),
            to: "+555551234567".into(),
            action: "https://sb.example/dialed".into(),
            status_callback: "https://sb.example/reached".into(),
        }]);
        assert!(
            xml.ends_with(
                "<Response><Dial callerId=\"whatsapp:+558551234567\" action=\"https://sb.example/dialed\" method=\"POST\">\
                 <WhatsApp statusCallback=\"https://sb.example/reached\" statusCallbackEvent=\"answered\" \
                 statusCallbackMethod=\"POST\">+555551234567</WhatsApp></Dial></Response>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_say_language_is_a_voice_twilio_has() {
        assert_eq!(say_language(Some("pt")), Some("pt-BR"));
        assert_eq!(say_language(Some("pt-pt")), Some("pt-PT"));
        assert_eq!(say_language(Some("es_MX")), Some("es-MX"));
        assert_eq!(say_language(Some("ja")), Some("ja-JP"));
        assert_eq!(say_language(Some("tlh")), None);
        assert_eq!(say_language(None), None);
    }
}
