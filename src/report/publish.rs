//! The one pipeline: a run and what was read beside it (its failing instances, the base
//! branch's run and history, the project's Actions, the previous attempt) become everything
//! that is published, the same way for the `report` step, App mode's check jobs and `run get`:
//! the verdicts, the conclusion, the check run's output, the annotations (in GitHub's
//! batches), the job summary, the pull request comment, the step's outputs, and whether the
//! step fails.

use std::time::SystemTime;

use super::{
    Annotation, CheckOutput, FlakyThreshold, MediaRef, Report, TriageInput, Verdict, annotations,
    build, check_output, compare, job_summary, pr_comment, rerun, triage,
};
use crate::currents::{FailedInstances, Gathered, Run};
use crate::github::{ANNOTATIONS_PER_REQUEST, CheckConclusion, marker};

/// What a report is made from.
#[derive(Debug)]
pub struct Fetched {
    pub run: Run,
    /// What was read beside the run ([`crate::currents::gather`]).
    pub gathered: Gathered,
    /// When the run was read (its signed media links expire 2 h later).
    pub fetched_at: SystemTime,
}

impl Fetched {
    /// A run and its failing instances only (a `--from-dir` directory).
    pub fn alone(run: Run, details: FailedInstances, fetched_at: SystemTime) -> Self {
        Self {
            run,
            gathered: Gathered {
                details,
                ..Gathered::default()
            },
            fetched_at,
        }
    }
}

/// How the publication is made: where it goes, and the team's threshold.
#[derive(Default)]
pub struct Shape<'a> {
    /// At or above this flakiness rate a failure is `flaky` (`--flaky-threshold`).
    pub flaky_threshold: FlakyThreshold,
    /// Makes spec paths repository-relative in annotations (`--path-prefix`).
    pub path_prefix: &'a str,
    /// On a re-run, the previous attempt's check run (App mode knows it).
    pub previous_check: Option<&'a str>,
    /// Lasting media links: a relay's URL for each piece of media.
    pub media: Option<&'a (dyn Fn(&MediaRef) -> String + Sync)>,
}

/// When the step fails for test failures (`--fail-on-test-failures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Never,
    /// The run did not pass ([`Report::failed`]).
    Any,
    /// A failure that does not fail on the base branch too (any failure without a base run).
    New,
}

/// Everything published for one run.
#[derive(Debug, Clone)]
pub struct Publication {
    pub report: Report,
    pub output: CheckOutput,
    pub annotations: Vec<Annotation>,
}

impl Publication {
    /// Builds the report, compares it with the base run, triages its failures, notes what
    /// passed on re-run, points media at a relay, and renders the check run's output and
    /// annotations.
    pub fn new(fetched: &Fetched, shape: &Shape<'_>) -> Self {
        let gathered = &fetched.gathered;
        let build_of = |run: &Run, details: &FailedInstances| {
            build(
                run,
                &details.instances,
                &details.unavailable,
                fetched.fetched_at,
            )
        };
        let mut report = build_of(&fetched.run, &gathered.details);
        if let Some((branch, found)) = &gathered.base {
            let base_report = found.as_ref().map(|(run, details)| build_of(run, details));
            compare(&mut report, base_report.as_ref(), branch);
        }
        let input = TriageInput {
            history: gathered.history.as_ref(),
            rules: gathered.rules.as_deref(),
            commit: fetched.run.meta.commit.as_ref(),
            threshold: shape.flaky_threshold,
            now: fetched.fetched_at,
        };
        triage(&mut report, &input);
        if let Some((run, details)) = &gathered.previous {
            rerun(&mut report, &build_of(run, details), shape.previous_check);
        }
        if let Some(url_of) = shape.media {
            super::relay_media(&mut report, url_of);
        }
        Self {
            output: check_output(&report),
            annotations: annotations(&report, shape.path_prefix),
            report,
        }
    }

    pub fn conclusion(&self) -> CheckConclusion {
        self.report.conclusion.into()
    }

    /// The annotations in the batches GitHub takes (the first goes with the check run's
    /// creation).
    pub fn batches(&self) -> std::slice::Chunks<'_, Annotation> {
        self.annotations.chunks(ANNOTATIONS_PER_REQUEST)
    }

    /// The job summary, linking to the check run, within `room` bytes.
    pub fn job_summary(&self, check_url: Option<&str>, room: usize) -> String {
        job_summary(&self.report, check_url, room)
    }

    /// The sticky comment's marker (per check name and project) and body.
    pub fn comment(&self, check_name: &str, check_url: Option<&str>) -> (String, String) {
        let project = self.report.project_id.as_ref().map_or("", |p| p.as_str());
        let marker = marker(check_name, project);
        let body = pr_comment(&self.report, &marker, check_url);
        (marker, body)
    }

    /// A one-line notice when a comparison was asked for but the base branch has no run.
    pub fn no_base_notice(&self) -> Option<String> {
        let comparison = self.report.comparison.as_ref()?;
        let history = self
            .report
            .triage
            .as_ref()
            .is_some_and(|t| t.days.is_some());
        comparison.base.is_none().then(|| {
            format!(
                "No completed Currents run of {} to compare with: {}.",
                comparison.branch,
                if history {
                    "verdicts come from its test history only"
                } else {
                    "failures are not marked new"
                }
            )
        })
    }

    /// Whether the step fails: `Any` when the run did not pass, `New` when a failure's verdict
    /// is `new` (every failure when nothing on the base branch could be read).
    pub fn fails_step(&self, fail_on: FailOn) -> bool {
        let failed = self.report.failed();
        match fail_on {
            FailOn::Never => false,
            FailOn::Any => failed,
            FailOn::New => self.report.new_failures().map_or(failed, |new| new > 0),
        }
    }

    /// The step's outputs (DESIGN's names), with the check run and comment they name.
    pub fn outputs(
        &self,
        check: Option<(String, String)>,
        comment: Option<(String, String)>,
    ) -> Vec<(&'static str, String)> {
        let report = &self.report;
        let t = &report.totals;
        let (check_id, check_url) = check.unwrap_or_default();
        let (comment_id, comment_url) = comment.unwrap_or_default();
        vec![
            ("run-id", report.run_id.to_string()),
            ("run-url", report.run_url.clone()),
            ("status", report.status.as_str().to_owned()),
            ("completion-state", report.completion.as_str().to_owned()),
            ("tests", t.tests.to_string()),
            ("passed", t.passed.to_string()),
            ("failed", t.failed.to_string()),
            ("flaky", t.flaky.to_string()),
            ("skipped", t.skipped.to_string()),
            ("pending", t.pending.to_string()),
            ("check-run-id", check_id),
            ("check-run-url", check_url),
            ("comment-id", comment_id),
            ("comment-url", comment_url),
            ("new-failures", count(report.new_failures())),
            ("known-failures", count(report.with_verdict(Verdict::Known))),
            ("flaky-failures", count(report.with_verdict(Verdict::Flaky))),
            (
                "quarantined-failures",
                count(report.with_verdict(Verdict::Quarantined)),
            ),
            ("verdicts", super::verdicts_json(report)),
        ]
    }
}

/// A count output: empty when there is nothing to count from.
fn count(n: Option<usize>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}
