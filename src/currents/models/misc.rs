//! Cancels, projects and Currents' outgoing webhooks.

use serde::{Deserialize, Deserializer, Serialize};

use super::*;

/// `data` of a successful cancel, parsed only for logging: the docs, the OpenAPI document, the
/// director and the 2026 action (`data: {}`) all disagree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CancelResponse {
    pub run_id: Option<RunId>,
    #[serde(alias = "cancelledBy")]
    pub actor: Option<String>,
    #[serde(alias = "cancelledAt")]
    pub canceled_at: Option<String>,
    pub cancellation: Option<Cancellation>,
}

/// Body of `PUT /runs/cancel-ci/github`. The ids are JSON strings, as Currents' own action
/// sends them; a number is accepted on input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelByGithubRequest {
    #[serde(deserialize_with = "string_or_number")]
    pub github_run_id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub github_run_attempt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_build_id: Option<String>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    })
}

/// A Currents project (`GET /projects/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub project_id: ProjectId,
    pub name: Option<String>,
    pub inactivity_timeout_seconds: Option<u64>,
}

/// The body of Currents' outgoing HTTP webhook (`RUN_START`, `RUN_FINISH`, `RUN_TIMEOUT`,
/// `RUN_CANCELED`). It names the run only by `runUrl` and `buildId`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunWebhook {
    pub event: String,
    pub run_url: Option<String>,
    pub build_id: Option<String>,
    /// Set on multi-group runs: each group may send its own `RUN_FINISH`.
    pub group_id: Option<String>,
    pub commit: Option<WebhookCommit>,
    #[serde(default, deserialize_with = "null_default")]
    pub failures: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub passes: u64,
}

/// The commit a Currents run recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCommit {
    pub sha: Option<String>,
    pub branch: Option<String>,
    /// The repository's remote as the runner saw it: `https://host/owner/repo(.git)`,
    /// `git@host:owner/repo(.git)` or `ssh://git@host/owner/repo`.
    pub remote_origin: Option<String>,
}

impl RunWebhook {
    /// The run's id: the last path segment of `runUrl` (the payload has no id field).
    pub fn run_id(&self) -> Option<RunId> {
        let url = url::Url::parse(self.run_url.as_deref()?).ok()?;
        let last = url.path_segments()?.rev().find(|s| !s.is_empty())?;
        let valid = last.len() <= 128
            && last
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid.then(|| RunId::new(last))
    }
}
