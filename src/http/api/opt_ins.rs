//! Consent: `GET|POST /contacts/{id}/opt-ins` (a customer's opt-in state per number, its history, and recording
//! a change) and `POST /opt-ins/import` (a CSV of opt-ins, all lines or none). Keywords and Twilio's 21610 record
//! changes by themselves (`automation`, `outbound`).

use super::{ApiJson, ApiPath};
use crate::auth::Principal;
use crate::domain::opt_in::{OptInSource, OptInState};
use crate::domain::E164;
use crate::error::{AppError, AppResult};
use crate::refs;
use crate::state::AppState;
use crate::store::opt_ins::{self, Change, Imported, OptInRecord};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, record)).routes(routes!(import))
}

/// The longest evidence text.
const MAX_EVIDENCE_CHARS: usize = 2000;
/// The most lines one import takes.
const MAX_IMPORT_LINES: usize = 100_000;

#[derive(Serialize, ToSchema)]
struct OptIns {
    /// The latest change per number: the state that applies.
    current: Vec<OptInRecord>,
    /// Every change, newest first.
    history: Vec<OptInRecord>,
}

/// A customer's consent on each number, and its history.
#[utoipa::path(get, path = "/contacts/{id}/opt-ins", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = OptIns)))]
async fn read(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<OptIns>> {
    let mut conn = state.pool.acquire().await?;
    super::contacts::visible(&mut conn, &who, id).await?;
    let history = opt_ins::history(&mut conn, id).await?;
    let mut current: Vec<OptInRecord> = Vec::new();
    for r in &history {
        if !current.iter().any(|c| c.number_id == r.number_id) {
            current.push(r.clone());
        }
    }
    Ok(Json(OptIns { current, history }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOptIn {
    /// The business's number the consent is for.
    number_id: Uuid,
    /// `opted_in` or `opted_out`.
    state: OptInState,
    /// `api` (the default) or `inbound` (the customer asked in a conversation).
    #[serde(default = "api")]
    source: OptInSource,
    /// What shows it: a form's reference, a document, the conversation (at most 2,000 characters).
    evidence: Option<String>,
}

fn api() -> OptInSource {
    OptInSource::Api
}

/// Records a customer's opt-in or opt-out on a number: 201 with the change.
#[utoipa::path(post, path = "/contacts/{id}/opt-ins", tag = "contacts", params(("id" = Uuid, Path)),
    request_body = NewOptIn, responses((status = 201, body = OptInRecord)))]
async fn record(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<NewOptIn>,
) -> AppResult<(StatusCode, Json<OptInRecord>)> {
    if !matches!(req.source, OptInSource::Api | OptInSource::Inbound) {
        return Err(AppError::invalid_field(
            "source",
            "source is api or inbound here: imports, keywords and Twilio's reports record their own",
        ));
    }
    let evidence = req.evidence.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if evidence.is_some_and(|e| e.chars().count() > MAX_EVIDENCE_CHARS) {
        return Err(AppError::invalid_field(
            "evidence",
            format!("evidence is at most {MAX_EVIDENCE_CHARS} characters"),
        ));
    }
    let mut tx = state.pool.begin().await?;
    super::contacts::visible(&mut tx, &who, id).await?;
    refs::number(&mut tx, req.number_id, "number_id").await?;
    let change = Change { state: req.state, source: req.source, evidence };
    let recorded = opt_ins::record(&mut tx, id, req.number_id, &change, &who.label).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(recorded)))
}

#[derive(Serialize, ToSchema)]
struct ImportResult {
    /// Lines recorded.
    recorded: u64,
}

/// Imports opt-ins from CSV (`Content-Type: text/csv`), a header line then one change per line: `phone`
/// (E.164, `+` optional), `number_id`, `state` (`opted_in` or `opted_out`, default `opted_in`) and `evidence`
/// (optional). All lines or none: the first bad lines are named in `details.lines` (line number, column,
/// reason). Customers not known yet are added as contacts.
#[utoipa::path(post, path = "/opt-ins/import", tag = "contacts",
    request_body(content = String, content_type = "text/csv"), responses((status = 201, body = ImportResult)))]
