//! The agent inbox: one page, its JavaScript modules and its style, embedded in the binary (no build step), talking to the JSON API and the `/api/v1/live` WebSocket. `/` and every `/inbox…` path
//! answer the page (the script reads the rest of the address); assets are revalidated by their content hash.
//!
//! The modules, each with one job: `app.js` (entry: log in, frame, routes), `state.js`, `dom.js`, `api.js`,
//! `live.js`, `list.js`, `thread.js`, `composer.js`, `actions.js`, `attention.js`, `i18n.js` (the catalogue's
//! mechanics), `lang-en.js` … `lang-ja.js` (its words, one module per language: English with the first load,
//! another when a person chooses it), `contact.js`, `contacts.js` and `reports.js` (each loaded when its screen
//! opens), `new.js`, `supervisor.js`, `admin.js`, `calls.js` (WhatsApp calls: the pop-up, the call bar, the agent's
//! side of calls the business places). The one third-party file is Twilio's Voice SDK (see `FILES`).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const INDEX: &str = include_str!("inbox/index.html");

/// Every asset under `/assets/`, by file name.
const FILES: &[(&str, &str)] = &[
    ("app.css", include_str!("inbox/app.css")),
    ("app.js", include_str!("inbox/app.js")),
    ("state.js", include_str!("inbox/state.js")),
    ("dom.js", include_str!("inbox/dom.js")),
    ("api.js", include_str!("inbox/api.js")),
    ("live.js", include_str!("inbox/live.js")),
    ("list.js", include_str!("inbox/list.js")),
    ("thread.js", include_str!("inbox/thread.js")),
    ("composer.js", include_str!("inbox/composer.js")),
    ("actions.js", include_str!("inbox/actions.js")),
    ("attention.js", include_str!("inbox/attention.js")),
    ("i18n.js", include_str!("inbox/i18n.js")),
    ("lang-en.js", include_str!("inbox/lang-en.js")),
    ("lang-es.js", include_str!("inbox/lang-es.js")),
    ("lang-pt.js", include_str!("inbox/lang-pt.js")),
    ("lang-nl.js", include_str!("inbox/lang-nl.js")),
    ("lang-ja.js", include_str!("inbox/lang-ja.js")),
    ("contact.js", include_str!("inbox/contact.js")),
    ("contacts.js", include_str!("inbox/contacts.js")),
    ("reports.js", include_str!("inbox/reports.js")),
    ("new.js", include_str!("inbox/new.js")),
    ("supervisor.js", include_str!("inbox/supervisor.js")),
    ("admin.js", include_str!("inbox/admin.js")),
    ("calls.js", include_str!("inbox/calls.js")),
    // Twilio's Voice JavaScript SDK, vendored by scripts/vendor-voice-sdk.sh (pinned, hash-checked), with its
    // licence; loaded only when an agent's browser answers a call of a real Twilio channel.
    ("twilio-voice.min.js", include_str!("inbox/vendor/twilio-voice.min.js")),
    ("twilio-voice.LICENSE.md", include_str!("inbox/vendor/twilio-voice.LICENSE.md")),
];

/// The page may load only its own script and style, and talk only to its own server; Twilio's Voice SDK (served
/// from here) also talks to Twilio's voice edge and plays its sounds from Twilio's CDN, and the page may use the
/// microphone for calls.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    media-src 'self' https://*.twiliocdn.com; connect-src 'self' wss://*.twilio.com https://*.twilio.com; \
    font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/inbox", get(page))
        .route("/inbox/{*rest}", get(page))
        .route("/assets/{name}", get(served_asset))
}

struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: String,
}

fn etag(body: &str) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(body.as_bytes()))[..20])
}

static ASSETS: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, body)| {
            let content_type = if name.ends_with(".css") {
                "text/css; charset=utf-8"
            } else if name.ends_with(".md") {
                "text/plain; charset=utf-8"
            } else {
                "text/javascript; charset=utf-8"
            };
            (*name, Asset { body, content_type, etag: etag(body) })
        })
        .collect()
});

async fn served_asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|(n, _)| *n == name) {
        Some((_, a)) => asset(&headers, a),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
static PAGE_ASSET: LazyLock<Asset> =
    LazyLock::new(|| Asset { body: INDEX, content_type: "text/html; charset=utf-8", etag: etag(INDEX) });

fn asset(headers: &HeaderMap, a: &'static Asset) -> Response {
    let etag = HeaderValue::from_str(&a.etag).expect("hex is a valid header value");
    let fresh = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == a.etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

async fn page(headers: HeaderMap) -> Response {
    let mut response = asset(&headers, &PAGE_ASSET);
    let h = response.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(POLICY));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}
