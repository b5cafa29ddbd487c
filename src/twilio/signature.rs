//! Twilio's webhook signature (`X-Twilio-Signature`), exactly as the official helper libraries compute it.
//!
//! The signed string is the URL Twilio requested (as configured in Twilio, query included and still
//! percent-encoded) followed by every POST parameter as `name` + `value`, names in byte order; a repeated name
//! contributes each of its distinct values in byte order. The signature is base64(HMAC-SHA1(auth token, string)).
//! A JSON body is not signed as parameters: the URL carries `bodySHA256`, the hex SHA-256 of the raw body, and
//! only the URL is signed. Because proxies and Twilio disagree about default ports, a request is accepted when the
//! signature matches the URL as configured, the URL with its port removed, or the URL with the scheme's default
//! port added. Every auth token the account currently accepts (the primary and, during rotation, the secondary)
//! is tried; comparisons are constant-time.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// The request header Twilio puts its signature in.
pub const HEADER: &str = "X-Twilio-Signature";

/// What Twilio signed besides the URL.
#[derive(Debug, Clone, Copy)]
pub enum SignedBody<'a> {
    /// `application/x-www-form-urlencoded` parameters, decoded, in arrival order, repeated names allowed.
    Form(&'a [(String, String)]),
    /// A raw JSON body, whose hash the URL's `bodySHA256` query parameter must carry.
    Json(&'a [u8]),
}

/// The signature Twilio would send for `url` and `params` under `token`.
pub fn compute(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, values) in group_sorted(params) {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Names in byte order, each with its distinct values in byte order.
fn group_sorted(params: &[(String, String)]) -> BTreeMap<&str, std::collections::BTreeSet<&str>> {
    let mut grouped: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name.as_str()).or_default().insert(value.as_str());
    }
    grouped
}

/// Whether `signature` is Twilio's for this request under any of `tokens`.
pub fn is_valid<S: AsRef<str>>(tokens: &[S], url: &str, body: SignedBody<'_>, signature: &str) -> bool {
    let params: &[(String, String)] = match body {
        SignedBody::Form(params) => params,
        SignedBody::Json(raw) => {
            if !body_hash_matches(url, raw) {
                return false;
            }
            &[]
        }
    };
    let given = signature.as_bytes();
    let mut valid = subtle::Choice::from(0);
    // Every candidate is computed and compared, so the time taken does not say which one matched.
    for candidate in url_candidates(url) {
        for token in tokens {
            let expected = compute(token.as_ref(), &candidate, params);
            valid |= expected.as_bytes().ct_eq(given);
        }
    }
    valid.into()
}

/// The lowercase hex SHA-256 of a body, as Twilio writes it into `bodySHA256`.
pub fn body_hash(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

fn body_hash_matches(url: &str, raw: &[u8]) -> bool {
    let Some(query) = url.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or(q)) else {
        return false;
    };
    let expected = body_hash(raw);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .is_some_and(|(_, v)| v.as_bytes().ct_eq(expected.as_bytes()).into())
}

/// The URL as given, without its port, and with the scheme's default port, without duplicates.
pub fn url_candidates(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    if let Some(parts) = UrlParts::split(url) {
        match parts.port {
            Some(_) => out.push(parts.with_port(None)),
            None => {
                if let Some(default) = parts.default_port() {
                    out.push(parts.with_port(Some(default)));
                }
            }
        }
    }
    out.dedup();
    out
}

/// A URL cut at its authority without any normalisation, so that the rest is kept byte for byte.
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let (scheme, after) = url.split_once("://")?;
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        // An IPv6 literal has colons inside brackets; the port is after the closing bracket.
        let (host, port) = match hostport.rfind(':') {
            Some(i) if !hostport[i..].contains(']') => (&hostport[..i], Some(&hostport[i + 1..])),
            _ => (hostport, None),
        };
        Some(Self { scheme, userinfo, host, port, rest })
    }

    fn default_port(&self) -> Option<&'static str> {
        match self.scheme.to_ascii_lowercase().as_str() {
            "https" => Some("443"),
            "http" => Some("80"),
            _ => None,
        }
    }

    fn with_port(&self, port: Option<&str>) -> String {
        let mut s = format!("{}://", self.scheme);
        if let Some(u) = self.userinfo {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(self.host);
        if let Some(p) = port {
            s.push(':');
            s.push_str(p);
        }
        s.push_str(self.rest);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn official() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn computes_the_official_signature() {
        assert_eq!(compute("12345", URL, &official()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn accepts_the_url_with_or_without_its_port() {
        let p = official();
        assert!(is_valid(&["12345"], URL, SignedBody::Form(&p), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        // Signed with :443, received without it.
        assert!(is_valid(&["12345"], URL, SignedBody::Form(&p), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        // Signed without a port, received with a non-default one.
        let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(is_valid(&["12345"], with_port, SignedBody::Form(&p), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn repeated_keys_are_deduplicated_and_sorted() {
        let p = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(compute("12345", URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn json_bodies_sign_the_url_and_carry_the_body_hash() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = body_hash(body);
        assert_eq!(hash, "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620");
        let url = format!("{URL}&bodySHA256={hash}");
        assert!(is_valid(&["12345"], &url, SignedBody::Json(body), "a9nBmqA0ju/hNViExpshrM61xv4="));
        let tampered = br#"{"property": "value", "boolean": false}"#;
        assert!(!is_valid(&["12345"], &url, SignedBody::Json(tampered), "a9nBmqA0ju/hNViExpshrM61xv4="));
        assert!(!is_valid(&["12345"], URL, SignedBody::Json(body), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn the_secondary_token_is_accepted_during_rotation() {
        let p = official();
        assert!(is_valid(&["new-token", "12345"], URL, SignedBody::Form(&p), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!is_valid(&["new-token"], URL, SignedBody::Form(&p), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!is_valid::<&str>(&[], URL, SignedBody::Form(&p), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn url_candidates_keep_userinfo_and_ipv6() {
        assert_eq!(
            url_candidates("https://user:pass@h.example/p?q=1"),
            vec!["https://user:pass@h.example/p?q=1", "https://user:pass@h.example:443/p?q=1"]
        );
        assert_eq!(url_candidates("http://[::1]:8080/x"), vec!["http://[::1]:8080/x", "http://[::1]/x"]);
        assert_eq!(url_candidates("http://[::1]/x"), vec!["http://[::1]/x", "http://[::1]:80/x"]);
    }
}