async fn import(
    State(state): State<AppState>,
    who: Principal,
    body: Bytes,
) -> AppResult<(StatusCode, Json<ImportResult>)> {
    let lines = parse_csv(&body)?;
    if lines.is_empty() {
        return Err(AppError::invalid_field("body", "the CSV has no lines after its header"));
    }
    let mut tx = state.pool.begin().await?;
    let mut numbers: Vec<Uuid> = lines.iter().map(|l| l.number_id).collect();
    numbers.sort_unstable();
    numbers.dedup();
    refs::numbers(&mut tx, &numbers, "number_id").await?;
    let imported: Vec<Imported<'_>> = lines
        .iter()
        .map(|l| Imported {
            phone: l.phone.as_str(),
            number_id: l.number_id,
            state: l.state,
            evidence: l.evidence.as_deref(),
        })
        .collect();
    let recorded = opt_ins::import(&mut tx, &imported, &who.label).await?;
    tx.commit().await?;
    tracing::info!(recorded, "opt-ins imported");
    Ok((StatusCode::CREATED, Json(ImportResult { recorded })))
}

struct Line {
    phone: E164,
    number_id: Uuid,
    state: OptInState,
    evidence: Option<String>,
}

/// The CSV's lines, or a 422 naming the first bad ones.
fn parse_csv(body: &[u8]) -> AppResult<Vec<Line>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| AppError::invalid_field("body", format!("the CSV's header cannot be read: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(phone), Some(number)) = (column("phone"), column("number_id")) else {
        return Err(AppError::invalid_field("body", "the CSV's header must name the columns phone and number_id"));
    };
    let (state_col, evidence_col) = (column("state"), column("evidence"));
    let mut lines = Vec::new();
    let mut bad: Vec<serde_json::Value> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if lines.len() >= MAX_IMPORT_LINES {
            return Err(AppError::invalid_field("body", format!("at most {MAX_IMPORT_LINES} lines per import")));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad.push(json!({ "line": line, "column": null, "reason": e.to_string() }));
                continue;
            }
        };
        let mut fault =
            |column: &str, reason: String| bad.push(json!({ "line": line, "column": column, "reason": reason }));
        let parsed_phone = E164::parse_lenient(record.get(phone).unwrap_or_default());
        let parsed_number = record.get(number).unwrap_or_default().parse::<Uuid>();
        let state = match state_col.and_then(|c| record.get(c)).filter(|s| !s.is_empty()) {
            None => Ok(OptInState::OptedIn),
            Some(s) => s.parse::<OptInState>(),
        };
        let evidence = evidence_col.and_then(|c| record.get(c)).filter(|e| !e.is_empty()).map(str::to_owned);
        match (parsed_phone, parsed_number, state) {
            (Ok(phone), Ok(number_id), Ok(state)) => {
                if evidence.as_ref().is_some_and(|e| e.chars().count() > MAX_EVIDENCE_CHARS) {
                    fault("evidence", format!("at most {MAX_EVIDENCE_CHARS} characters"));
                    continue;
                }
                lines.push(Line { phone, number_id, state, evidence })
            }
            (p, n, s) => {
                if let Err(e) = p {
                    fault("phone", e.to_string());
                }
                if let Err(e) = n {
                    fault("number_id", format!("not a number id: {e}"));
                }
                if let Err(e) = s {
                    fault("state", e);
                }
            }
        }
        if bad.len() >= 20 {
            break;
        }
    }
    if !bad.is_empty() {
        return Err(AppError::unprocessable(
            "invalid_csv",
            "some lines of the CSV cannot be imported; nothing was recorded",
        )
        .with_details(json!({ "field": "body", "lines": bad })));
    }
    Ok(lines)
}
