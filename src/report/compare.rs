//! A run's failures against the latest completed run of the base branch: which are new, which
//! fail there too, and which base failures pass here ("fixed"). Tests match by spec and title
//! path, whatever the group.
//!
//! Only the specs with failures or flaky tests are read test by test, so what passed is known
//! two ways ([`Passes`]): by name in those specs, and as a whole spec elsewhere when its
//! counters say that every test in it passed. A base failure that is skipped here, or whose
//! spec was not run, is not "fixed"; one removed from a spec whose tests all pass still reads as
//! fixed, which the counters cannot tell apart.

use std::collections::HashSet;

use super::{Report, TestReport};

/// What the comparison found, kept on the [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The branch compared with.
    pub branch: String,
    /// `None` when no completed run of the branch was found.
    pub base: Option<BaseRun>,
}

/// The base branch's run and what failed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseRun {
    pub run_id: crate::currents::RunId,
    pub run_url: String,
    /// `(spec, title path)` of every test that failed in the base run.
    pub(super) failing: HashSet<(String, String)>,
    /// Tests that fail on the base branch and pass here, in the base run's order.
    pub fixed: Vec<FixedTest>,
}

/// A base failure that passes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedTest {
    pub spec: String,
    pub title_path: String,
    /// The test on the base run's dashboard.
    pub test_url: String,
}

/// What a run shows to have passed, for the "fixed" list.
#[derive(Debug, Clone, Default)]
pub struct Passes {
    /// `(spec, title path)` of the tests that passed (at the last attempt) in the specs whose
    /// test details were read.
    tests: HashSet<(String, String)>,
    /// Specs read only by their counters, in which every test passed: nothing failed, nothing
    /// was skipped or pending.
    whole_specs: HashSet<String>,
}

impl Passes {
    /// Records that `title` passed in `spec`.
    pub(super) fn test(&mut self, spec: &str, title: &[String]) {
        self.tests.insert(test_key(spec, title));
    }

    /// Records that every test of `spec` passed.
    pub(super) fn whole_spec(&mut self, spec: &str) {
        self.whole_specs.insert(spec.to_owned());
    }

    fn contains(&self, test: &TestReport) -> bool {
        self.whole_specs.contains(&test.spec) || self.tests.contains(&key(test))
    }
}

fn test_key(spec: &str, title: &[String]) -> (String, String) {
    (spec.to_owned(), title.join(super::TITLE_SEPARATOR))
}

pub(super) fn key(test: &TestReport) -> (String, String) {
    test_key(&test.spec, &test.title)
}

/// Compares `report` with `base`, the report of the base branch's latest completed run (or
/// `None` when there is none), and keeps the result on `report`; [`super::triage`] then gives
/// each failure its verdict. A base failure counts as fixed when it passed here ([`Passes`])
/// and fails in no group here.
pub fn compare(report: &mut Report, base: Option<&Report>, branch: &str) {
    let base = base.map(|base| BaseRun {
        run_id: base.run_id.clone(),
        run_url: base.run_url.clone(),
        failing: base.failures.iter().map(key).collect(),
        fixed: passing_now(report, base),
    });
    report.comparison = Some(Comparison {
        branch: branch.to_owned(),
        base,
    });
}

/// The failures of `other` that pass in `report` ([`Passes`]) and fail in no group of it, each
/// once, in `other`'s order.
pub(super) fn passing_now(report: &Report, other: &Report) -> Vec<FixedTest> {
    let here: HashSet<(String, String)> = report.failures.iter().map(key).collect();
    let mut seen = HashSet::new();
    other
        .failures
        .iter()
        .filter(|t| !here.contains(&key(t)))
        .filter(|t| report.passes.contains(t))
        .filter(|t| seen.insert(key(t)))
        .map(|t| FixedTest {
            spec: t.spec.clone(),
            title_path: t.title_path(),
            test_url: t.test_url.clone(),
        })
        .collect()
}

impl Report {
    /// How many failures have verdict `v`; `None` when nothing on the base branch could be
    /// read to tell (no base run, no history, no Actions), so that every failure counts.
    pub fn with_verdict(&self, v: super::Verdict) -> Option<usize> {
        self.triage.as_ref()?;
        Some(
            self.failures
                .iter()
                .filter(|t| t.verdict == Some(v))
                .count(),
        )
    }

    /// How many failures are new ([`Report::with_verdict`]).
    pub fn new_failures(&self) -> Option<usize> {
        self.with_verdict(super::Verdict::New)
    }
}
