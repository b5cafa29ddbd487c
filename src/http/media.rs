//! `GET /media/{token}/{filename}`: uploaded files, served to Twilio (which fetches outbound media from the
//! public URL). No login: the 48-hex-digit token is the secret, and it stops working when the upload expires.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/media/{token}/{filename}", get(serve))
}

async fn serve(State(state): State<AppState>, Path((token, _filename)): Path<(String, String)>) -> AppResult<Response> {
    let gone = || AppError::not_found("not_found", "no such file, or its link expired");
    if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(gone());
    }
    let upload = store::uploads::by_token(&state.pool, &token).await?.ok_or_else(gone)?;
    let file = state.storage.get(&upload.storage_path).await.map_err(anyhow::Error::from)?.ok_or_else(gone)?;
    let mut response = Response::new(Body::from_stream(file.body));
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&upload.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    let ascii: String =
        upload.filename.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    // Shown in place only as a media type WhatsApp itself sends; anything else is a download.
    let disposition =
        if crate::domain::outbound_media::limit(&upload.content_type).is_ok() { "inline" } else { "attachment" };
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{ascii}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // An uploaded file is never a page of this origin: no script, no form, no same-origin access.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    Ok(response)
}
