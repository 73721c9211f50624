//! Running the relay: connect the store, bind, start the worker and the periodic passes
//! (retention, and in App mode the catch-up and the reconcile pass), serve until a stop
//! signal, then wind down within the deadline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::check::WarnedRuns;
use super::{
    AppModeConfig, AppState, AppWork, CheckSettings, CurrentsHook, MediaRoute, Metrics,
    ProjectRepos, RegisterConfig, RelayConfig, Worker, admin_router, catchup, currents_hook,
    public_router, reconcile, router, server,
};
use crate::currents::{CurrentsClient, CurrentsConfig};
use crate::exit::Exit;
use crate::github::app::GithubApp;
use crate::http::Http;
use crate::media::MediaSigner;
use crate::retry::RetryPolicy;
use crate::store::Store;

/// How often retention runs.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Outbound calls are tried once: the queue retries.
const TRY_ONCE: RetryPolicy = RetryPolicy {
    max_retries: 0,
    ..RetryPolicy::ACTION
};

/// Runs the relay until SIGINT or SIGTERM. Then it stops accepting, gives in-flight requests
/// and jobs until the shutdown deadline, releases the jobs it holds, and exits 0.
pub async fn run(config: RelayConfig) -> anyhow::Result<Exit> {
    let store = Store::connect(config.database_url.expose_secret())
        .await
        .context("DATABASE_URL")?;
    let listener = bind(&config.listen, "RELAY_LISTEN").await?;
    let admin_listener = match &config.admin_listen {
        Some(address) => Some(bind(address, "RELAY_ADMIN_LISTEN").await?),
        None => None,
    };
    let http = Http::new()?;
    let client = config.currents.clone().map(|currents| {
        CurrentsClient::new(
            CurrentsConfig {
                retry: TRY_ONCE,
                ..currents
            },
            &http,
        )
    });
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let mut state = AppState::new(
        store.clone(),
        config.secrets.clone(),
        config.admin_token.clone(),
        config.max_body,
        config.worker.lease,
    )
    .with_trusted_proxies(config.trusted_proxies.clone());
    let media_signer = config.media_secret.clone().map(MediaSigner::new);
    if let (Some(signer), Some(client)) = (&media_signer, &client) {
        state = state.with_media(MediaRoute::new(signer.clone(), client.clone()));
    }
    let app_work = match config.app.clone() {
        Some(app) => Some(start_app_mode(
            app,
            &mut state,
            &config,
            client.as_ref(),
            &http,
            media_signer,
            &shutdown,
        )?),
        None => None,
    };
    let worker = Worker::new(
        store.clone(),
        client,
        app_work,
        config.worker.clone(),
        state.signals(),
    );
    let worker = tokio::spawn(worker.run(shutdown.clone(), config.shutdown_timeout));
    tokio::spawn(prune_periodically(
        store.clone(),
        config.retention,
        Arc::clone(&state.metrics),
        shutdown.clone(),
    ));
    let served = serve(listener, admin_listener, &state, &config, &shutdown).await;
    shutdown.cancel();
    if worker.await.is_err() {
        tracing::error!("the worker panicked; its leases expire by themselves");
    }
    store.close().await;
    served.context("the HTTP server failed")?;
    tracing::info!("relay stopped");
    Ok(Exit::Success)
}

async fn bind(address: &str, variable: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} ({variable})"))
}

