//! The relay as a real process, on a SQLite file, logging to a file beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CURRENTS_KEY, FakeCurrents, WEBHOOK_SECRET, binary, wait_explained, wait_until_ready};

pub struct RelayProcess {
    pub child: tokio::process::Child,
    pub base: String,
    /// `--admin-listen`'s address, when one was asked for.
    pub admin_base: Option<String>,
    pub log: PathBuf,
}

/// The admin token every relay started here gets.
pub const ADMIN_TOKEN: &str = "crash-admin";

impl RelayProcess {
    /// `GET /admin/jobs{query}` with the admin token: the jobs as the admin API lists them.
    pub async fn admin_jobs(&self, query: &str) -> Vec<serde_json::Value> {
        let base = self.admin_base.as_deref().unwrap_or(&self.base);
        reqwest::Client::new()
            .get(format!("{base}/admin/jobs{query}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `/metrics`, from the admin listener when the relay has one.
    pub async fn metrics(&self) -> String {
        let base = self.admin_base.as_deref().unwrap_or(&self.base);
        let answer = reqwest::get(format!("{base}/metrics")).await.unwrap();
        answer.text().await.unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the relay is running")
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the relay.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The relay's resident memory, in KiB, and its peak.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// Starts the relay on `db`, logging to `<db>.log` (appended, so a restart keeps the first run's
/// lines). `env` adds to or overrides the defaults below. With `fd_limit` (soft, hard), it
/// runs under those `ulimit -n` limits, as under systemd's default of 1024 soft.
///
/// The relay binds port 0 and the test reads the address it got from its "relay listening"
/// log line: picking a free port first would race with every other listener the concurrent
/// tests open.
pub async fn start_relay_with(
    db: &Path,
    currents: &FakeCurrents,
    env: &[(&str, &str)],
) -> RelayProcess {
    spawn_relay(db, currents, env, None).await
}

pub async fn spawn_relay(
    db: &Path,
    currents: &FakeCurrents,
    env: &[(&str, &str)],
    fd_limit: Option<(u64, u64)>,
) -> RelayProcess {
    let log_path = db.with_extension("log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let seen = std::fs::metadata(&log_path).map_or(0, |m| m.len() as usize);
    let mut command = match fd_limit {
        Some((soft, hard)) => {
            let mut sh = tokio::process::Command::new("sh");
            sh.arg("-c")
                .arg(format!(
                    "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" relay"
                ))
                .arg(binary());
            sh
        }
        None => {
            let mut relay = tokio::process::Command::new(binary());
            relay.arg("relay");
            relay
        }
    };
    let child = command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("RELAY_LISTEN", "127.0.0.1:0")
        .env("RELAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RELAY_POLL_INTERVAL", "50ms")
        .env("RELAY_LEASE", "45s")
        .env("RELAY_RETRY_BASE", "100ms")
        .env("CURRENTS_API_URL", currents.url())
        .env("CURRENTS_API_KEY", CURRENTS_KEY)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let port_after = |line: &str| -> Option<String> {
        let at = line.find("127.0.0.1:")?;
        let port: String = line[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some(format!("http://127.0.0.1:{port}"))
    };
    let wants_admin = env.iter().any(|(k, _)| *k == "RELAY_ADMIN_LISTEN");
    let listening = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let fresh = text.get(seen..).unwrap_or_default().to_owned();
        let find = |what: &str| {
            fresh
                .lines()
                .find(|l| l.contains(what))
                .and_then(port_after)
        };
        let found = match (find("relay listening"), find("admin routes listening")) {
            (Some(base), admin) if admin.is_some() || !wants_admin => Ok((base, admin)),
            _ => Err(fresh),
        };
        std::future::ready(found)
    };
    let (base, admin_base) =
        wait_explained("the relay to start", Duration::from_secs(20), listening).await;
    wait_until_ready(&format!("{base}/readyz")).await;
    RelayProcess {
        child,
        base,
        admin_base,
        log: log_path,
    }
}

/// The log of the relay that ran on `db`.
pub fn relay_log(db: &Path) -> String {
    std::fs::read_to_string(db.with_extension("log")).unwrap_or_default()
}
