//! Twilio's webhooks: `POST /webhooks/twilio/{channel}/messages` and `/status`, and for WhatsApp calls `/voice`
//! (a call arrives), `/voice/wait` (what a waiting caller hears next), `/voice/left` (the caller left the
//! queue), `/voice/status` (how the call ended), and for calls the business places `/voice/reached` (the
//! customer answered), `/voice/dialed` (the call with them ended), and `/voice/phone/{call}` (an agent's phone
//! picked up a call they took); the voice ones answer TwiML.
//!
//! A handler only ever sees a [`TwilioRequest`], which exists only once the channel was found and the
//! signature checked out, so no handler can forget to check. The checks run in this order: unknown channel 404,
//! missing signature 403, body too large 413, unsupported content type 415, malformed body 400, wrong
//! signature 403, deleted channel 410. Nothing is stored before all of them pass.

use crate::channels::ChannelConfig;
use crate::error::{AppError, AppResult};
use crate::metrics::WebhookKind;
use crate::state::AppState;
use crate::twilio::signature::{self, SignedBody};
use crate::twilio::webhook::Form;
use crate::twilio::EMPTY_TWIML;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{RequestPartsExt, Router};
use secrecy::ExposeSecret;
use std::sync::Arc;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/{channel}/messages", post(receive_message))
        .route("/webhooks/twilio/{channel}/status", post(receive_status))
        .route("/webhooks/twilio/{channel}/voice", post(call_arrives))
        .route("/webhooks/twilio/{channel}/voice/wait", post(call_waits))
        .route("/webhooks/twilio/{channel}/voice/left", post(call_left_queue))
        .route("/webhooks/twilio/{channel}/voice/status", post(call_status))
        .route("/webhooks/twilio/{channel}/voice/reached", post(customer_answered))
        .route("/webhooks/twilio/{channel}/voice/dialed", post(dial_ended))
        .route("/webhooks/twilio/{channel}/voice/phone/{call}", post(agent_phone_answers))
}

async fn agent_phone_answers(
    State(state): State<AppState>,
    Path(call): Path<(Uuid, Uuid)>,
    request: Result<TwilioRequest, AppError>,
) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::inbound::agent_phone(&state, &r.channel, call.1, &r.form).await
    };
    voice(answer.await)
}

async fn call_arrives(State(state): State<AppState>, request: Result<TwilioRequest, AppError>) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::inbound::arrive(&state, &r.channel, &r.form).await
    };
    voice(answer.await)
}

async fn call_waits(State(state): State<AppState>, request: Result<TwilioRequest, AppError>) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::inbound::wait(&state, &r.channel, &r.form).await
    };
    voice(answer.await)
}

async fn call_left_queue(
    State(state): State<AppState>,
    request: Result<TwilioRequest, AppError>,
) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::inbound::left(&state, &r.channel, &r.form).await
    };
    voice(answer.await)
}

async fn call_status(State(state): State<AppState>, request: Result<TwilioRequest, AppError>) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::inbound::status(&state, &r.channel, &r.form).await.map(|()| EMPTY_TWIML.to_owned())
    };
    voice(answer.await)
}

async fn customer_answered(
    State(state): State<AppState>,
    request: Result<TwilioRequest, AppError>,
) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::outbound::reached(&state, &r.channel, &r.form).await.map(|()| EMPTY_TWIML.to_owned())
    };
    voice(answer.await)
}

async fn dial_ended(State(state): State<AppState>, request: Result<TwilioRequest, AppError>) -> AppResult<Response> {
    let answer = async {
        let r = request?;
        crate::calling::outbound::dialed(&state, &r.channel, &r.form).await
    };
    voice(answer.await)
}

