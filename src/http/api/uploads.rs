//! `POST /uploads`: a file to send as outbound media (multipart form, field `file`). The file is streamed to
//! the file store (`storage`), cut off at `outbound.max_upload_bytes`, and kept until it expires; a message refers to
//! it by id. Twilio fetches it from `PUBLIC_URL/media/{token}/{filename}` (see `http::media`).

use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::storage::PutError;
use crate::store::{self, uploads::Upload};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use rand::RngCore;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // Room for the multipart framing around the largest file.
    let limit = state.settings.outbound.max_upload_bytes + 64 * 1024;
    OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(limit))
}

#[allow(dead_code)]
#[derive(ToSchema)]
struct UploadForm {
    /// The file, with its filename and content type.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn too_large(limit: usize) -> AppError {
    AppError::client(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
        format!("the file is larger than {} MB, the most WhatsApp takes", limit / (1024 * 1024)),
    )
    .with_details(serde_json::json!({ "limit_bytes": limit }))
}

/// Uploads a file for a later message. Anyone who can send.
#[utoipa::path(post, path = "/uploads", tag = "conversations",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Upload)))]
async fn upload(
    State(state): State<AppState>,
    who: Principal,
    mut form: Multipart,
) -> AppResult<(StatusCode, Json<Upload>)> {
    let limit = state.settings.outbound.max_upload_bytes;
    let quota = state.settings.outbound.upload_quota_bytes;
    if store::uploads::held_bytes(&state.pool, who.user_id).await? as u64 >= quota {
        return Err(AppError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_quota_exceeded",
            format!("you hold {quota} bytes of uploads that have not expired: send or wait for them to expire first"),
        ));
    }
    let bad = |m: String| AppError::bad_request("invalid_upload", m);
    let field = loop {
        match form.next_field().await {
            Ok(Some(f)) if f.name() == Some("file") => break f,
            Ok(Some(_)) => continue,
            Ok(None) => return Err(bad("send the file as multipart/form-data in a field named \"file\"".into())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(limit)),
            Err(e) => return Err(bad(e.body_text())),
        }
    };
    let filename = clean_filename(field.file_name().unwrap_or("file"));
    let content_type = match field.content_type() {
        Some(t) if t != "application/octet-stream" && t.contains('/') => t.to_ascii_lowercase(),
        _ => guess_type(&filename).to_owned(),
    };
    let id = Uuid::now_v7();
    let relative = format!("uploads/{}/{}", &id.simple().to_string()[30..], id.simple());
    let stored = state.storage.put(&relative, field, limit as u64).await.map_err(|e| match e {
        PutError::TooLarge { .. } => too_large(limit),
        PutError::Source(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(limit),
        PutError::Source(e) => bad(e.body_text()),
        PutError::Store(e) => AppError::from(anyhow::Error::from(e)),
    })?;
    if stored.size == 0 {
        state.storage.delete(&relative).await.map_err(anyhow::Error::from)?;
        return Err(AppError::unprocessable("invalid_upload", "the file is empty").with_field("file"));
    }
    let mut token = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut token);
    let token = hex::encode(token);
    let new = store::uploads::NewUpload {
        id,
        token: &token,
        filename: &filename,
        content_type: &content_type,
        size_bytes: stored.size as i64,
        sha256: &stored.sha256,
        storage_path: &relative,
        uploaded_by: who.user_id,
        ttl_hours: state.settings.outbound.upload_ttl_hours,
    };
    let upload = store::uploads::insert(&state.pool, &new).await?;
    Ok((StatusCode::CREATED, Json(upload)))
}

/// The last path component, without control characters, at most 200 characters.
fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

/// A content type from the file's extension, for clients that send none.
fn guess_type(filename: &str) -> &'static str {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filenames_lose_their_directories_and_control_characters() {
        assert_eq!(super::clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(super::clean_filename("C:\\Users\\a\\foto 1.jpg"), "foto 1.jpg");
        assert_eq!(super::clean_filename("a\u{0}b\n.pdf"), "ab.pdf");
        assert_eq!(super::clean_filename(".."), "file");
        assert_eq!(super::guess_type("x.JPG"), "image/jpeg");
    }
}
