//! The TwiML the sandbox's calls play: read into the verbs it acts on.

use quick_xml::events::Event;
use std::collections::HashMap;

/// A TwiML verb as the sandbox plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Say(String),
    Play(String),
    Pause(u64),
    Enqueue { name: String, wait_url: String, action: String },
    DialQueue(String),
    DialWhatsApp { to: String, caller_id: String, action: Option<String>, status_callback: Option<String> },
    Leave,
    Hangup,
    Reject,
}

/// Reads a TwiML document into the verbs the sandbox plays; anything it does not know is skipped.
pub fn parse(xml: &str) -> Result<Vec<Heard>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    // The open elements below <Response>: (name, attributes, text).
    let mut stack: Vec<(String, HashMap<String, String>, String)> = Vec::new();
    let mut dial: Option<HashMap<String, String>> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("the TwiML is not XML: {e}"))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
            let attrs: HashMap<String, String> = e
                .attributes()
                .filter_map(|a| a.ok())
                .map(|a| {
                    let value = a.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                    (String::from_utf8_lossy(a.key.as_ref()).into_owned(), value)
                })
                .collect();
            if name == "Dial" {
                dial = Some(attrs.clone());
            }
            stack.push((name, attrs, String::new()));
            if !empty {
                continue;
            }
        }
        match event {
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&t.xml_content().map_err(|e| e.to_string())?);
                }
                continue;
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(match &*r {
                        b"amp" => "&",
                        b"lt" => "<",
                        b"gt" => ">",
                        b"quot" => "\"",
                        _ => "'",
                    });
                }
                continue;
            }
            Event::Eof => break,
            Event::End(_) | Event::Empty(_) => {}
            _ => continue,
        }
        let Some((name, attrs, text)) = stack.pop() else { continue };
        let text = text.trim().to_owned();
        match name.as_str() {
            "Say" => out.push(Heard::Say(text)),
            "Play" => out.push(Heard::Play(text)),
            "Pause" => out.push(Heard::Pause(attrs.get("length").and_then(|l| l.parse().ok()).unwrap_or(1))),
            "Enqueue" => out.push(Heard::Enqueue {
                name: text,
                wait_url: attrs.get("waitUrl").cloned().unwrap_or_default(),
                action: attrs.get("action").cloned().unwrap_or_default(),
            }),
            "Queue" => out.push(Heard::DialQueue(text)),
            "WhatsApp" => {
                let d = dial.clone().unwrap_or_default();
                out.push(Heard::DialWhatsApp {
                    to: text,
                    caller_id: d.get("callerId").cloned().unwrap_or_default(),
                    action: d.get("action").cloned(),
                    status_callback: attrs.get("statusCallback").cloned(),
                });
            }
            "Leave" => out.push(Heard::Leave),
            "Hangup" => out.push(Heard::Hangup),
            "Reject" => out.push(Heard::Reject),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_is_read_into_what_the_sandbox_plays() {
        let xml =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"pt-BR\">Olá &amp; bem-vindo</Say>\
                   <Enqueue waitUrl=\"https://x/wait\" action=\"https://x/left\">call-1</Enqueue><Pause length=\"20\"/>\
                   <Dial><Queue>call-2</Queue></Dial><Dial callerId=\"whatsapp:+1\" action=\"https://x/d\">\
                   <WhatsApp statusCallback=\"https://x/r\">+2</WhatsApp></Dial><Leave/><Hangup/></Response>";
        assert_eq!(
            parse(xml).unwrap(),
            vec![
                Heard::Say("Olá & bem-vindo".into()),
                Heard::Enqueue {
                    name: "call-1".into(),
                    wait_url: "https://x/wait".into(),
                    action: "https://x/left".into()
                },
                Heard::Pause(20),
                Heard::DialQueue("call-2".into()),
                Heard::DialWhatsApp {
                    to: "+2".into(),
                    caller_id: "whatsapp:+1".into(),
                    action: Some("https://x/d".into()),
                    status_callback: Some("https://x/r".into()),
                },
                Heard::Leave,
                Heard::Hangup,
            ]
        );
        assert!(parse("<Response><Say>").is_err() || parse("<Response><Say>").unwrap().is_empty());
    }
}
