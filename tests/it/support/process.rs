//! The real binary, run with a workflow's environment and files.

use std::path::PathBuf;
use std::time::Duration;

use super::{CURRENTS_KEY, FakeCurrents, FakeGithub, GITHUB_TOKEN};

/// How the binary ran.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub outputs: String,
    pub summary: String,
}

impl Outcome {
    /// The value of a step output.
    pub fn output(&self, name: &str) -> Option<String> {
        self.outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    /// Secrets must not reach any log or file the binary writes.
    pub fn assert_no_secrets(&self) {
        for secret in [GITHUB_TOKEN, CURRENTS_KEY] {
            for (name, text) in [
                ("stdout", &self.stdout),
                ("stderr", &self.stderr),
                ("outputs", &self.outputs),
                ("summary", &self.summary),
            ] {
                assert!(!text.contains(secret), "a secret leaked into {name}");
            }
        }
    }
}

/// A workspace for one run of the binary: runtime files and the environment of a workflow.
pub struct Workflow {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Workflow {
    /// The environment of a `pull_request` workflow in `acme/webapp`, run 9876543210 attempt 1,
    /// talking to the given fakes.
    pub fn new(currents: &FakeCurrents, github: Option<&FakeGithub>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request":{"number":7,"head":{"sha":"prhead0000000000000000000000000000000001"}}}"#).unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let mut env: Vec<(String, String)> = [
            ("CURRENTS_API_URL", currents.url()),
            ("CURRENTS_API_KEY", CURRENTS_KEY.into()),
            ("CURRENTS_PROJECT_ID", "Xk9Pq2".into()),
            ("CURRENTS_POLL_INTERVAL", "50ms".into()),
            ("CURRENTS_WAIT_TIMEOUT", "20s".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_REPOSITORY", "acme/webapp".into()),
            ("GITHUB_RUN_ID", "9876543210".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            (
                "GITHUB_SHA",
                "merge000000000000000000000000000000000002".into(),
            ),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
            ("GITHUB_OUTPUT", path("output")),
            ("GITHUB_STEP_SUMMARY", path("summary")),
            ("GITHUB_TOKEN", GITHUB_TOKEN.into()),
            // The check-run tests count GitHub requests; the comment's tests turn it on.
            ("CURRENTS_COMMENT", "off".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(github) = github {
            env.push(("GITHUB_API_URL".into(), github.url()));
        }
        Self { dir, env }
    }

    /// The event of pull request 7 into `main` instead.
    pub fn on_pull_request_into_main(&self) {
        std::fs::write(
            self.dir.path().join("event.json"),
            r#"{"pull_request":{"number":7,"head":{"sha":"prhead0000000000000000000000000000000001"},"base":{"ref":"main"}}}"#,
        )
        .unwrap();
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// The binary with this environment only.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().cloned());
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    pub async fn run(&self, args: &[&str]) -> Outcome {
        let output = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("the binary finished within 60 s")
            .expect("the binary started");
        self.outcome(output)
    }

    pub fn outcome(&self, output: std::process::Output) -> Outcome {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: read("output"),
            summary: read("summary"),
        }
    }
}

/// The binary under test: the one cargo built for these tests, or `CURRENTS_BRIDGE_BIN` when set
/// (the benchmarks measure the static release binary that the image ships; bench/*.sh set it).
pub fn binary() -> PathBuf {
    std::env::var_os("CURRENTS_BRIDGE_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_currents-bridge")))
}
