//! From a Currents run and its instances to a [`Report`], and from a report to what GitHub
//! shows: the check run's title, summary, text and annotations, and the job summary.
//!
//! Pure functions over model values: no HTTP, no files, no clock (the caller passes the time
//! the run was fetched), so everything here is tested with fixtures and snapshots.

mod annotations;
mod attempt_media;
mod build;
mod comment;
mod compare;
mod markdown;
mod publish;
mod rules;
mod taken;
pub mod text;
mod triage;
mod verdicts;

use std::time::SystemTime;

pub use crate::github::{Annotation, AnnotationLevel};
pub use annotations::annotations;
pub use attempt_media::test_media;
pub use build::build;
pub use comment::pr_comment;
pub use compare::{BaseRun, Comparison, FixedTest, Passes, compare};
pub use markdown::{
    CheckOutput, check_output, gone_output, in_progress_output, job_summary, pointer_summary,
};
pub use publish::{FailOn, Fetched, Publication, Shape};
pub use rules::{Subject, quarantines};
pub use taken::{Taken, TakenWhat, taken_block, with_taken};
pub use triage::{
    DEFAULT_HISTORY_DAYS, Evidence, Flakiness, FlakyThreshold, Rerun, RuleRef, Sighting, Streak,
    TriageInput, TriageSettings, TriageSummary, Verdict, rerun, triage, verdicts_json,
};

use crate::currents::models::{CompletionState, RunStatus};
use crate::currents::{ProjectId, RunId};

/// Everything a reader needs to know about one Currents run, failures first.
#[derive(Debug, Clone)]
pub struct Report {
    pub run_id: RunId,
    /// The Currents project, when the run names it.
    pub project_id: Option<ProjectId>,
    /// The dashboard page of the run.
    pub run_url: String,
    pub completion: CompletionState,
    pub status: RunStatus,
    pub conclusion: Conclusion,
    pub totals: Totals,
    pub groups: Vec<GroupSummary>,
    /// Failed tests, in spec order.
    pub failures: Vec<TestReport>,
    /// Tests that passed after a failed attempt.
    pub flaky: Vec<TestReport>,
    /// Specs that failed without test-level detail: the spec crashed, or its instance could
    /// not be read.
    pub spec_problems: Vec<SpecProblem>,
    /// e.g. `Playwright 1.55.0`.
    pub framework: Option<String>,
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub duration_ms: Option<f64>,
    /// When the run was read from Currents; its signed media links expire 2 h later.
    pub fetched_at: SystemTime,
    /// What passed, for the comparison's "fixed" list.
    pub passes: Passes,
    /// The comparison with the base branch, when one was made ([`compare`]).
    pub comparison: Option<Comparison>,
    /// Media links go through a relay ([`relay_media`]) and do not expire.
    pub media_via_relay: bool,
    /// How the failures were triaged, when they were ([`triage`]).
    pub triage: Option<TriageSummary>,
    /// On a re-run: the previous attempt's failures that pass now.
    pub rerun: Option<Rerun>,
}

impl Report {
    /// Whether the run is anything but green: a test failed, or the run failed, was
    /// cancelled, timed out or ended in a state this version does not know. The one meaning
    /// of "failed" for the comment (`failures` mode) and the step's gate.
    pub fn failed(&self) -> bool {
        self.totals.failed > 0 || self.conclusion != Conclusion::Success
    }
}

impl From<Conclusion> for crate::github::CheckConclusion {
    fn from(conclusion: Conclusion) -> Self {
        match conclusion {
            Conclusion::Success => Self::Success,
            Conclusion::Failure => Self::Failure,
            Conclusion::Cancelled => Self::Cancelled,
            Conclusion::TimedOut => Self::TimedOut,
            Conclusion::Neutral => Self::Neutral,
        }
    }
}

/// A check run's conclusion, from the run's completion state and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Cancelled,
    TimedOut,
    /// A state this version does not know: neither green nor red.
    Neutral,
}

impl Conclusion {
    /// The Checks API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::Neutral => "neutral",
        }
    }

    /// PASSED → success, FAILED → failure, CANCELED → cancelled, TIMEOUT → timed_out. The
    /// completion state wins over the status: a cancelled run that was failing is cancelled.
    pub fn of(completion: &CompletionState, status: &RunStatus, is_timeout: bool) -> Self {
        match (completion, status) {
            (CompletionState::Canceled, _) | (_, RunStatus::Canceled) => Self::Cancelled,
            (CompletionState::Timeout, _) | (_, RunStatus::TimedOut) => Self::TimedOut,
            _ if is_timeout => Self::TimedOut,
            (_, RunStatus::Passed) => Self::Success,
            (_, RunStatus::Failed | RunStatus::Failing) => Self::Failure,
            _ => Self::Neutral,
        }
    }
}

/// Test counts over all groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub flaky: u64,
    pub skipped: u64,
    pub pending: u64,
}

impl Totals {
    /// `2 failed, 1 flaky, 9 passed, 1 skipped`: the non-zero counts, worst first.
    pub fn headline(&self) -> String {
        self.headline_with_new(None)
    }

