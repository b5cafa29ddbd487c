//! The webhook signature check against signatures that no code of ours computed: the official libraries' test
//! vectors, and signatures made at test time by Twilio's official Python library for realistic WhatsApp
//! payloads. Each accepted request is then changed by one character (in the URL, a parameter name or value,
//! or the token) and must be refused.

mod common;

use serde_json::{json, Value};
use switchboard::twilio::signature::{self, SignedBody};

#[derive(Clone)]
struct Case {
    name: &'static str,
    token: String,
    url: String,
    params: Vec<(String, String)>,
    body: Option<String>,
}

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    common::params(pairs)
}

fn whatsapp_text(body: &str, profile: &str) -> Vec<(String, String)> {
    p(&[
        ("SmsMessageSid", "SM8f2b3c4d5e6f708192a3b4c5d6e7f801"),
        ("NumMedia", "0"),
        ("ProfileName", profile),
        ("MessageType", "text"),
        ("SmsSid", "SM8f2b3c4d5e6f708192a3b4c5d6e7f801"),
        ("WaId", "5215512345678"),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", "whatsapp:+14155238886"),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", "SM8f2b3c4d5e6f708192a3b4c5d6e7f801"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "whatsapp:+5215512345678"),
        ("ApiVersion", "2010-04-01"),
        ("ChannelMetadata", r#"{"type":"whatsapp","data":{"context":{"ProfileName":"x","WaId":"5215512345678"}}}"#),
    ])
}

fn realistic_cases() -> Vec<Case> {
    let token = "9f4c2d1e8b7a6f5e4d3c2b1a0f9e8d7c".to_owned();
    let base = "https://support.example.com/webhooks/twilio/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f/messages";
    let mut media = whatsapp_text("Mira la foto 📷", "Zoë");
    media.extend(p(&[
        ("NumMedia", "2"),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME1",
        ),
        ("MediaContentType0", "image/jpeg"),
        (
            "MediaUrl1",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME2",
        ),
        ("MediaContentType1", "application/pdf"),
    ]));
    media.retain(|(k, v)| !(k == "NumMedia" && v == "0"));
    let mut button = whatsapp_text("Konfirmasi", "teknisee");
    button.extend(p(&[
        ("ButtonText", "Konfirmasi"),
        ("ButtonPayload", "{verifyEmail:asd@asd.com}"),
        ("OriginalRepliedMessageSid", "MM5c0123456789abcdef0123456789abcd"),
    ]));
    let mut repeated = whatsapp_text("repeated", "R");
    repeated.extend(p(&[
        ("MessagingBinding.Address", "+1415xxxxxxx"),
        ("MessagingBinding.Address", "+1325xxxxxxx"),
        ("MessagingBinding.Address", "+1415xxxxxxx"),
    ]));
    vec![
        Case {
            name: "UTF-8 name and body with emoji",
            token: token.clone(),
            url: base.into(),
            params: whatsapp_text("¡Hola! ¿Dónde está mi pedido? 🚚📦 日本語", "María José Ñúñez"),
            body: None,
        },
        Case {
            name: "empty Body",
            token: token.clone(),
            url: base.into(),
            params: whatsapp_text("", "Ana"),
            body: None,
        },
        Case { name: "media", token: token.clone(), url: base.into(), params: media, body: None },
        Case {
            name: "query string",
            token: token.clone(),
            url: format!("{base}?tenant=acme&x=a%20b&empty="),
            params: whatsapp_text("query", "Q"),
            body: None,
        },
        Case {
            name: "non-default port",
            token: token.clone(),
            url: base.replace("support.example.com", "support.example.com:8443"),
            params: whatsapp_text("port", "P"),
            body: None,
        },
        Case { name: "button reply", token: token.clone(), url: base.into(), params: button, body: None },
        Case { name: "repeated keys", token: token.clone(), url: base.into(), params: repeated, body: None },
        Case {
            name: "body with + & = % and newlines",
            token: token.clone(),
            url: base.into(),
            params: whatsapp_text("1+1=2 & 50% off\nline two\r\nthree", "X"),
            body: None,
        },
        Case {
            name: "JSON body",
            token: token.clone(),
            url: format!("{base}?foo=1"),
            params: vec![],
            body: Some(r#"{"MessageSid":"SM1","Body":"héllo"}"#.into()),
        },
    ]
}

/// Signs every case with Twilio's official Python library.
fn official_signatures(cases: &[Case]) -> Vec<(String, String)> {
    let python = std::env::var("SWITCHBOARD_TEST_PYTHON").expect(
        "SWITCHBOARD_TEST_PYTHON is not set: run tests/run.sh, which installs Twilio's official Python library",
    );
    let input: Vec<Value> = cases
        .iter()
        .map(|c| match &c.body {
            Some(b) => json!({ "token": c.token, "url": c.url, "body": b }),
            None => json!({ "token": c.token, "url": c.url, "params": c.params }),
        })
        .collect();
    let script = common::manifest_dir().join("tests/fixtures/twilio_sign.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the official library");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(serde_json::to_string(&input).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the official library failed");
    let signed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    signed
        .iter()
        .map(|s| (s["url"].as_str().unwrap().to_owned(), s["signature"].as_str().unwrap().to_owned()))
        .collect()
}

fn accepts(token: &str, url: &str, case: &Case, params: &[(String, String)], sig: &str) -> bool {
    match &case.body {
        Some(b) => signature::is_valid(&[token], url, SignedBody::Json(b.as_bytes()), sig),
        None => signature::is_valid(&[token], url, SignedBody::Form(params), sig),
    }
}

/// Every string that differs from `s` in exactly one character (each position replaced once).
fn one_char_changes(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len())
        .map(|i| {
            let mut c = chars.clone();
            c[i] = if c[i] == 'a' { 'b' } else { 'a' };
            c.into_iter().collect()
        })
        .collect()
}

