//! Models of the Currents API responses.
//!
//! Sources disagree on casing and field names (reference `currents-api.md` §4), and the API
//! adds fields over time, so every model is lenient: unknown fields are ignored, everything but
//! the ids is optional or defaulted, `null` reads as the default, enums accept any casing and
//! keep unknown values, and Cypress and Playwright shapes share one type with optional fields.
//! Structs whose every field may be absent say so once, with a container-level
//! `#[serde(default)]` (their `Default` fills what is missing); in the others an `Option` field
//! needs nothing (serde reads a missing one as `None`) and a field that may be absent says
//! `default`. `null_default` is added where `null` arrives too.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};

crate::ids::id_type!(
    /// A Currents run id (`runId`), 16 or 32 hex characters.
    RunId(String)
);
crate::ids::id_type!(
    /// A Currents project id (`projectId`), e.g. `Xk9Pq2`.
    ProjectId(String)
);
crate::ids::id_type!(
    /// One spec file's execution (`instanceId`): a UUID for Cypress, 16 characters for Playwright.
    InstanceId(String)
);

/// Declares an enum that reads any casing and separator (`IN_PROGRESS`, `inProgress`,
/// `in-progress`) and keeps unknown values in `Other`.
macro_rules! lenient_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $canonical:literal [$($alias:literal),*]),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// Parses leniently: case, `_` and `-` are ignored.
            pub fn parse(raw: &str) -> Self {
                let key: String = raw
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                match key.as_str() {
                    $($($alias)|* => Self::$variant,)+
                    _ => Self::Other(raw.to_owned()),
                }
            }

            /// The documented (upper-case) spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $canonical,)+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Option::<String>::deserialize(d)?.map_or_else(Self::default, |raw| Self::parse(&raw)))
            }
        }
    };
}

lenient_enum!(
    /// Whether a run still receives results. The docs spell it `COMPLETE`; the OpenAPI document
    /// `complete`/`incomplete`/`cancelled`/`timedOut`.
    CompletionState {
        Complete => "COMPLETE" ["complete", "completed"],
        InProgress => "IN_PROGRESS" ["inprogress", "incomplete", "running"],
        Canceled => "CANCELED" ["canceled", "cancelled"],
        Timeout => "TIMEOUT" ["timeout", "timedout"],
    }
);

lenient_enum!(
    /// The result of a run so far.
    RunStatus {
        Passed => "PASSED" ["passed"],
        Failed => "FAILED" ["failed"],
        Running => "RUNNING" ["running"],
        Failing => "FAILING" ["failing"],
        Canceled => "CANCELED" ["canceled", "cancelled"],
        TimedOut => "TIMEOUT" ["timeout", "timedout"],
    }
);

lenient_enum!(
    /// The state of a test or of one attempt.
    TestState {
        Passed => "passed" ["passed"],
        Failed => "failed" ["failed"],
        Pending => "pending" ["pending"],
        Skipped => "skipped" ["skipped"],
    }
);

/// Reads `null` as the type's default, for fields that some responses send as `null`.
fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A test title: the describe path plus the test name. Accepts a single string too.
fn title_path<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Title {
        Path(Vec<String>),
        One(String),
    }
    Ok(match Option::<Title>::deserialize(d)? {
        Some(Title::Path(path)) => path,
        Some(Title::One(one)) => vec![one],
        None => Vec::new(),
    })
}

/// The `{status, data}` success envelope of every Currents response.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
}

/// Reads a Currents response body that is either the `{status, data}` envelope or the bare
/// `data` object (as `--from-dir` files may be saved).
pub fn from_envelope_or_bare<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let data = match value {
        serde_json::Value::Object(mut map)
            if map.contains_key("data") && map.contains_key("status") =>
        {
            map.remove("data").unwrap_or_default()
        }
        other => other,
    };
    serde_json::from_value(data)
}

/// The error envelope: `{"status":"FAILED","error":"…"}`; the director sends `message` instead.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApiError {
    pub status: Option<String>,
    #[serde(alias = "message")]
    pub error: Option<String>,
    pub code: Option<String>,
}

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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SpecResults {
    #[serde(deserialize_with = "null_default")]
    pub stats: TestCounts,
    #[serde(deserialize_with = "null_default")]
    pub flaky: u64,
    pub exception: Option<String>,
    pub video_url: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub screenshots: Vec<Screenshot>,
}

/// `data` of `GET /instances/{instanceId}`: one spec file's execution with test-level results.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub instance_id: InstanceId,
    pub run_id: Option<RunId>,
    #[serde(default)]
    pub spec: String,
    #[serde(default)]
    pub group_id: String,
    pub platform: Option<Platform>,
    pub results: Option<InstanceResults>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceResults {
    #[serde(deserialize_with = "null_default")]
    pub stats: TestCounts,
    #[serde(deserialize_with = "null_default")]
    pub tests: Vec<Test>,
    /// Cypress: the error that stopped the spec from running at all.
    pub exception: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub screenshots: Vec<Screenshot>,
    /// Cypress: one video of the whole spec; attempts carry `videoTimestamp` into it.
    pub video_url: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub videos: Vec<Video>,
    #[serde(deserialize_with = "null_default")]
    pub playwright_traces: Vec<Trace>,
    #[serde(deserialize_with = "null_default")]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Test {
    pub test_id: String,
    #[serde(deserialize_with = "title_path")]
    pub title: Vec<String>,
    /// Absent on some ("InstanceTest V2") entries: derive it from the last attempt.
    pub state: Option<TestState>,
    pub display_error: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub attempts: Vec<Attempt>,
    pub is_flaky: Option<bool>,
}