/// App mode: the App's client, the Currents webhook route, the catch-up and reconcile
/// passes, and what check jobs need.
fn start_app_mode(
    app_config: AppModeConfig,
    state: &mut AppState,
    config: &RelayConfig,
    currents: Option<&CurrentsClient>,
    http: &Http,
    media_signer: Option<MediaSigner>,
    shutdown: &CancellationToken,
) -> anyhow::Result<AppWork> {
    let app = GithubApp::new(
        &app_config.credentials,
        app_config.api_url.clone(),
        TRY_ONCE,
        http,
    )
    .context("GITHUB_APP_PRIVATE_KEY")?;
    let projects = app_config
        .checks
        .as_ref()
        .map_or_else(ProjectRepos::none, |c| c.projects.clone());
    *state = state.clone().with_app_id(app.app_id().get());
    tokio::spawn(say_missing_permissions(app.clone()));
    if let Some(checks) = &app_config.checks {
        *state = state.clone().with_currents_hook(CurrentsHook {
            currents_secrets: checks.secrets.clone(),
            projects: checks.projects.clone(),
        });
    }
    let owner = &config.worker.owner;
    if !app_config.catchup_interval.is_zero() {
        tokio::spawn(catchup::run(
            state.store.clone(),
            app.clone(),
            owner.clone(),
            app_config.catchup_interval,
            Arc::clone(&state.metrics),
            shutdown.clone(),
        ));
    }
    let reconciling = app_config.checks.is_some() && !app_config.reconcile_interval.is_zero();
    if let (true, Some(currents)) = (reconciling, currents) {
        tokio::spawn(reconcile::run(
            reconcile::Reconciler {
                store: state.store.clone(),
                currents: currents.clone(),
                projects: projects.clone(),
                owner: owner.clone(),
                interval: app_config.reconcile_interval,
                metrics: Arc::clone(&state.metrics),
                wake: Arc::clone(&state.wake),
            },
            shutdown.clone(),
        ));
    }
    tracing::info!(
        app_id = %app.app_id(),
        currents_webhook = state.app.is_some(),
        server = %app_config.server.url(),
        projects = %projects,
        catchup_interval = %humantime::format_duration(app_config.catchup_interval),
        reconcile_interval = %humantime::format_duration(app_config.reconcile_interval),
        "App mode"
    );
    Ok(AppWork {
        app,
        settings: CheckSettings {
            check_name: app_config.check_name,
            comment: app_config.comment,
            media: media_signer.zip(config.public_url.clone()),
            allow: projects,
            server: app_config.server,
            fetch_concurrency: config.fetch_concurrency,
            triage: app_config.triage,
            quarantine_for: app_config.quarantine_for,
            warned: Arc::new(WarnedRuns::default()),
        },
    })
}

/// One log line per installation that lacks a permission a feature needs: the feature is not
/// offered there (`Re-run failed` needs Actions: write; checks need Checks: write; the comment
/// needs Pull requests: write).
async fn say_missing_permissions(app: GithubApp) {
    let installations = match app.installations().await {
        Ok(installations) => installations,
        Err(e) => {
            tracing::warn!(error = %crate::log_safe::Chain(&e), "cannot list the App's installations to check their permissions");
            return;
        }
    };
    let needs = [
        ("checks", "no check run can be written there"),
        ("pull_requests", "no pull request comment is posted there"),
        ("actions", "the Re-run failed button is not offered there"),
    ];
    for installation in installations {
        let account = installation
            .account
            .as_ref()
            .map_or("an account", |a| a.login.as_str());
        for (permission, effect) in needs {
            let level = installation.permissions.get(permission).map(String::as_str);
            if !matches!(level, Some("write" | "admin")) {
                tracing::warn!(
                    installation = installation.id.get(),
                    account = %crate::log_safe::LogSafe(account),
                    permission,
                    "the App's installation lacks {permission}: write, so {effect}"
                );
            }
        }
    }
}

/// Serves the routes (the admin routes on their own listener when one is given) until
/// `shutdown`.
async fn serve(
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    state: &AppState,
    config: &RelayConfig,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    let max_connections = server::connection_cap(config.max_connections);
    let serve_on = |listener, app| {
        server::serve(
            listener,
            app,
            max_connections,
            Arc::clone(&state.metrics),
            shutdown.clone(),
            config.shutdown_timeout,
        )
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| config.listen.clone(), |a| a.to_string());
    let admin_server = admin_listener.map(|admin_listener| {
        let admin_address = admin_listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(admin_listen = %admin_address, "admin routes listening");
        tokio::spawn(serve_on(admin_listener, admin_router(state.clone())))
    });
    let app = if admin_server.is_some() {
        public_router(state.clone())
    } else {
        router(state.clone())
    };
    tracing::info!(listen = %address, store = state.store.backend(), dry_run = config.worker.dry_run, max_connections, "relay listening");
    let served = serve_on(listener, app).await;
    shutdown.cancel();
    if let Some(admin_server) = admin_server {
        let _ = admin_server.await;
    }
    served
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
            Err(error) => {
                tracing::error!(error = %crate::log_safe::Chain(&error), "retention failed; it runs again later")
            }
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
            tracing::error!(error = %crate::log_safe::Chain(&e), "cannot install signal handlers");
            return;
        }
    };
    let signal = signals.recv().await;
    tracing::info!(
        signal = signal.name(),
        "stopping: finishing in-flight requests and jobs"
    );
    shutdown.cancel();
}

/// `relay register-currents-webhook`: creates the Currents webhook that sends the project's
/// run events to `/webhooks/currents` with the secret header.
pub async fn register_currents_webhook(
    config: RegisterConfig,
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
