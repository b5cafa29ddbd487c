//! WhatsApp calls as agents meet them: `GET /calls/{id}` (what the pop-up shows), `POST /calls/{id}/accept` and
//! `POST /calls/{id}/decline` (only the agent the call rings), and `GET /voice/token` (what the agent's browser
//! answers calls with); and calling a customer: `POST /conversations/{id}/calls` and where their permission
//! stands, `GET /conversations/{id}/call-permission`. The rules are in `calling::answer`, `calling::token`,
//! `calling::outbound` and `calling::permission`.

use super::ApiPath;
use crate::auth::Principal;
use crate::calling::permission::PermissionView;
use crate::calling::token::VoiceToken;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::calls::{self, Call, CallView};
use crate::store::conversations;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(token))
        .routes(routes!(of_conversation, place))
        .routes(routes!(permission))
        .routes(routes!(permission_before_start))
        .routes(routes!(hold))
        .routes(routes!(transfer))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HoldRequest {
    /// `true` puts the customer on hold (they hear the queue's hold music); `false` takes them off it, and your
    /// browser joins the call again.
    on: bool,
}

/// Holds or resumes the call you are on. 409 `call_not_connected` unless it is in progress,
/// `call_cannot_be_moved` for a call the business placed.
#[utoipa::path(post, path = "/calls/{id}/hold", tag = "calls", params(("id" = Uuid, Path)), request_body = HoldRequest,
    responses((status = 200, body = CallView)))]
async fn hold(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    super::ApiJson(body): super::ApiJson<HoldRequest>,
) -> AppResult<Json<CallView>> {
    Ok(Json(crate::calling::during::hold(&state, &who.caller(), id, body.on).await?))
}

/// Transfers the call you are on to a queue (one that takes calls) or an agent: it waits and rings them, and
/// its conversation goes with it. Exactly one of `queue_id` and `agent_id`.
#[utoipa::path(post, path = "/calls/{id}/transfer", tag = "calls", params(("id" = Uuid, Path)),
    request_body = super::assignment::TransferTo, responses((status = 200, body = CallView)))]
async fn transfer(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    super::ApiJson(body): super::ApiJson<super::assignment::TransferTo>,
) -> AppResult<Json<CallView>> {
    let to = super::assignment::one_target(body.queue_id, body.agent_id)?
        .ok_or_else(|| AppError::unprocessable("invalid_body", "give queue_id or agent_id"))?;
    Ok(Json(crate::calling::during::transfer(&state, &who.caller(), id, to).await?))
}

fn not_found() -> AppError {
    AppError::not_found("call_not_found", "no call with this id that you can see")
}

/// The call, if `who` may see it: it rings them or they took it, or they may see its conversation.
async fn visible(conn: &mut sqlx::PgConnection, who: &Principal, id: Uuid) -> AppResult<CallView> {
    let view = calls::view(conn, id).await?.ok_or_else(not_found)?;
    let mine = who.user_id.is_some() && (view.call.offered_to == who.user_id || view.call.agent_id == who.user_id);
    if mine || conversations::visible(conn, view.call.conversation_id, who.caller().visibility()).await? {
        Ok(view)
    } else {
        Err(not_found())
    }
}

/// One call: its direction, state and outcome, the channel, the customer's name and number, the queue, and the
/// agent it rings or who took it.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = Uuid, Path)),
    responses((status = 200, body = CallView)))]
