//! `relay`'s flags and its validated configuration.

use std::time::Duration;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::CurrentsArgs;
use super::shared::MediaArgs;
use super::values::{ConfigError, bad, parse_duration, parse_size, parse_url, secret, set};
use crate::currents::ProjectId;
use crate::relay::{RegisterConfig, TrustedProxies};

/// Defaults of the relay.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://currents-bridge.db";
/// GitHub's workflow payloads are a few KiB; 5 MiB leaves room for any event a hook may be
/// subscribed to without letting a client make the relay buffer GitHub's 25 MB maximum.
pub const DEFAULT_MAX_BODY: usize = 5 * 1024 * 1024;
/// How often the worker looks for due jobs when nothing wakes it (a new delivery does).
pub const DEFAULT_RELAY_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A claim's lease: a cancel call takes at most 30 s (the client's timeout), plus a margin.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(90);
/// What a lease must exceed the Currents request timeout by: the worker claims only what it
/// starts at once, so this covers scheduling and the database round trips around the call.
pub const LEASE_MARGIN: Duration = Duration::from_secs(15);
/// How long a graceful stop may take: under Kubernetes' 30 s grace period, and Docker's 10 s
/// is configurable (`docker stop -t`, compose `stop_grace_period`).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long finished jobs and deliveries are kept: past GitHub's three-day redelivery window
/// (deliveries are the dedupe record), with time to look into an incident.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// The shortest retention accepted: GitHub may redeliver for three days, and a pruned delivery
/// would then be taken as new.
pub const MIN_RETENTION: Duration = Duration::from_secs(3 * 24 * 60 * 60 + 60 * 60);
/// Client connections served at once (lowered to fit the file-descriptor limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;

#[derive(Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub currents: CurrentsArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "RELAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Webhook secrets, comma-separated, newest first (rotation). Required. Never logged.
    #[arg(
        long,
        env = "GITHUB_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRETS"
    )]
    pub webhook_secret: Option<String>,
    /// sqlite://path (one relay) or postgres://… (several) [default: sqlite://currents-bridge.db]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Bearer token of the /admin routes; they are disabled when unset. Never logged.
    #[arg(
        long,
        env = "RELAY_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// Largest accepted body, e.g. 5MiB or 1048576 [default: 5MiB]
    #[arg(long, env = "RELAY_MAX_BODY", value_name = "SIZE")]
    pub max_body: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "RELAY_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// How often the worker polls for due jobs [default: 1s]
    #[arg(long, env = "RELAY_POLL_INTERVAL", value_name = "DURATION")]
    pub poll_interval: Option<String>,
    /// How long a worker's claim on a job lasts [default: 90s]
    #[arg(long, env = "RELAY_LEASE", value_name = "DURATION")]
    pub lease: Option<String>,
    /// First wait of the retry schedule; later waits scale with it [default: 20s; 10s for 404s]
    #[arg(long, env = "RELAY_RETRY_BASE", value_name = "DURATION")]
    pub retry_base: Option<String>,
    /// How long transient Currents failures are retried before a job goes dead [default: 24h]
    #[arg(long, env = "RELAY_RETRY_WINDOW", value_name = "DURATION")]
    pub retry_window: Option<String>,
    /// Serve /metrics and /admin on this address instead of --listen
    #[arg(long, env = "RELAY_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Delete finished jobs and deliveries older than this; at least 3 days [default: 14d]
    #[arg(long, env = "RELAY_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,
    /// How long a graceful stop may take [default: 20s]
    #[arg(long, env = "RELAY_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    pub shutdown_timeout: Option<String>,
    /// Client connections served at once; more get 503 [default: 4096, or fewer to fit the fd limit]
    #[arg(long, env = "RELAY_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<String>,
    #[command(flatten)]
    pub media: MediaArgs,
    /// The relay's public https URL, for the media links of App mode's checks
    #[arg(long, env = "RELAY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Proxies whose X-Forwarded-For names the client (per-client limits), comma-separated CIDRs, e.g. 10.0.0.0/8 [default: none]
    #[arg(long, env = "RELAY_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
    #[command(flatten)]
    pub app: super::app::AppArgs,
    #[command(subcommand)]
    pub command: Option<RelayCommand>,
}

