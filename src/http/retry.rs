//! Runs an API request again when PostgreSQL aborted its transaction for a deadlock or a serialization failure
//! (`AppError` marks such an answer [`Transient`]): nothing of it was committed, so running it again is what the
//! client would do, only sooner and without a 500. At most [`ATTEMPTS`] runs, a few milliseconds apart with
//! jitter. The body is kept for the repeat when its declared length fits `http.max_body_bytes`; file uploads
//! (multipart) and bodies of unknown length are run once.

use crate::error::Transient;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Duration;

pub const ATTEMPTS: u32 = 4;

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/"));
    // Only a body whose declared length fits the limit is kept for a repeat; anything else (an upload, a body
    // too large or of unknown length) is run once, untouched, and its handler answers it as always.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let keepable = match declared {
        Some(n) => n <= state.settings.http.max_body_bytes,
        None => matches!(request.method(), &axum::http::Method::GET | &axum::http::Method::HEAD),
    };
    if is_multipart || !keepable {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.settings.http.max_body_bytes).await else {
        return crate::error::AppError::client(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than it said",
        )
        .into_response();
    };
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
    let (method, uri, version, headers) =
        (parts.method.clone(), parts.uri.clone(), parts.version, parts.headers.clone());
    // The first run is the request itself, with everything the layers before put in it (a WebSocket upgrade,
    // the caller); a repeat is rebuilt from what a handler reads.
    let mut response = next.clone().run(Request::from_parts(parts, Body::from(bytes.clone()))).await;
    let mut attempt = 1;
    while response.extensions().get::<Transient>().is_some() && attempt < ATTEMPTS {
        tracing::info!(attempt, %method, path = uri.path(), "running a request again after a deadlock");
        let jitter = rand::random::<u64>() % 20;
        tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
        attempt += 1;
        let mut again = Request::builder().method(method.clone()).uri(uri.clone()).version(version);
        if let Some(h) = again.headers_mut() {
            *h = headers.clone();
        }
        let mut again = again.body(Body::from(bytes.clone())).expect("parts of a valid request");
        if let Some(peer) = peer {
            again.extensions_mut().insert(peer);
        }
        response = next.clone().run(again).await;
    }
    response
}