/// Counts a voice webhook and answers its TwiML.
fn voice(answer: AppResult<String>) -> AppResult<Response> {
    count(WebhookKind::Voice, &answer);
    answer.map(|xml| (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response())
}

async fn receive_message(
    State(state): State<AppState>,
    request: Result<TwilioRequest, AppError>,
) -> Result<impl IntoResponse, AppError> {
    let answer = async {
        let request = request?;
        crate::ingest::receive(&state, &request.channel, &request.form).await
    };
    counted(WebhookKind::Message, answer.await)
}

async fn receive_status(
    State(state): State<AppState>,
    request: Result<TwilioRequest, AppError>,
) -> Result<impl IntoResponse, AppError> {
    let answer = async {
        let request = request?;
        crate::outbound::status::receive(&state.pool, &request.channel, &request.form).await
    };
    counted(WebhookKind::Status, answer.await)
}

/// Counts the webhook as accepted or refused by its error code, and answers it.
fn counted<T>(kind: WebhookKind, answer: Result<T, AppError>) -> Result<impl IntoResponse, AppError> {
    count(kind, &answer);
    answer.map(|_| twiml())
}

/// Counts a webhook as accepted, or refused by its error code.
fn count<T>(kind: WebhookKind, answer: &AppResult<T>) {
    let result = match answer {
        Ok(_) => "accepted",
        Err(e) => e.code(),
    };
    crate::metrics::get().webhook(kind, result);
}

fn twiml() -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML)
}

/// A webhook request that Twilio signed for this channel.
pub struct TwilioRequest {
    pub channel: Arc<ChannelConfig>,
    pub form: Form,
}

impl FromRequest<AppState> for TwilioRequest {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let unknown = || AppError::not_found("channel_not_found", "no channel with this id");
        let Path(params): Path<std::collections::HashMap<String, String>> =
            parts.extract().await.map_err(|_| unknown())?;
        let channel_id = params.get("channel").and_then(|c| Uuid::parse_str(c).ok()).ok_or_else(unknown)?;
        let channel = state.channels.get(channel_id).await?.ok_or_else(unknown)?;

        let signature = parts
            .headers
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| AppError::forbidden("signature_missing", "the X-Twilio-Signature header is missing"))?;
        let limit = state.settings.http.max_body_bytes;
        let raw = axum::body::to_bytes(body, limit).await.map_err(|_| {
            AppError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {limit} bytes (http.max_body_bytes)"),
            )
        })?;
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let url = signed_url(&state.public_base_url, &parts.uri);
        let tokens: Vec<&str> = channel.auth_tokens.iter().map(|t| t.expose_secret()).collect();
        let (form, valid) = match mime.as_str() {
            "application/x-www-form-urlencoded" | "" => {
                let form = Form::parse(&raw).map_err(|e| AppError::bad_request("malformed_body", e.to_string()))?;
                let valid = signature::is_valid(&tokens, &url, SignedBody::Form(&form.0), &signature);
                (form, valid)
            }
            "application/json" => {
                let valid = signature::is_valid(&tokens, &url, SignedBody::Json(&raw), &signature);
                let value: serde_json::Value = serde_json::from_slice(&raw)
                    .map_err(|e| AppError::bad_request("malformed_body", format!("the body is not valid JSON: {e}")))?;
                let form = Form::from_json_object(&value)
                    .ok_or_else(|| AppError::bad_request("malformed_body", "the JSON body must be an object"))?;
                (form, valid)
            }
            other => {
                return Err(AppError::client(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "content type {other:?} is not accepted: Twilio webhooks are application/x-www-form-urlencoded"
                    ),
                ))
            }
        };
        if !valid {
            tracing::warn!(channel = %channel.id, "webhook with an invalid signature refused");
            return Err(AppError::forbidden(
                "signature_invalid",
                "the X-Twilio-Signature does not match: check that http.public_url is exactly the base of the URL configured in Twilio and that the channel's Auth Token is current",
            ));
        }
        if channel.deleted {
            return Err(AppError::client(
                StatusCode::GONE,
                "channel_deleted",
                "this channel was deleted and receives nothing new",
            ));
        }
        Ok(Self { channel, form })
    }
}

/// The URL Twilio requested: the configured public base, the path and the query exactly as received.
fn signed_url(public_base_url: &str, uri: &axum::http::Uri) -> String {
    match uri.query() {
        Some(q) => format!("{public_base_url}{}?{q}", uri.path()),
        None => format!("{public_base_url}{}", uri.path()),
    }
}
