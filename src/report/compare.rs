//! A run's failures against the latest completed run of the base branch: which are new, which
//! fail there too, and which base failures pass here ("fixed"). Tests match by spec and title
//! path, whatever the group.

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
    pub run_id: String,
    pub run_url: String,
    /// `(spec, title path)` of every test that failed in the base run.
    failing: HashSet<(String, String)>,
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

/// Whether a failure is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Novelty {
    /// It does not fail on the base branch.
    New,
    /// It fails on the base branch too.
    AlsoOnBase,
}

fn key(test: &TestReport) -> (String, String) {
    (test.spec.clone(), test.title_path())
}

/// Compares `report` with `base`, the report of the base branch's latest completed run (or
/// `None` when there is none), and keeps the result on `report`. A base failure counts as
/// fixed when its spec ran here with test details, or without failures, and the test is not
/// failing here.
pub fn compare(report: &mut Report, base: Option<&Report>, branch: &str) {
    let base = base.map(|base| {
        let failing: HashSet<(String, String)> = base.failures.iter().map(key).collect();
        let here: HashSet<(String, String)> = report.failures.iter().map(key).collect();
        let specs_with_problems: HashSet<&str> = report
            .spec_problems
            .iter()
            .map(|p| p.spec.as_str())
            .collect();
        let mut seen = HashSet::new();
        let fixed = base
            .failures
            .iter()
            .filter(|t| !here.contains(&key(t)))
            .filter(|t| report.specs_run.contains(&t.spec))
            .filter(|t| !specs_with_problems.contains(t.spec.as_str()))
            .filter(|t| seen.insert(key(t)))
            .map(|t| FixedTest {
                spec: t.spec.clone(),
                title_path: t.title_path(),
                test_url: t.test_url.clone(),
            })
            .collect();
        BaseRun {
            run_id: base.run_id.clone(),
            run_url: base.run_url.clone(),
            failing,
            fixed,
        }
    });
    report.comparison = Some(Comparison {
        branch: branch.to_owned(),
        base,
    });
    // New failures first, each group in its spec order (the sort is stable).
    let novelty: Vec<bool> = report
        .failures
        .iter()
        .map(|t| report.novelty(t) == Some(Novelty::AlsoOnBase))
        .collect();
    let mut ordered: Vec<(bool, TestReport)> =
        novelty.into_iter().zip(report.failures.drain(..)).collect();
    ordered.sort_by_key(|(also_on_base, _)| *also_on_base);
    report.failures = ordered.into_iter().map(|(_, t)| t).collect();
}

impl Report {
    /// Whether `test` (one of this report's failures) is new; `None` without a comparison.
    pub fn novelty(&self, test: &TestReport) -> Option<Novelty> {
        let base = self.comparison.as_ref()?.base.as_ref()?;
        Some(if base.failing.contains(&key(test)) {
            Novelty::AlsoOnBase
        } else {
            Novelty::New
        })
    }

    /// How many failures are new; `None` without a base run to compare with.
    pub fn new_failures(&self) -> Option<usize> {
        self.comparison.as_ref()?.base.as_ref()?;
        Some(
            self.failures
                .iter()
                .filter(|t| self.novelty(t) == Some(Novelty::New))
                .count(),
        )
    }
}
