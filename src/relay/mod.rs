//! `currents-bridge relay`: a GitHub webhook receiver that forwards cancels to Currents.
//!
//! A force-cancelled job runs no steps, `if: cancelled()` and post steps included, so only the
//! server side can cancel its Currents run. GitHub never redelivers a failed webhook, so the
//! relay acknowledges a delivery only once it is stored: HTTP → verify → store (delivery and
//! job in one transaction) → 202; the worker then claims the job, calls Currents and records
//! the outcome, retrying from the database.

mod admin;
pub mod events;
mod metrics;
pub mod verify;
mod webhook;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use metrics::Metrics;
pub use verify::WebhookSecrets;
pub use worker::{Heartbeat, RetrySchedule, WorkerConfig};

use crate::currents::{CurrentsClient, CurrentsConfig};
use crate::exit::{CommandError, Exit};
use crate::http::Http;
use crate::retry::RetryPolicy;
use crate::store::{Store, now_ms};

/// How long one request may take. Deliveries are answered in milliseconds; GitHub gives up
/// after 10 s, and a stuck request should not hold a connection longer than that.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `/readyz` waits for the database before answering 503.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything the routes share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub secrets: WebhookSecrets,
    /// `None` disables the admin routes.
    pub admin_token: Option<SecretString>,
    pub metrics: Arc<Metrics>,
    /// The worker's heartbeat, for `/readyz`.
    pub heartbeat: Heartbeat,
    /// Wakes the worker when a job is queued, so a cancel goes out at once.
    pub wake: Arc<Notify>,
    /// Request bodies above this answer 413.
    pub max_body: usize,
    /// A heartbeat older than this makes `/readyz` answer 503.
    pub worker_stale_after: Duration,
}

impl AppState {
    /// A state with fresh metrics, heartbeat and wake-up.
    pub fn new(
        store: Store,
        secrets: WebhookSecrets,
        admin_token: Option<SecretString>,
        max_body: usize,
        worker_stale_after: Duration,
    ) -> Self {
        Self {
            store,
            secrets,
            admin_token,
            metrics: Arc::default(),
            heartbeat: Heartbeat::default(),
            wake: Arc::default(),
            max_body,
            worker_stale_after,
        }
    }
}

/// The relay's HTTP surface (DESIGN.md, "Relay HTTP surface"), shared by `relay` and the tests.
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route(
            "/webhooks/github",
            post(webhook::receive).layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/jobs", get(admin::list_jobs))
        .route("/admin/jobs/{id}/retry", post(admin::retry_job))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let db = tokio::time::timeout(READY_DB_TIMEOUT, state.store.ping()).await;
    if !matches!(db, Ok(Ok(()))) {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    let stale = u128::from(state.worker_stale_after.as_millis() as u64);
    match state.heartbeat.age_ms() {
        Some(age) if u128::from(age.unsigned_abs()) <= stale => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "worker not running"),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.store.stats(now_ms()).await.unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(stats),
    )
}

/// The validated configuration of `relay`.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: String,
    pub secrets: WebhookSecrets,
    /// May hold a password: never logged.
    pub database_url: SecretString,
    pub admin_token: Option<SecretString>,
    pub max_body: usize,
    /// `None` only with `--dry-run` and no key.
    pub currents: Option<CurrentsConfig>,
    pub worker: WorkerConfig,
}

/// Runs the relay until SIGINT or SIGTERM, then stops accepting, finishes in-flight requests
/// and cancels, and releases its leases.
pub async fn run(config: RelayConfig) -> Result<Exit, CommandError> {
    let store = Store::connect(config.database_url.expose_secret())
        .await
        .map_err(|e| CommandError::Input(format!("DATABASE_URL: {e}")))?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| {
            CommandError::Input(format!(
                "cannot listen on {} (RELAY_LISTEN): {e}",
                config.listen
            ))
        })?;
    // The queue retries; a cancel call itself is tried once.
    let http = Http::new().map_err(|e| CommandError::Input(e.to_string()))?;
    let client = config.currents.map(|currents| {
        CurrentsClient::new(
            CurrentsConfig {
                retry: RetryPolicy {
                    max_retries: 0,
                    ..currents.retry
                },
                ..currents
            },
            &http,
        )
    });
    let state = AppState::new(
        store.clone(),
        config.secrets,
        config.admin_token,
        config.max_body,
        config.worker.lease,
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let worker = tokio::spawn(worker::run(
        store.clone(),
        client,
        config.worker.clone(),
        state.metrics.clone(),
        state.heartbeat.clone(),
        state.wake.clone(),
        shutdown.clone(),
    ));
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(config.listen);
    tracing::info!(listen = %address, store = store.backend(), dry_run = config.worker.dry_run, "relay listening");
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    if worker.await.is_err() {
        tracing::error!("the worker panicked; its leases expire by themselves");
    }
    store.close().await;
    served.map_err(|e| CommandError::Input(format!("the HTTP server failed: {e}")))?;
    tracing::info!("relay stopped");
    Ok(Exit::Success)
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let mut signals = match crate::shutdown::StopSignals::install() {
        Ok(signals) => signals,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return;
        }
    };
    let signal = signals.recv().await;
    tracing::info!(
        signal = signal.name(),
        "stopping: finishing in-flight requests and cancels"
    );
    shutdown.cancel();
}