async fn read(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<CallView>> {
    Ok(Json(visible(&mut *state.pool.acquire().await?, &who, id).await?))
}

/// A conversation's calls, oldest first (its latest 500): direction, state and outcome, the queue, the agent
/// who took it, and when it came in, was answered and ended.
#[utoipa::path(get, path = "/conversations/{id}/calls", tag = "calls", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Call>)))]
async fn of_conversation(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Vec<Call>>> {
    let mut conn = state.pool.acquire().await?;
    super::conversations::require_visible(&mut conn, &who, id).await?;
    Ok(Json(calls::of_conversation(&mut conn, id).await?))
}

/// Calls the conversation's customer (the inbox's Call button): Twilio rings your browser, then, once you
/// answer, the customer on WhatsApp. 201 with the call, `dialing`. Refused with 422 `call_permission_missing`
/// unless the customer allowed calls (in the last 7 days), `call_limit_reached` (with `details.next_call_at`)
/// after the calls allowed in 24 hours, `number_does_not_call` on a number without calling; 409 `agent_on_call`
/// while you are on another call.
#[utoipa::path(post, path = "/conversations/{id}/calls", tag = "calls", params(("id" = Uuid, Path)),
    responses((status = 201, body = CallView)))]
async fn place(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<(StatusCode, Json<CallView>)> {
    let call = crate::calling::outbound::place(&state, &who.caller(), id).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

/// Where calling the conversation's customer stands: whether a call-permission request may be sent (and when
/// the next one may, if not), whether one is pending, until when the customer allows calls, whether a call may
/// be placed now. What the inbox's "Request call" and "Call" buttons show.
#[utoipa::path(get, path = "/conversations/{id}/call-permission", tag = "calls", params(("id" = Uuid, Path)),
    responses((status = 200, body = PermissionView)))]
async fn permission(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<PermissionView>> {
    let mut conn = state.pool.acquire().await?;
    let t = calls::dial_target(&mut conn, id, who.caller().visibility()).await?.ok_or_else(|| {
        AppError::not_found("conversation_not_found", "no conversation with this id that you can see")
    })?;
    let per_day = state.settings.routing.calls_per_day;
    Ok(Json(
        crate::calling::permission::view(&mut conn, t.number_id, Some(t.contact_id), t.supports_calling, per_day)
            .await?,
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PermissionFor {
    /// The business's number.
    number_id: Uuid,
    /// The customer: a contact, or a phone number (E.164).
    contact_id: Option<Uuid>,
    phone: Option<String>,
}

/// Where calling stands before a conversation is started.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct PermissionBeforeStart {
    #[serde(flatten)]
    permission: PermissionView,
    /// The customer's open conversation on the number, where a request would go instead of a new one.
    open_conversation_id: Option<Uuid>,
}

/// Where calling a customer on a number stands before a conversation is started (the new-conversation dialog's
/// warnings): a request pending or limited, the permission in force, and the customer's open conversation on the
/// number. An agent asks about the numbers they serve.
#[utoipa::path(get, path = "/call-permission", tag = "calls", params(PermissionFor),
    responses((status = 200, body = PermissionBeforeStart)))]
async fn permission_before_start(
    State(state): State<AppState>,
    who: Principal,
    super::ApiQuery(q): super::ApiQuery<PermissionFor>,
) -> AppResult<Json<PermissionBeforeStart>> {
    let mut conn = state.pool.acquire().await?;
    let caller = who.caller();
    let served = match caller.user_id {
        _ if caller.supervisor => true,
        Some(me) => crate::store::numbers::serves(&mut conn, me, q.number_id).await?,
        None => false,
    };
    if !served || crate::store::numbers::sending(&mut conn, q.number_id).await?.is_none() {
        return Err(AppError::unprocessable("unknown_reference", "number_id: no such WhatsApp number of yours")
            .with_field("number_id"));
    }
    let contact = match (q.contact_id, q.phone.as_deref()) {
        (Some(id), None) => Some(id),
        (None, Some(phone)) => {
            let phone = crate::domain::E164::parse(phone.trim())
                .map_err(|e| AppError::invalid_field("phone", e.to_string()))?;
            crate::store::contacts::id_by_phone(&mut conn, phone.as_str()).await?
        }
        _ => return Err(AppError::invalid_field("contact_id", "give either contact_id or phone")),
    };
    let calls = crate::store::numbers::supports_calling(&mut conn, q.number_id).await?;
    let per_day = state.settings.routing.calls_per_day;
    // A customer never seen has no history: a request may go.
    let permission = crate::calling::permission::view(&mut conn, q.number_id, contact, calls, per_day).await?;
    let open_conversation_id = match contact {
        Some(c) => conversations::open_for(&mut conn, q.number_id, c).await?,
        None => None,
    };
    Ok(Json(PermissionBeforeStart { permission, open_conversation_id }))
}

/// Takes the call that rings you: it connects to you (your browser then joins it with the Voice SDK, passing the
/// call's id as the `call` parameter; or, with a `call_phone`, Twilio calls your phone), and you hold its
/// conversation unless someone already does. 409
/// `call_not_ringing_you` once it rings someone else or ended.
#[utoipa::path(post, path = "/calls/{id}/accept", tag = "calls", params(("id" = Uuid, Path)),
    responses((status = 200, body = CallView)))]
