//! Instances: one spec file's execution with its tests, attempts, errors and artifacts.

use serde::Deserialize;

use super::*;

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
    /// Playwright's tags (`@coupons`) and Currents' (`project:chromium`).
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<String>,
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
