//! The one body extractor of both webhook routes. Bodies are read before any signature can be
//! checked, so what an unauthenticated client sends is bounded three ways:
//!
//! - size: over `--max-body` answers 413 (at once when `Content-Length` says so);
//! - memory: the bodies in flight share [`BODY_MEMORY_BUDGET`] bytes, taken as bytes arrive,
//!   so a flood of large bodies gets 503 while a trickle holds only what it has sent;
//! - time: a body must keep arriving at [`MIN_RATE`] after a [`GRACE`] period (all of it within
//!   `GRACE + size / MIN_RATE`); a slower one is cut with 408 and its share freed at once.
//!
//! So sockets that trickle bytes cannot keep a real delivery out.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::AppState;

/// The memory that request bodies in flight on the webhook routes may take together.
pub const BODY_MEMORY_BUDGET: usize = 128 * 1024 * 1024;
/// How long a body may take before it must keep up with [`MIN_RATE`]: GitHub and Currents
/// send a few KiB at once, so 2 s is ample on any network.
pub const GRACE: Duration = Duration::from_secs(2);
/// The slowest a body may arrive after [`GRACE`], in bytes per second: 64 KiB/s, a slow mobile
/// link, and a 5 MiB body in 80 s.
pub const MIN_RATE: f64 = 64.0 * 1024.0;

/// The shared byte budget of bodies in flight.
#[derive(Debug, Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(BODY_MEMORY_BUDGET)
    }
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))))
    }
}

/// A webhook body, read whole; its share of the budget is held until it is dropped.
#[derive(Debug)]
pub struct WebhookBody {
    pub bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRejection {
    /// Over `--max-body`: 413.
    TooLarge,
    /// Slower than [`MIN_RATE`] after [`GRACE`]: 408.
    TooSlow,
    /// The shared budget is spent: 503.
    Overloaded,
    /// The connection failed mid-body: 400.
    Unreadable,
}

impl BodyRejection {
    /// The metric label's stem (the Currents route prefixes `currents_`).
    pub fn label(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::TooSlow => "too_slow",
            Self::Overloaded => "overloaded",
            Self::Unreadable => "bad_request",
        }
    }

    pub fn answer(self) -> (StatusCode, &'static str) {
        match self {
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload too large"),
            Self::TooSlow => (StatusCode::REQUEST_TIMEOUT, "body too slow"),
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::Unreadable => (StatusCode::BAD_REQUEST, "unreadable body"),
        }
    }
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        respond(self.answer(), self == Self::TooSlow)
    }
}

/// Marks a 408 that the body's rate cut (counted by its route), unlike one of the request
/// timeout (counted as `timeout`).
#[derive(Debug, Clone, Copy)]
pub struct BodyCut;

/// How a delivery to one of the webhook routes ended: a metric label and an answer.
pub trait Delivered: Copy {
    fn label(self) -> &'static str;
    /// A status and a fixed reason, never the input.
    fn answer(self) -> (StatusCode, &'static str);
    /// The body rejection it was, if it was one.
    fn rejection(self) -> Option<BodyRejection>;
}

/// A webhook route: how it handles a delivery, its body read or refused (the route decides
/// what it checks first).
pub trait WebhookRoute {
    type Outcome: Delivered;

    fn handle(
        state: &AppState,
        headers: &HeaderMap,
        body: Result<WebhookBody, BodyRejection>,
    ) -> impl std::future::Future<Output = Self::Outcome> + Send;
}

/// The handler of route `R`: the delivery handled, counted and answered; a body cut for its
/// rate is marked so.
pub async fn receive<R: WebhookRoute>(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<WebhookBody, BodyRejection>,
) -> Response {
    let outcome = R::handle(&state, &headers, body).await;
    state.metrics.delivery(outcome.label());
    respond(
        outcome.answer(),
        outcome.rejection() == Some(BodyRejection::TooSlow),
    )
}

/// A webhook route's answer: a status and a fixed reason, never the input. `cut` marks a body
/// cut for its rate.
pub fn respond(answer: (StatusCode, &'static str), cut: bool) -> Response {
    let mut response = answer.into_response();
    if cut {
        response.extensions_mut().insert(BodyCut);
    }
    response
}

impl FromRequest<AppState> for WebhookBody {
    type Rejection = BodyRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read(request, state.max_body, &state.body_budget).await
    }
}

/// Reads `request`'s body within the three bounds.
pub async fn read(
    request: Request,
    max_body: usize,
    budget: &BodyBudget,
) -> Result<WebhookBody, BodyRejection> {
    let started = Instant::now();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(BodyRejection::TooLarge);
    }
    let mut body = request.into_body();
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(64 * 1024));
    let mut held: Option<OwnedSemaphorePermit> = None;
    loop {
        let deadline = started + GRACE + Duration::from_secs_f64(bytes.len() as f64 / MIN_RATE);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyRejection::TooSlow),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyRejection::Unreadable),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > max_body {
            return Err(BodyRejection::TooLarge);
        }
        let n = u32::try_from(data.len()).map_err(|_| BodyRejection::TooLarge)?;
        let share = Arc::clone(&budget.0)
            .try_acquire_many_owned(n)
            .map_err(|_| BodyRejection::Overloaded)?;
        match &mut held {
            Some(permit) => permit.merge(share),
            None => held = Some(share),
        }
        bytes.extend_from_slice(&data);
    }
    Ok(WebhookBody {
        bytes: Bytes::from(bytes),
        _budget: held,
    })
}