async fn accept(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<CallView>> {
    let mut tx = state.pool.begin().await?;
    crate::calling::answer::accept(&mut tx, &who.caller(), id, state.settings.routing.call_join_timeout_secs).await?;
    tx.commit().await?;
    if let Some(me) = who.user_id {
        // An agent who takes calls on their phone is called there; the browser joins otherwise.
        crate::calling::phone::reach(&state, id, me).await?;
    }
    Ok(Json(visible(&mut *state.pool.acquire().await?, &who, id).await?))
}

/// Passes on the call that rings you: it rings the next agent at once.
#[utoipa::path(post, path = "/calls/{id}/decline", tag = "calls", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn decline(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    crate::calling::answer::decline(&mut tx, &who.caller(), id).await?;
    tx.commit().await?;
    state.call_wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TokenFor {
    /// The channel whose calls the browser answers; may be left out when one channel takes calls.
    channel_id: Option<Uuid>,
}

/// A short-lived (one hour) Twilio access token for the Voice JavaScript SDK: the identity is your agent id,
/// incoming calls are allowed, outgoing ones go through the channel's TwiML voice application. Needs the
/// channel's API key and `voice_application_sid` (409 `voice_not_configured` names what is missing).
#[utoipa::path(get, path = "/voice/token", tag = "calls", params(TokenFor),
    responses((status = 200, body = VoiceToken)))]
async fn token(
    State(state): State<AppState>,
    who: Principal,
    super::ApiQuery(q): super::ApiQuery<TokenFor>,
) -> AppResult<Json<VoiceToken>> {
    use crate::calling::token::Refusal;
    let me = who
        .user_id
        .ok_or_else(|| AppError::unprocessable("not_an_agent", "an API token is nobody's agent and answers no call"))?;
    let mut conn = state.pool.acquire().await?;
    match crate::calling::token::mint(&mut conn, &state.secrets, me, q.channel_id).await? {
        Ok(t) => Ok(Json(t)),
        Err(Refusal::UnknownChannel) => {
            Err(AppError::unprocessable("unknown_reference", "channel_id: there is no such channel, or it was deleted")
                .with_field("channel_id"))
        }
        Err(Refusal::NoCallingChannel) => {
            Err(AppError::conflict("voice_not_configured", "no channel has a number that takes calls"))
        }
        Err(Refusal::ChooseChannel) => Err(AppError::invalid_field(
            "channel_id",
            "several channels take calls: name the one whose calls this browser answers",
        )),
        Err(Refusal::NotConfigured(missing)) => Err(AppError::conflict(
            "voice_not_configured",
            format!("the channel needs {} to mint voice tokens", missing.join(" and ")),
        )
        .with_details(serde_json::json!({ "missing": missing }))),
        Err(Refusal::Sealed) => Err(AppError::conflict(
            "secret_unreadable",
            "the channel's API key secret cannot be opened with this server's master key",
        )),
    }
}
