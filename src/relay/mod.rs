//! `currents-bridge relay`: a GitHub webhook receiver that forwards cancels to Currents.
//!
//! A force-cancelled job runs no steps, `if: cancelled()` and post steps included, so only the
//! server side can cancel its Currents run. GitHub never redelivers a failed webhook, so the
//! relay acknowledges a delivery only once it is stored: HTTP → verify → store (delivery and
//! job in one transaction) → 202; the worker then claims the job, calls Currents and records
//! the outcome, retrying from the database.

mod admin;
pub mod catchup;
mod checks;
pub mod currents_hook;
pub mod events;
mod figures;
mod media;
mod metrics;
pub mod schedule;
mod server;
pub mod verify;
mod webhook;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use checks::CheckSettings;
pub use media::MediaRoute;
pub use metrics::Metrics;
pub use schedule::{Backoff, DEFAULT_RETRY_WINDOW, RetrySchedule};
pub use server::{HEADER_READ_TIMEOUT, connection_cap};
pub use verify::WebhookSecrets;
pub use worker::{AppWork, Heartbeat, Worker, WorkerConfig};

use crate::currents::{CurrentsClient, CurrentsConfig};
use anyhow::Context;

use crate::exit::Exit;
use crate::github::app::{AppCredentials, GithubApp};
use crate::http::Http;
use crate::retry::RetryPolicy;
use crate::store::Store;

/// How long one request may take. Deliveries are answered in milliseconds; GitHub gives up
/// after 10 s, and a stuck request should not hold a connection longer than that.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The memory that request bodies in flight on the webhook routes may take together: they
/// serve `max(16, this / --max-body)` requests at once and answer 503 to more, so a flood of
/// large unsigned bodies cannot grow the process without bound.
const BODY_MEMORY_BUDGET: usize = 128 * 1024 * 1024;

/// How often retention runs.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

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
    /// Queue figures, read at most once a second whatever the scrape load.
    figures: Arc<figures::Figures>,
    /// Failed admin attempts, for the rate limit.
    admin_failures: Arc<admin::FailureLimiter>,
    /// `POST /webhooks/currents` (App mode with `--currents-webhook-secret`); 404 when `None`.
    pub app: Option<CurrentsHook>,
    /// `GET /media/{token}` (with `--media-secret`); 404 when `None`.
    pub media: Option<Arc<MediaRoute>>,
}

/// What the Currents webhook route checks.
#[derive(Debug, Clone)]
pub struct CurrentsHook {
    /// The values accepted in `X-Currents-Bridge-Secret`.
    pub currents_secrets: WebhookSecrets,
    /// Runs of repositories on other hosts are not this App's.
    pub github_host: String,
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
            figures: Arc::default(),
            admin_failures: Arc::default(),
            app: None,
            media: None,
        }
    }

    /// With the media route enabled.
    #[must_use]
    pub fn with_media(self, media: MediaRoute) -> Self {
        Self {
            media: Some(Arc::new(media)),
            ..self
        }
    }

    /// With the Currents webhook route enabled.
    #[must_use]
    pub fn with_currents_hook(self, hook: CurrentsHook) -> Self {
        Self {
            app: Some(hook),
            ..self
        }
    }
}

/// Every route on one listener (the default, and what the tests drive).
pub fn router(state: AppState) -> Router {
    public_router(state.clone()).merge(admin_router(state))
}

/// What GitHub and the platform's probes reach: the webhook, `/healthz`, `/readyz`.
pub fn public_router(state: AppState) -> Router {
    let max_body = state.max_body;
    // One budget for both webhook routes: their bodies share the memory.
    let in_flight = tower::limit::GlobalConcurrencyLimitLayer::new(
        (BODY_MEMORY_BUDGET / max_body.max(1)).max(16),
    );
    let metrics = &state.metrics;
    let webhook = webhook_route(
        post(webhook::receive),
        max_body,
        metrics,
        "overloaded",
        &in_flight,
    );
    let currents = webhook_route(
        post(currents_hook::receive),
        max_body,
        metrics,
        "currents_overloaded",
        &in_flight,
    );
    Router::new()
        .route("/webhooks/github", webhook)
        .route("/webhooks/currents", currents)
        .route("/media/{token}", get(media::open))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Outside the timeout layer, so that it sees the 408s that layer makes.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            count_timeouts,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A webhook route with its body cap and load shedding: over the shared in-flight budget it
/// answers `503 overloaded` at once (before the body is read), counted as `label`.
fn webhook_route(
    route: axum::routing::MethodRouter<AppState>,
    max_body: usize,
    metrics: &Arc<Metrics>,
    label: &'static str,
    in_flight: &tower::limit::GlobalConcurrencyLimitLayer,
) -> axum::routing::MethodRouter<AppState> {
    let metrics = Arc::clone(metrics);
    route.layer(DefaultBodyLimit::max(max_body)).route_layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |_: tower::BoxError| {
                let metrics = Arc::clone(&metrics);
                async move {
                    metrics.delivery(label);
                    (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
                }
            }))
            .load_shed()
            .layer(in_flight.clone()),
    )
}