    /// The headline with how many failures are new: `3 failed (1 new), 1 flaky, 96 passed`.
    pub fn headline_with_new(&self, new: Option<usize>) -> String {
        let parts: Vec<String> = [
            (self.failed, "failed"),
            (self.flaky, "flaky"),
            (self.passed, "passed"),
            (self.skipped, "skipped"),
            (self.pending, "pending"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| match new {
            Some(new) if label == "failed" => format!("{n} {label} ({new} new)"),
            _ => format!("{n} {label}"),
        })
        .collect();
        if parts.is_empty() {
            "no tests recorded".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// One row of the per-group table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group_id: String,
    pub platform: String,
    pub totals: Totals,
    pub specs_complete: u64,
    pub specs_overall: u64,
}

/// Between the parts of a test's title path.
const TITLE_SEPARATOR: &str = " › ";

/// A failed or flaky test.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub spec: String,
    pub group_id: String,
    /// Describe path and test name.
    pub title: Vec<String>,
    /// The dashboard page of the test.
    pub test_url: String,
    /// 1-based number of the attempt the error and media come from.
    pub attempt: usize,
    pub attempts: usize,
    pub error: Option<ErrorReport>,
    pub media: Vec<MediaLink>,
    /// Where the error points in the spec file, when the code frame says so.
    pub line: Option<u32>,
    /// The framework's id of the test (Playwright's `testId`).
    pub test_id: String,
    pub tags: Vec<String>,
    /// A failure's verdict, once triaged ([`triage`]).
    pub verdict: Option<Verdict>,
    /// What the base branch says of the test: behind the verdict, and a flaky test's rate.
    pub history: Evidence,
}

impl TestReport {
    /// `checkout › applies a 10% coupon`.
    pub fn title_path(&self) -> String {
        self.title.join(TITLE_SEPARATOR)
    }
}

/// An error, stripped of ANSI colour codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// The error's first lines: name, message and any "Expected/Received" block before the
    /// stack frames.
    pub message: String,
    /// The line of the code frame marked with `>`.
    pub failing_line: Option<String>,
    /// The whole code frame.
    pub frame: Option<String>,
    pub stack: Option<String>,
}

/// A link to a screenshot, video, trace or attachment. Signed; it expires 2 h after the fetch,
/// unless [`relay_media`] pointed it at a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink {
    pub label: String,
    pub url: String,
    /// Where in the instance the link came from, so that a relay can sign it afresh.
    pub source: Option<MediaRef>,
}

/// One piece of media of one test attempt: what a relay's `/media/{token}` link names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRef {
    #[serde(rename = "i")]
    pub instance: String,
    #[serde(rename = "t")]
    pub test: String,
    /// The 0-based attempt.
    #[serde(rename = "a")]
    pub attempt: usize,
    #[serde(rename = "k")]
    pub kind: MediaKind,
    /// The n-th of its kind for that attempt (screenshots, attachments).
    #[serde(rename = "n")]
    pub n: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Screenshot,
    Video,
    Trace,
    Attachment,
}

/// Points every media link that knows its source at `url_of(source)` (a relay's lasting
/// link), and notes it for the renderers' expiry note.
pub fn relay_media(report: &mut Report, url_of: impl Fn(&MediaRef) -> String) {
    for test in report.failures.iter_mut().chain(report.flaky.iter_mut()) {
        for link in &mut test.media {
            if let Some(source) = &link.source {
                link.url = url_of(source);
            }
        }
    }
    report.media_via_relay = true;
}

/// A spec that failed without test-level detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    pub spec: String,
    pub group_id: String,
    pub message: String,
    pub spec_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conclusion_mapping() {
        use CompletionState as C;
        use RunStatus as S;
        assert_eq!(
            Conclusion::of(&C::Complete, &S::Passed, false),
            Conclusion::Success
        );
        assert_eq!(
            Conclusion::of(&C::Complete, &S::Failed, false),
            Conclusion::Failure
        );
        assert_eq!(
            Conclusion::of(&C::Canceled, &S::Failing, false),
            Conclusion::Cancelled
        );
        assert_eq!(
            Conclusion::of(&C::Timeout, &S::Running, false),
            Conclusion::TimedOut
        );
        assert_eq!(
            Conclusion::of(&C::Complete, &S::Passed, true),
            Conclusion::TimedOut
        );
        assert_eq!(
            Conclusion::of(&C::parse("cancelled"), &S::parse("passed"), false),
            Conclusion::Cancelled
        );
        assert_eq!(
            Conclusion::of(&C::Complete, &S::Other("NEW".into()), false),
            Conclusion::Neutral
        );
        assert_eq!(Conclusion::TimedOut.as_str(), "timed_out");
    }

    #[test]
    fn headline_lists_non_zero_counts_worst_first() {
        let totals = Totals {
            tests: 13,
            passed: 9,
            failed: 2,
            flaky: 1,
            skipped: 1,
            pending: 0,
        };
        assert_eq!(totals.headline(), "2 failed, 1 flaky, 9 passed, 1 skipped");
        assert_eq!(Totals::default().headline(), "no tests recorded");
    }
}
