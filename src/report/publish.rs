//! The one pipeline: a run, its failing instances and an optional base run become everything
//! that is published, the same way for the `report` step, App mode's check jobs and `run get`:
//! the conclusion, the check run's output, the annotations (in GitHub's batches), the job
//! summary, the pull request comment, the step's outputs, and whether the step fails.

use std::time::SystemTime;

use super::{
    Annotation, CheckOutput, MediaRef, Report, annotations, build, check_output, compare,
    job_summary, pr_comment,
};
use crate::currents::{FailedInstances, Run};
use crate::github::{ANNOTATIONS_PER_REQUEST, CheckConclusion, marker};

/// What a report is made from.
#[derive(Debug)]
pub struct Fetched {
    pub run: Run,
    pub details: FailedInstances,
    /// The base branch compared with, when a comparison was asked for.
    pub base: Option<Base>,
    /// When the run was read (its signed media links expire 2 h later).
    pub fetched_at: SystemTime,
}

/// The base branch and its latest completed run, with that run's failing instances (`None`
/// when the branch has no completed run).
#[derive(Debug)]
pub struct Base {
    pub branch: String,
    pub found: Option<(Run, FailedInstances)>,
}

/// How the publication is shaped by where it goes.
#[derive(Default)]
pub struct Shape<'a> {
    /// Makes spec paths repository-relative in annotations (`--path-prefix`).
    pub path_prefix: &'a str,
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
    /// Builds the report, compares it with the base run, points media at a relay, and renders
    /// the check run's output and annotations.
    pub fn new(fetched: &Fetched, shape: &Shape<'_>) -> Self {
        let details = &fetched.details;
        let mut report = build(
            &fetched.run,
            &details.instances,
            &details.unavailable,
            fetched.fetched_at,
        );
        if let Some(base) = &fetched.base {
            let base_report = base.found.as_ref().map(|(run, details)| {
                build(
                    run,
                    &details.instances,
                    &details.unavailable,
                    fetched.fetched_at,
                )
            });
            compare(&mut report, base_report.as_ref(), &base.branch);
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
        comparison.base.is_none().then(|| {
            format!(
                "No completed Currents run of {} to compare with: failures are not marked new.",
                comparison.branch
            )
        })
    }

    /// Whether the step fails: `Any` when the run did not pass, `New` when a failure is new
    /// (every failure without a base run).
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
            (
                "new-failures",
                report
                    .new_failures()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            ),
        ]
    }
}
