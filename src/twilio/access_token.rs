//! Twilio access tokens for the Voice JavaScript SDK: a JWT (HS256) signed with an API key's secret, carrying
//! the identity the browser answers as and a voice grant (incoming calls to that identity; outgoing calls
//! through the channel's TwiML voice application). Twilio's own helper libraries write exactly these fields
//! (`cty: twilio-fpa;v=1`, `jti` = key SID and issue time, `iss` = key SID, `sub` = account SID).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// What a voice token is minted from.
pub struct VoiceGrant<'a> {
    pub account_sid: &'a str,
    pub api_key_sid: &'a str,
    pub api_key_secret: &'a str,
    /// The TwiML voice application (`AP…`) that outgoing browser calls go to.
    pub application_sid: &'a str,
    /// Who the browser is: the agent's id.
    pub identity: &'a str,
}

/// The signed token, valid from `now` (Unix seconds) for `ttl_secs`.
pub fn voice_token(g: &VoiceGrant<'_>, now: i64, ttl_secs: i64) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"});
    let payload = json!({
        "jti": format!("{}-{now}", g.api_key_sid),
        "iss": g.api_key_sid,
        "sub": g.account_sid,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_secs,
        "grants": {
            "identity": g.identity,
            "voice": {
                "incoming": {"allow": true},
                "outgoing": {"application_sid": g.application_sid},
            },
        },
    });
    let signed =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()));
    let mut mac = Hmac::<Sha256>::new_from_slice(g.api_key_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn grant() -> VoiceGrant<'static> {
        VoiceGrant {
            account_sid: "AC0123456789abcdef0123456789abcdef",
            api_key_sid: "SK0123456789abcdef0123456789abcdef",
            api_key_secret: "the key's secret",
            application_sid: "AP0123456789abcdef0123456789abcdef",
            identity: "0192f0c4-0000-7000-8000-000000000001",
        }
    }

    fn part(token: &str, i: usize) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_voice_token_carries_the_identity_and_the_voice_grant_twilio_reads() {
        let token = voice_token(&grant(), 1_700_000_000, 3600);
        let (header, payload) = (part(&token, 0), part(&token, 1));
        assert_eq!(header["cty"], "twilio-fpa;v=1");
        assert_eq!(header["alg"], "HS256");
        assert_eq!(payload["iss"], "SK0123456789abcdef0123456789abcdef");
        assert_eq!(payload["sub"], "AC0123456789abcdef0123456789abcdef");
        assert_eq!(payload["jti"], "SK0123456789abcdef0123456789abcdef-1700000000");
        assert_eq!(payload["exp"], 1_700_003_600);
        assert_eq!(payload["grants"]["identity"], "0192f0c4-0000-7000-8000-000000000001");
        assert_eq!(payload["grants"]["voice"]["incoming"]["allow"], true);
        assert_eq!(payload["grants"]["voice"]["outgoing"]["application_sid"], "AP0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_header_and_payload_with_the_key_secret() {
        let token = voice_token(&grant(), 1_700_000_000, 3600);
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"the key's secret").unwrap();
        mac.update(signed.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).expect("signed with the key's secret");
        let mut other = Hmac::<Sha256>::new_from_slice(b"another secret").unwrap();
        other.update(signed.as_bytes());
        assert!(other.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).is_err());
    }
}