#[derive(Subcommand)]
pub enum RelayCommand {
    /// Create the Currents webhook that sends a project's run events to this relay's
    /// /webhooks/currents, with the secret header (App mode).
    RegisterCurrentsWebhook(RegisterArgs),
}

#[derive(Args)]
pub struct RegisterArgs {
    /// The Currents project whose runs to send
    #[arg(long = "project-id", env = "CURRENTS_PROJECT_ID", value_name = "ID")]
    pub project_id: Option<String>,
    /// The relay's public https URL of the route, e.g. https://relay.example.com/webhooks/currents
    #[arg(long, env = "CURRENTS_WEBHOOK_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The webhook's label in Currents [default: currents-bridge]
    #[arg(long, env = "CURRENTS_WEBHOOK_LABEL", value_name = "TEXT")]
    pub label: Option<String>,
}

/// Comma-separated secrets, newest first; `None` when none is set.
pub(super) fn secrets_of(raw: Option<String>) -> Option<crate::relay::WebhookSecrets> {
    crate::relay::WebhookSecrets::new(
        set(raw)
            .unwrap_or_default()
            .split(',')
            .map(|s| SecretString::from(s.trim().to_owned()))
            .collect(),
    )
}

impl RelayArgs {
    /// Whether logs should be JSON lines.
    pub fn json_logs(&self) -> bool {
        set(self.log_format.clone()).is_some_and(|f| f.eq_ignore_ascii_case("json"))
    }

    /// The validated `relay register-currents-webhook`, when that is the command.
    pub fn register_config(&mut self) -> Option<Result<RegisterConfig, ConfigError>> {
        let RelayCommand::RegisterCurrentsWebhook(args) = self.command.take()?;
        Some(self.register(&args))
    }

    fn register(&self, args: &RegisterArgs) -> Result<RegisterConfig, ConfigError> {
        let project_id = set(args.project_id.clone()).map(ProjectId::new).ok_or_else(|| {
            bad("--project-id (CURRENTS_PROJECT_ID) is required: the project whose runs to send")
        })?;
        let url = parse_url("--url (CURRENTS_WEBHOOK_URL)", args.url.clone(), "")?;
        if url.scheme() != "https"
            && !url
                .host_str()
                .is_some_and(|h| h == "127.0.0.1" || h == "localhost")
        {
            return Err(bad(
                "--url (CURRENTS_WEBHOOK_URL) must be https: Currents sends the secret header with every request",
            ));
        }
        let secret = set(self.app.currents_webhook_secret.clone())
            .and_then(|raw| raw.split(',').map(str::trim).find(|s| !s.is_empty()).map(str::to_owned))
            .map(SecretString::from)
            .ok_or_else(|| bad("--currents-webhook-secret (CURRENTS_WEBHOOK_SECRET) is required: the value Currents will send in X-Currents-Bridge-Secret"))?;
        Ok(RegisterConfig {
            currents: self.currents.config()?,
            project_id,
            url,
            secret,
            label: set(args.label.clone()).unwrap_or_else(|| "currents-bridge".to_owned()),
        })
    }

