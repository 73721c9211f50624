//! Runs: `GET /runs/{runId}`, `GET /runs/find` and the lists' items.

use serde::Deserialize;

use super::*;

/// `data` of `GET /runs/{runId}` and `GET /runs/find`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub run_id: RunId,
    pub project_id: Option<ProjectId>,
    pub created_at: Option<String>,
    pub duration_ms: Option<f64>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    pub cypress_version: Option<String>,
    pub timeout: Option<RunTimeout>,
    pub cancellation: Option<Cancellation>,
    #[serde(default, deserialize_with = "null_default")]
    pub groups: Vec<Group>,
    #[serde(default, deserialize_with = "null_default")]
    pub meta: RunMeta,
    #[serde(default, deserialize_with = "null_default")]
    pub specs: Vec<Spec>,
    #[serde(default)]
    pub completion_state: CompletionState,
    #[serde(default)]
    pub status: RunStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RunTimeout {
    #[serde(deserialize_with = "null_default")]
    pub is_timeout: bool,
    pub timeout_value_ms: Option<f64>,
}

/// Who cancelled a run and when. The docs say `actor`/`canceledAt`, the OpenAPI document
/// `cancelledBy`/`cancelledAt`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cancellation {
    #[serde(alias = "cancelledBy")]
    pub actor: Option<String>,
    #[serde(alias = "cancelledAt")]
    pub canceled_at: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RunMeta {
    pub ci_build_id: Option<String>,
    pub commit: Option<Commit>,
    pub framework: Option<Framework>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Commit {
    pub sha: Option<String>,
    pub branch: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub message: Option<String>,
    pub remote_origin: Option<String>,
}

/// `meta.framework`: `{type, version, clientVersion}` in the docs, `{name, version}` in the
/// OpenAPI document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Framework {
    #[serde(alias = "name", rename = "type")]
    pub kind: Option<String>,
    pub version: Option<String>,
    pub client_version: Option<String>,
}

/// A group: a Playwright project or a Cypress browser/group, with its counters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Group {
    pub group_id: String,
    pub platform: Option<Platform>,
    pub instances: Option<InstanceCounts>,
    #[serde(deserialize_with = "null_default")]
    pub tests: TestCounts,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Platform {
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub browser_name: Option<String>,
    pub browser_version: Option<String>,
}

/// Spec-file progress of a group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceCounts {
    #[serde(deserialize_with = "null_default")]
    pub overall: u64,
    #[serde(deserialize_with = "null_default")]
    pub claimed: u64,
    #[serde(deserialize_with = "null_default")]
    pub complete: u64,
    #[serde(deserialize_with = "null_default")]
    pub passes: u64,
    #[serde(deserialize_with = "null_default")]
    pub failures: u64,
}

/// Test counters of a group (`groups[].tests`) or a spec (`results.stats`); Cypress has no
/// `flaky` in spec stats, Playwright no `suites`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TestCounts {
    #[serde(deserialize_with = "null_default")]
    pub overall: u64,
    #[serde(deserialize_with = "null_default")]
    pub tests: u64,
    #[serde(deserialize_with = "null_default")]
    pub passes: u64,
    #[serde(deserialize_with = "null_default")]
    pub failures: u64,
    #[serde(deserialize_with = "null_default")]
    pub pending: u64,
    #[serde(deserialize_with = "null_default")]
    pub skipped: u64,
    #[serde(deserialize_with = "null_default")]
    pub flaky: u64,
    #[serde(deserialize_with = "null_default")]
    pub retries: u64,
    pub wall_clock_duration: Option<f64>,
}

/// One spec file of a run (`run.specs[]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub spec: String,
    #[serde(default)]
    pub group_id: String,
    pub instance_id: InstanceId,
    pub claimed_at: Option<String>,
    pub completed_at: Option<String>,
    pub results: Option<SpecResults>,
}

impl Run {
    /// Whether Playwright recorded it: Currents Actions (quarantine, skip) apply to Playwright
    /// runs only.
    pub fn is_playwright(&self) -> bool {
        self.meta
            .framework
            .as_ref()
            .and_then(|f| f.kind.as_deref())
            .is_some_and(|k| k.eq_ignore_ascii_case("pw") || k.eq_ignore_ascii_case("playwright"))
    }

    /// Whether Currents still receives results for the run. An unknown completion state falls
    /// back to the status: running or failing (or unknown) means not done yet.
    pub fn is_in_progress(&self) -> bool {
        match self.completion_state {
            CompletionState::InProgress => true,
            CompletionState::Other(_) => matches!(
                self.status,
                RunStatus::Running | RunStatus::Failing | RunStatus::Other(_)
            ),
            _ => false,
        }
    }

    /// `(complete, all)` specs, from the groups' counters, else from the specs.
    pub fn spec_progress(&self) -> (u64, u64) {
        let counted: Vec<_> = self
            .groups
            .iter()
            .filter_map(|g| g.instances.as_ref())
            .collect();
        if counted.is_empty() {
            let done = self
                .specs
                .iter()
                .filter(|s| s.completed_at.is_some())
                .count() as u64;
            (done, self.specs.len() as u64)
        } else {
            (
                counted.iter().map(|i| i.complete).sum(),
                counted.iter().map(|i| i.overall).sum(),
            )
        }
    }

    /// `Run abc is IN_PROGRESS (RUNNING): specs complete 2/3`.
    pub fn progress_line(&self) -> String {
        let (done, all) = self.spec_progress();
        format!(
            "Run {} is {} ({}): specs complete {done}/{all}",
            self.run_id, self.completion_state, self.status
        )
    }
}

impl Spec {
    /// Whether this spec's instance holds failures or flaky tests worth fetching.
    pub fn needs_details(&self) -> bool {
        self.results.as_ref().is_some_and(|r| {
            r.stats.failures > 0
                || r.stats.flaky > 0
                || r.flaky > 0
                || r.exception.as_deref().is_some_and(|e| !e.is_empty())
        })
    }
}