/// What operators reach: `/metrics` and `/admin` (on `--admin-listen` when set).
pub fn admin_router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/admin/jobs", get(admin::list_jobs))
        .route("/admin/jobs/retry", post(admin::retry_jobs))
        .route("/admin/jobs/{id}/retry", post(admin::retry_job))
        // Before any extractor: nothing of the request is read or echoed without the token.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::authorize,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .merge(admin)
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A webhook that hit [`REQUEST_TIMEOUT`] gets 408 from the timeout layer, outside the handler:
/// count and log it here. Its delivery may still have been committed.
async fn count_timeouts(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let webhook = request.uri().path().starts_with("/webhooks/");
    let response = next.run(request).await;
    if webhook && response.status() == StatusCode::REQUEST_TIMEOUT {
        metrics.delivery("timeout");
        tracing::warn!(
            "a webhook request timed out (408); if GitHub shows it failed, redeliver it from the hook's Recent Deliveries"
        );
    }
    response
}

/// How long `/readyz` waits for the database before answering 503.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    // A ping on the read pool: cheap, and never queued behind ingest.
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
    let stats = state.figures.read(&state.store).await.unwrap_or_default();
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
    /// `/metrics` and `/admin` on their own address; on `listen` when `None`.
    pub admin_listen: Option<String>,
    pub secrets: WebhookSecrets,
    /// May hold a password: never logged.
    pub database_url: SecretString,
    pub admin_token: Option<SecretString>,
    pub max_body: usize,
    /// The most client connections served at once (capped by the file-descriptor limit).
    pub max_connections: usize,
    /// How long a graceful stop may take before what is left is abandoned.
    pub shutdown_timeout: Duration,
    /// Finished jobs and deliveries older than this are deleted.
    pub retention: Duration,
    /// `None` only with `--dry-run` and no key.
    pub currents: Option<CurrentsConfig>,
    pub worker: WorkerConfig,
    /// App mode: `--github-app-id` with a private key.
    pub app: Option<AppModeConfig>,
    /// `--media-secret`: enables `GET /media/{token}`.
    pub media_secret: Option<SecretString>,
    /// `--public-url`: where the relay is reached, for the media links of App mode's checks.
    pub public_url: Option<url::Url>,
}

/// The relay as a GitHub App.
#[derive(Debug, Clone)]
pub struct AppModeConfig {
    pub credentials: AppCredentials,
    /// `GITHUB_API_URL`.
    pub api_url: url::Url,
    /// Enables `POST /webhooks/currents`.
    pub currents_secrets: Option<WebhookSecrets>,
    /// Zero turns the catch-up off.
    pub catchup_interval: Duration,
    pub check_name: String,
    pub comment: crate::github::CommentMode,
}