    pub fn into_config(self) -> Result<crate::relay::RelayConfig, ConfigError> {
        let secrets = secrets_of(self.webhook_secret.clone())
        .ok_or_else(|| bad("the relay needs a webhook secret: set --webhook-secret or GITHUB_WEBHOOK_SECRET (the secret of the GitHub webhook)"))?;
        match set(self.log_format.clone())
            .map(|f| f.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("text" | "json") => {}
            Some(other) => {
                return Err(bad(format!(
                    "--log-format must be text or json, not {other:?}"
                )));
            }
        }
        let has_key = secret(self.currents.api_key.clone()).is_some();
        let currents = match (self.currents.config(), self.currents.dry_run()?) {
            (Ok(config), _) => Some(config),
            (Err(_), true) => None,
            (Err(e), false) => return Err(e),
        };
        Ok(crate::relay::RelayConfig {
            listen: set(self.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            admin_listen: set(self.admin_listen.clone()),
            max_connections: self.max_connections()?,
            shutdown_timeout: parse_duration(
                "--shutdown-timeout (RELAY_SHUTDOWN_TIMEOUT)",
                self.shutdown_timeout.clone(),
                DEFAULT_SHUTDOWN_TIMEOUT,
            )?,
            retention: self.retention()?,
            secrets,
            database_url: self.database_url()?,
            admin_token: secret(self.admin_token.clone()),
            max_body: parse_size(
                "--max-body (RELAY_MAX_BODY)",
                self.max_body.clone(),
                DEFAULT_MAX_BODY,
            )?,
            currents,
            worker: self.worker()?,
            media_secret: self.media.secret()?,
            fetch_concurrency: self.currents.fetch_concurrency()?,
            trusted_proxies: match set(self.trusted_proxies.clone()) {
                None => TrustedProxies::default(),
                Some(raw) => TrustedProxies::parse(&raw)
                    .map_err(|e| bad(format!("--trusted-proxies (RELAY_TRUSTED_PROXIES): {e}")))?,
            },
            public_url: match set(self.public_url.clone()) {
                None => None,
                raw => Some(parse_url("--public-url (RELAY_PUBLIC_URL)", raw, "")?),
            },
            app: match self.app.into_config()? {
                Some(app) if app.checks.is_some() && !has_key => {
                    return Err(bad(
                        "--currents-webhook-secret (CURRENTS_WEBHOOK_SECRET) needs a Currents API key (CURRENTS_API_KEY): the relay reads each run's results to post its check",
                    ));
                }
                app => app,
            },
        })
    }

    /// The worker: its lease (longer than a call, and than two polls), schedule and scope.
    fn worker(&self) -> Result<crate::relay::WorkerConfig, ConfigError> {
        use crate::relay::RetrySchedule;
        let poll_interval = parse_duration(
            "--poll-interval (RELAY_POLL_INTERVAL)",
            self.poll_interval.clone(),
            DEFAULT_RELAY_POLL_INTERVAL,
        )?;
        let lease = parse_duration("--lease (RELAY_LEASE)", self.lease.clone(), DEFAULT_LEASE)?;
        if lease < poll_interval * 2 {
            return Err(bad(
                "--lease (RELAY_LEASE) must be at least twice --poll-interval",
            ));
        }
        let shortest = crate::http::REQUEST_TIMEOUT + LEASE_MARGIN;
        if lease < shortest {
            return Err(bad(format!(
                "--lease (RELAY_LEASE) must be at least {} (the Currents request timeout plus a margin), so that no job is claimed again while its cancel is in flight",
                humantime::format_duration(shortest)
            )));
        }
        let mut schedule = match set(self.retry_base.clone()) {
            None => RetrySchedule::default(),
            Some(_) => RetrySchedule::with_base(parse_duration(
                "--retry-base (RELAY_RETRY_BASE)",
                self.retry_base.clone(),
                Duration::ZERO,
            )?),
        };
        schedule.window = parse_duration(
            "--retry-window (RELAY_RETRY_WINDOW)",
            self.retry_window.clone(),
            crate::relay::DEFAULT_RETRY_WINDOW,
        )?;
        Ok(crate::relay::WorkerConfig {
            owner: format!("relay-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            poll_interval,
            lease,
            schedule,
            project_id: set(self.currents.project_id.clone()).map(ProjectId::new),
            dry_run: self.currents.dry_run()?,
        })
    }

    fn retention(&self) -> Result<Duration, ConfigError> {
        let retention = parse_duration(
            "--retention (RELAY_RETENTION)",
            self.retention.clone(),
            DEFAULT_RETENTION,
        )?;
        if retention < MIN_RETENTION {
            return Err(bad(
                "--retention (RELAY_RETENTION) must be more than 3 days: GitHub may redeliver a webhook for 3 days, and a pruned delivery would be taken as new",
            ));
        }
        Ok(retention)
    }

    fn max_connections(&self) -> Result<usize, ConfigError> {
        let Some(raw) = set(self.max_connections.clone()) else {
            return Ok(DEFAULT_MAX_CONNECTIONS);
        };
        raw.parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "--max-connections (RELAY_MAX_CONNECTIONS) must be a number from 1 to 1000000, not {raw:?}"
                ))
            })
    }

    fn database_url(&self) -> Result<SecretString, ConfigError> {
        let database_url =
            set(self.database_url.clone()).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(bad("DATABASE_URL must start with sqlite:// or postgres://"));
        }
        Ok(SecretString::from(database_url))
    }
}
