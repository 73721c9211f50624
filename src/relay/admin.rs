//! Admin routes: list jobs, requeue a dead one. They need `Authorization: Bearer <token>`,
//! compared in constant time, and answer 404 when no admin token is configured.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::store::{JobState, Requeue, now_ms};

/// The most jobs one listing returns.
const MAX_LIST: i64 = 1_000;

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    limit: Option<i64>,
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let Some(token) = &state.admin_token else {
        return Err((StatusCode::NOT_FOUND, "not found"));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Hashing first makes both sides the same length, so the comparison time says nothing
    // about the token's length either.
    let expected = Sha256::digest(token.expose_secret().as_bytes());
    let given = Sha256::digest(given.as_bytes());
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        Err((StatusCode::UNAUTHORIZED, "invalid admin token"))
    }
}

pub(super) async fn list_jobs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    let filter = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<JobState>() {
            Ok(state) => Some(state),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    "state must be pending, running, done, dead or dry",
                )
                    .into_response();
            }
        },
    };
    match state
        .store
        .jobs(filter, query.limit.unwrap_or(100).clamp(1, MAX_LIST))
        .await
    {
        Ok(jobs) => Json(jobs).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot list jobs");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}

pub(super) async fn retry_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    match state.store.retry(id, now_ms()).await {
        Ok(Requeue::Requeued(job)) => {
            tracing::info!(job = id, "dead job requeued by an admin");
            state.wake.notify_one();
            Json(job).into_response()
        }
        Ok(Requeue::NotDead(_)) => {
            (StatusCode::CONFLICT, "only dead jobs can be retried").into_response()
        }
        Ok(Requeue::NotFound) => (StatusCode::NOT_FOUND, "no such job").into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot requeue");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}