impl Test {
    /// The test's final state: its own `state`, else its last attempt's.
    pub fn final_state(&self) -> Option<&TestState> {
        self.state
            .as_ref()
            .or_else(|| self.attempts.last().map(|a| &a.state))
    }

    pub fn is_failed(&self) -> bool {
        self.final_state() == Some(&TestState::Failed)
    }

    /// Flaky: marked so, or passed after a failed attempt.
    pub fn is_flaky(&self) -> bool {
        self.is_flaky == Some(true)
            || (self.final_state() == Some(&TestState::Passed)
                && self.attempts.iter().any(|a| a.state == TestState::Failed))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Attempt {
    pub state: TestState,
    pub error: Option<TestError>,
    pub wall_clock_duration: Option<f64>,
    /// Cypress: milliseconds into the spec video where this attempt starts.
    pub video_timestamp: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TestError {
    pub name: Option<String>,
    pub message: Option<String>,
    pub stack: Option<String>,
    pub code_frame: Option<CodeFrame>,
}

/// A pre-rendered source excerpt around the failing line. Playwright gives the absolute runner
/// path in `file`; Cypress gives `relativeFile`, `originalFile` and `absoluteFile`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CodeFrame {
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub frame: Option<String>,
    pub file: Option<String>,
    pub relative_file: Option<String>,
    pub original_file: Option<String>,
    pub absolute_file: Option<String>,
}

/// Artifacts name the test and attempt they belong to; one without a `testId` is spec-level.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Screenshot {
    pub name: Option<String>,
    pub test_id: Option<String>,
    pub test_attempt_index: Option<usize>,
    #[serde(rename = "screenshotURL", alias = "screenshotUrl")]
    pub screenshot_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Video {
    pub test_id: Option<String>,
    pub test_attempt_index: Option<usize>,
    pub video_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Trace {
    pub test_id: Option<String>,
    pub test_attempt_index: Option<usize>,
    pub name: Option<String>,
    #[serde(rename = "traceURL", alias = "traceUrl")]
    pub trace_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Attachment {
    pub test_id: Option<String>,
    pub test_attempt_index: Option<usize>,
    pub name: Option<String>,
    pub filename: Option<String>,
    pub read_url: Option<String>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_every_casing() {
        for raw in ["COMPLETE", "complete", "Complete", "completed"] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::Complete,
                "{raw}"
            );
        }
        for raw in [
            "IN_PROGRESS",
            "in_progress",
            "inProgress",
            "in-progress",
            "incomplete",
        ] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::InProgress,
                "{raw}"
            );
        }
        for raw in ["CANCELED", "cancelled", "Cancelled"] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::Canceled,
                "{raw}"
            );
        }
        for raw in ["TIMEOUT", "timedOut", "timed_out"] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::Timeout,
                "{raw}"
            );
        }
        assert_eq!(RunStatus::parse("passed"), RunStatus::Passed);
        assert_eq!(RunStatus::parse("FAILING"), RunStatus::Failing);
        assert_eq!(TestState::parse("FAILED"), TestState::Failed);
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let state = CompletionState::parse("ARCHIVED");
        assert_eq!(state, CompletionState::Other("ARCHIVED".into()));
        assert_eq!(state.as_str(), "ARCHIVED");
        assert_eq!(CompletionState::InProgress.as_str(), "IN_PROGRESS");
    }

    #[test]
    fn a_minimal_run_parses() {
        let run: Run =
            serde_json::from_str(r#"{"runId":"r1","groups":null,"specs":null,"status":null}"#)
                .unwrap();
        assert_eq!(run.run_id.as_str(), "r1");
        assert!(run.specs.is_empty());
        assert_eq!(run.completion_state, CompletionState::Other(String::new()));
    }

    #[test]
    fn test_state_falls_back_to_the_last_attempt() {
        let test: Test = serde_json::from_str(
            r#"{"testId":"t","title":"one title","attempts":[{"state":"failed"},{"state":"passed"}]}"#,
        )
        .unwrap();
        assert_eq!(test.title, vec!["one title".to_string()]);
        assert_eq!(test.final_state(), Some(&TestState::Passed));
        assert!(test.is_flaky());
        assert!(!test.is_failed());
    }

    #[test]
    fn cancellation_spellings() {
        let docs: Cancellation =
            serde_json::from_str(r#"{"actor":"api:k","canceledAt":"t1"}"#).unwrap();
        let oas: Cancellation =
            serde_json::from_str(r#"{"cancelledBy":"api:k","cancelledAt":"t1"}"#).unwrap();
        assert_eq!(docs.actor, oas.actor);
        assert_eq!(docs.canceled_at, oas.canceled_at);
    }

    #[test]
    fn cancel_request_ids_are_strings_on_the_wire() {
        let request: CancelByGithubRequest =
            serde_json::from_str(r#"{"githubRunId":45166321,"githubRunAttempt":1}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"githubRunId":"45166321","githubRunAttempt":"1"}"#
        );
    }

    #[test]
    fn envelope_or_bare() {
        let wrapped: Run =
            from_envelope_or_bare(br#"{"status":"OK","data":{"runId":"a"}}"#).unwrap();
        let bare: Run = from_envelope_or_bare(br#"{"runId":"b"}"#).unwrap();
        assert_eq!((wrapped.run_id.as_str(), bare.run_id.as_str()), ("a", "b"));
    }
}