/// Runs the relay until SIGINT or SIGTERM. Then it stops accepting, gives in-flight requests
/// and cancels until the shutdown deadline, releases the jobs it holds, and exits 0.
pub async fn run(config: RelayConfig) -> anyhow::Result<Exit> {
    let store = Store::connect(config.database_url.expose_secret())
        .await
        .context("DATABASE_URL")?;
    let bind = |address: String, variable: &'static str| async move {
        tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address} ({variable})"))
    };
    let listener = bind(config.listen.clone(), "RELAY_LISTEN").await?;
    let admin_listener = match config.admin_listen.clone() {
        Some(address) => Some(bind(address, "RELAY_ADMIN_LISTEN").await?),
        None => None,
    };
    // The queue retries; a cancel call itself is tried once.
    let http = Http::new()?;
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
    let mut state = AppState::new(
        store.clone(),
        config.secrets,
        config.admin_token,
        config.max_body,
        config.worker.lease,
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let media_signer = config
        .media_secret
        .clone()
        .map(crate::media::MediaSigner::new);
    if let (Some(signer), Some(client)) = (&media_signer, &client) {
        state = state.with_media(MediaRoute::new(signer.clone(), client.clone()));
    }
    let mut app_work = None;
    if let Some(app_config) = config.app {
        // GitHub calls are tried once here too: the queue retries.
        let app = GithubApp::new(
            &app_config.credentials,
            app_config.api_url.clone(),
            RetryPolicy {
                max_retries: 0,
                ..RetryPolicy::ACTION
            },
            &http,
        )
        .context("GITHUB_APP_PRIVATE_KEY")?;
        if let Some(currents_secrets) = app_config.currents_secrets {
            state = state.with_currents_hook(CurrentsHook {
                currents_secrets,
                github_host: currents_hook::github_host(&app_config.api_url),
            });
        }
        if !app_config.catchup_interval.is_zero() {
            tokio::spawn(catchup::run(
                store.clone(),
                app.clone(),
                config.worker.owner.clone(),
                app_config.catchup_interval,
                Arc::clone(&state.metrics),
                shutdown.clone(),
            ));
        }
        tracing::info!(app_id = %app.app_id(), currents_webhook = state.app.is_some(), catchup_interval = %humantime::format_duration(app_config.catchup_interval), "App mode");
        app_work = Some(AppWork {
            app,
            settings: CheckSettings {
                check_name: app_config.check_name,
                comment: app_config.comment,
                media: media_signer.clone().zip(config.public_url.clone()),
            },
        });
    }
    let worker = Worker::new(
        store.clone(),
        client,
        app_work,
        config.worker.clone(),
        Arc::clone(&state.metrics),
        state.heartbeat.clone(),
        Arc::clone(&state.wake),
    );
    let worker = tokio::spawn(worker.run(shutdown.clone(), config.shutdown_timeout));
    tokio::spawn(prune_periodically(
        store.clone(),
        config.retention,
        Arc::clone(&state.metrics),
        shutdown.clone(),
    ));
    let max_connections = connection_cap(config.max_connections);
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(config.listen);
    let admin_server = match admin_listener {
        Some(admin_listener) => {
            let admin_address = admin_listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            tracing::info!(admin_listen = %admin_address, "admin routes listening");
            Some(tokio::spawn(server::serve(
                admin_listener,
                admin_router(state.clone()),
                max_connections,
                Arc::clone(&state.metrics),
                shutdown.clone(),
                config.shutdown_timeout,
            )))
        }
        None => None,
    };
    let app = if admin_server.is_some() {
        public_router(state.clone())
    } else {
        router(state.clone())
    };
    tracing::info!(listen = %address, store = store.backend(), dry_run = config.worker.dry_run, max_connections, "relay listening");
    let served = server::serve(
        listener,
        app,
        max_connections,
        Arc::clone(&state.metrics),
        shutdown.clone(),
        config.shutdown_timeout,
    )
    .await;
    shutdown.cancel();
    if let Some(admin_server) = admin_server {
        let _ = admin_server.await;
    }
    if worker.await.is_err() {
        tracing::error!("the worker panicked; its leases expire by themselves");
    }
    store.close().await;
    served.context("the HTTP server failed")?;
    tracing::info!("relay stopped");
    Ok(Exit::Success)
}

/// Retention: at start, then every [`PRUNE_INTERVAL`].
async fn prune_periodically(
    store: Store,
    retention: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        match store.prune(retention).await {
            Ok(pruned) => {
                metrics.pruned("deliveries", pruned.deliveries);
                metrics.pruned("jobs", pruned.jobs);
                if pruned.deliveries + pruned.jobs > 0 {
                    tracing::info!(
                        deliveries = pruned.deliveries,
                        jobs = pruned.jobs,
                        "retention: deleted old rows"
                    );
                }
            }
            Err(error) => tracing::error!(%error, "retention failed; it runs again later"),
        }
        tokio::select! {
            () = tokio::time::sleep(PRUNE_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
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

/// `relay register-currents-webhook`: creates the Currents webhook that sends the project's
/// run events to `/webhooks/currents` with the secret header.
pub async fn register_currents_webhook(
    config: crate::cli::RegisterConfig,
) -> anyhow::Result<crate::currents::Webhook> {
    let http = Http::new()?;
    let client = CurrentsClient::new(config.currents, &http);
    // A wrong project id fails here, with its own message, not as a webhook nobody receives.
    let project = client
        .get_project(&config.project_id)
        .await
        .with_context(|| format!("cannot read Currents project {}", config.project_id))?;
    tracing::info!(project = %crate::log_safe::LogSafe(project.name.as_deref().unwrap_or_default()), "registering the webhook");
    let headers =
        serde_json::json!({ currents_hook::SECRET_HEADER: config.secret.expose_secret() });
    let created = client
        .create_webhook(
            &config.project_id,
            &crate::currents::NewWebhook {
                url: config.url.as_str(),
                headers: Some(headers.to_string()),
                hook_events: &currents_hook::EVENTS,
                label: Some(&config.label),
            },
        )
        .await
        .context("cannot create the Currents webhook")?;
    Ok(created)
}
