//! `relay`'s flags and its validated configuration.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::CurrentsArgs;
use super::values::{ConfigError, bad, parse_duration, parse_size, secret, set};

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
}

impl RelayArgs {
    /// Whether logs should be JSON lines.
    pub fn json_logs(&self) -> bool {
        set(self.log_format.clone()).is_some_and(|f| f.eq_ignore_ascii_case("json"))
    }

    pub fn into_config(self) -> Result<crate::relay::RelayConfig, ConfigError> {
        use crate::relay::{RetrySchedule, WebhookSecrets, WorkerConfig};
        let secrets = WebhookSecrets::new(
            set(self.webhook_secret.clone())
                .unwrap_or_default()
                .split(',')
                .map(|s| SecretString::from(s.trim().to_owned()))
                .collect(),
        )
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
        let dry_run = self.currents.dry_run()?;
        let currents = match (self.currents.config(), dry_run) {
            (Ok(config), _) => Some(config),
            (Err(_), true) => None,
            (Err(e), false) => return Err(e),
        };
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
        let schedule = match set(self.retry_base.clone()) {
            None => RetrySchedule::default(),
            Some(_) => RetrySchedule::with_base(parse_duration(
                "--retry-base (RELAY_RETRY_BASE)",
                self.retry_base.clone(),
                Duration::ZERO,
            )?),
        };
        let database_url =
            set(self.database_url.clone()).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(bad("DATABASE_URL must start with sqlite:// or postgres://"));
        }
        Ok(crate::relay::RelayConfig {
            listen: set(self.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            secrets,
            database_url: SecretString::from(database_url),
            admin_token: secret(self.admin_token.clone()),
            max_body: parse_size(
                "--max-body (RELAY_MAX_BODY)",
                self.max_body.clone(),
                DEFAULT_MAX_BODY,
            )?,
            currents,
            worker: WorkerConfig {
                owner: format!("relay-{}-{:08x}", std::process::id(), fastrand::u32(..)),
                poll_interval,
                lease,
                schedule,
                project_id: set(self.currents.project_id.clone()),
                dry_run,
            },
        })
    }
}
