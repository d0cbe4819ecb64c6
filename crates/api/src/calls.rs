//! Live calls: `GET /call`, `GET /call/{id}`, `POST /call/{id}/hangup` (DESIGN.md section 7).
//!
//! The call manager publishes each live call's state in [`LiveCalls`]; reads come from there.
//! A hang-up goes to the endpoint task as a [`Command`] over a bounded channel: a full
//! channel answers 503, never waits.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pbx::Store;
use pbx::calls::{CallInfo, Command};
use serde::Deserialize;

use crate::Api;
use crate::body::Object;
use crate::error::ApiError;

fn json(c: &CallInfo) -> serde_json::Value {
    serde_json::json!({
        "id": c.id,
        "domain": c.domain,
        "from": c.from,
        "to": c.to,
        "state": c.state,
        "start": c.start,
        "answer": c.answer,
        "codecs": c.codecs,
        "media": c.media.map(|(address, caller, callee)| serde_json::json!({
            "address": address.to_string(),
            "caller_port": caller,
            "callee_port": callee,
        })),
    })
}

/// `GET /call`: every live call, oldest first.
pub(crate) async fn list<S: Store>(State(api): State<Api<S>>) -> impl IntoResponse {
    let mut calls: Vec<CallInfo> = api
        .live
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    calls.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    let calls: Vec<serde_json::Value> = calls.iter().map(json).collect();
    Json(serde_json::json!({ "count": calls.len(), "calls": calls }))
}

/// `GET /call/{id}`.
pub(crate) async fn get<S: Store>(
    State(api): State<Api<S>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let live = api.live.read().unwrap_or_else(|e| e.into_inner());
    live.get(&id)
        .map(|c| Json(json(c)))
        .ok_or(ApiError::NoSuchCall(id))
}

/// The body of `POST /call/{id}/hangup`, optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hangup {
    /// `busy` (486 to a caller whose call still rings), or any other reason.
    reason: Option<String>,
}

/// `POST /call/{id}/hangup`: 202 once the call manager has the command; the call's CDR and
/// hung-up event follow.
pub(crate) async fn hangup<S: Store>(
    State(api): State<Api<S>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    if !api
        .live
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&id)
    {
        return Err(ApiError::NoSuchCall(id));
    }
    // The body is optional: none, or `{"reason": "busy"}`.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Object<Hangup>>(&body)
            .map_err(|e| ApiError::BadJson(e.to_string()))?
            .0
            .reason
    };
    let Some(commands) = api.commands.as_ref() else {
        return Err(ApiError::Busy);
    };
    commands
        .try_send(Command::Hangup {
            id: id.clone(),
            reason,
        })
        .map_err(|_| ApiError::Busy)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "hangup": true })),
    ))
}