#[test]
fn the_shared_vectors_from_the_official_libraries_validate() {
    let text =
        std::fs::read_to_string(common::manifest_dir().join("tests/fixtures/twilio-signature-vectors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 6);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let token = v["token"].as_str().unwrap();
        let url = v["url"].as_str().unwrap();
        let sig = v["signature"].as_str().unwrap();
        let params: Vec<(String, String)> = if let Some(list) = v["params_list"].as_array() {
            list.iter()
                .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].as_str().unwrap().to_owned()))
                .collect()
        } else {
            v["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, val)| (k.clone(), val.as_str().unwrap().to_owned()))
                .collect()
        };
        let valid = match v["body"].as_str() {
            Some(body) => signature::is_valid(&[token], url, SignedBody::Json(body.as_bytes()), sig),
            None => signature::is_valid(&[token], url, SignedBody::Form(&params), sig),
        };
        assert!(valid, "vector {name:?} must validate");
        // The port variants: a vector signed with a port also validates when the request arrives without it.
        if url.contains(":443/") || url.contains(":80/") {
            let stripped = url.replace(":443/", "/").replace(":80/", "/");
            assert!(
                signature::is_valid(&[token], &stripped, SignedBody::Form(&params), sig),
                "{name}: without its default port"
            );
        }
        assert!(!signature::is_valid(&["12346"], url, SignedBody::Form(&params), sig), "{name}: another token");
    }
}

#[test]
fn signatures_from_twilios_official_library_validate_and_any_one_character_change_is_refused() {
    let cases = realistic_cases();
    let signed = official_signatures(&cases);
    let mut checked = 0;
    for (case, (url, sig)) in cases.iter().zip(&signed) {
        let name = case.name;
        assert!(accepts(&case.token, url, case, &case.params, sig), "{name}: the official signature must validate");

        for changed in one_char_changes(url) {
            assert!(
                !accepts(&case.token, &changed, case, &case.params, sig),
                "{name}: URL changed to {changed} was accepted"
            );
            checked += 1;
        }
        for i in 0..case.params.len() {
            for changed in one_char_changes(&case.params[i].1) {
                let mut params = case.params.clone();
                params[i].1 = changed.clone();
                // A changed value that equals another value of the same repeated name signs the same string.
                let same_set = {
                    let set = |ps: &[(String, String)]| {
                        ps.iter()
                            .filter(|(k, _)| *k == case.params[i].0)
                            .map(|(_, v)| v.clone())
                            .collect::<std::collections::BTreeSet<_>>()
                    };
                    set(&params) == set(&case.params)
                };
                if !same_set {
                    assert!(
                        !accepts(&case.token, url, case, &params, sig),
                        "{name}: value of {} changed to {changed:?} was accepted",
                        case.params[i].0
                    );
                    checked += 1;
                }
            }
            for changed in one_char_changes(&case.params[i].0) {
                let mut params = case.params.clone();
                params[i].0 = changed.clone();
                assert!(
                    !accepts(&case.token, url, case, &params, sig),
                    "{name}: name {} changed to {changed:?} was accepted",
                    case.params[i].0
                );
                checked += 1;
            }
        }
        if let Some(body) = &case.body {
            for changed in one_char_changes(body) {
                let c = Case { body: Some(changed.clone()), ..case.clone() };
                assert!(!accepts(&case.token, url, &c, &[], sig), "{name}: body changed to {changed:?} was accepted");
                checked += 1;
            }
        }
        for changed in one_char_changes(&case.token) {
            assert!(!accepts(&changed, url, case, &case.params, sig), "{name}: token changed was accepted");
            checked += 1;
        }
        // A dropped parameter and an added one are refused too.
        if !case.params.is_empty() {
            assert!(
                !accepts(&case.token, url, case, &case.params[1..], sig),
                "{name}: a dropped parameter was accepted"
            );
            let mut extra = case.params.clone();
            extra.push(("Extra".into(), "1".into()));
            assert!(!accepts(&case.token, url, case, &extra, sig), "{name}: an added parameter was accepted");
        }
    }
    assert!(checked > 2000, "only {checked} mutations checked");
    eprintln!("checked {checked} one-character changes across {} official signatures", cases.len());
}

#[test]
fn repeated_keys_sign_the_same_in_either_order_like_the_node_library() {
    // twilio-node's test: {"MessagingBinding.Address": [both orders]} → the same signature.
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let a = p(&[("MessagingBinding.Address", "+1325xxxxxxx"), ("MessagingBinding.Address", "+1415xxxxxxx")]);
    let b = p(&[("MessagingBinding.Address", "+1415xxxxxxx"), ("MessagingBinding.Address", "+1325xxxxxxx")]);
    assert_eq!(signature::compute("12345", url, &a), "83O6e2vORAoJHUNzJjDWN1jz+BA=");
    assert_eq!(signature::compute("12345", url, &b), "83O6e2vORAoJHUNzJjDWN1jz+BA=");
    // twilio-node's special-character case: the URL's query carries `It%27s+amazing`, signed as received.
    let official = p(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]);
    let quoted = format!("{url}&Body=It%27s+amazing");
    assert!(signature::is_valid(&["12345"], &quoted, SignedBody::Form(&official), "TfZzewPq8wqrGlMfyAud8+/IvJ0="));
}
