//! Triage: one verdict per failed test, computed once here from what the base branch says (its
//! latest run, its history) and the project's Actions, then shown the same way everywhere.
//!
//! The first that applies wins: `quarantined` (a Currents Action quarantines or skips it: the
//! team's own rule), `known` (it fails on the base branch: in its latest run, or in its newest
//! results), `flaky` (its flakiness rate on the base branch is at least the threshold), `new`.

use std::time::SystemTime;

use super::compare::passing_now;
use super::rules::{Subject, quarantines};
use super::{FixedTest, Report, TestReport};
use crate::currents::models::{Action, Commit, TestResult, TestState};
use crate::currents::{History, RunId, TestHistory};

/// A failure's verdict, in the order the report lists them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// This change's: it does not fail on the base branch and is not flaky there.
    New,
    /// Already broken on the base branch.
    Known,
    /// Flaky on the base branch.
    Flaky,
    /// A Currents Action quarantines or skips it.
    Quarantined,
}

impl Verdict {
    pub const ALL: [Self; 4] = [Self::New, Self::Known, Self::Flaky, Self::Quarantined];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Known => "known",
            Self::Flaky => "flaky",
            Self::Quarantined => "quarantined",
        }
    }
}

/// At or above this flakiness rate on the base branch a failure is `flaky` (`--flaky-threshold`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct FlakyThreshold(f64);

impl FlakyThreshold {
    /// A rate from 0 to 1.
    pub fn new(rate: f64) -> Option<Self> {
        (0.0..=1.0).contains(&rate).then_some(Self(rate))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for FlakyThreshold {
    /// 5%.
    fn default() -> Self {
        Self(0.05)
    }
}

/// The team's triage settings (`--triage`, `--history-days`, `--flaky-threshold`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TriageSettings {
    /// Days of the base branch's history to read; `None` with `--triage off` (verdicts from
    /// the base run only, and no Actions read).
    pub history_days: Option<u32>,
    pub flaky_threshold: FlakyThreshold,
}

/// The history window by default: 30 days.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;

impl Default for TriageSettings {
    fn default() -> Self {
        Self {
            history_days: Some(DEFAULT_HISTORY_DAYS),
            flaky_threshold: FlakyThreshold::default(),
        }
    }
}

/// What the base branch says of one test: the figures behind its verdict.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Evidence {
    /// It failed in the base branch's latest completed run.
    pub failing_in_base_run: bool,
    /// How many of its results on the base branch were read (`None`: none were asked for).
    pub results_read: Option<usize>,
    /// Its newest results on the base branch are failures.
    pub failing_since: Option<Streak>,
    /// Its newest pass on the base branch.
    pub last_passed: Option<Sighting>,
    /// How often it was flaky on the base branch over the window.
    pub flakiness: Option<Flakiness>,
    /// The Action that quarantines it.
    pub rule: Option<RuleRef>,
}

/// Consecutive failures, newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Streak {
    /// When the oldest of them ran (ISO 8601).
    pub since: String,
    pub runs: usize,
    /// The history read ended inside the streak: it is at least this long.
    pub at_least: bool,
}

/// A result of the test on the base branch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sighting {
    /// ISO 8601.
    pub at: String,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Flakiness {
    /// 0-1.
    pub rate: f64,
    pub runs: u64,
}

/// A Currents Action, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
    pub by: Option<String>,
    /// ISO 8601.
    pub until: Option<String>,
}

/// How the failures were triaged.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageSummary {
    pub branch: String,
    /// The days of history read; `None` when none was (`--triage off`, or it failed).
    pub days: Option<u32>,
    pub threshold: FlakyThreshold,
    /// Failed tests whose history was not read (past the first 100).
    pub not_looked_up: usize,
}

/// What triage reads besides the comparison.
#[derive(Debug, Clone, Copy)]
pub struct TriageInput<'a> {
    pub history: Option<&'a History>,
    pub rules: Option<&'a [Action]>,
    /// The run's commit, for the Actions' git conditions.
    pub commit: Option<&'a Commit>,
    pub threshold: FlakyThreshold,
    /// For the Actions' expiry.
    pub now: SystemTime,
}

/// The previous attempt's failures that pass in this one: likely flaky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rerun {
    pub run_id: RunId,
    pub run_url: String,
    pub passed_now: Vec<FixedTest>,
    /// The previous attempt's check run, when known (App mode keeps its record).
    pub previous_check: Option<String>,
}

/// Gives each failure of `report` its verdict and evidence, and each flaky test its base-branch
/// rate, then lists the failures by verdict (`new` first). Needs a base branch (the
/// comparison) and something read of it (its latest run, its history or the Actions): without
/// them a verdict would say nothing, and nothing is triaged.
pub fn triage(report: &mut Report, input: &TriageInput<'_>) {
    let Some(comparison) = &report.comparison else {
        return;
    };
    let failing = comparison.base.as_ref().map(|b| b.failing.clone());
    if failing.is_none() && input.history.is_none() && input.rules.is_none() {
        return;
    }
    let branch = comparison.branch.clone();
    let lookup = |test: &TestReport| {
        input
            .history
            .and_then(|h| h.tests.get(&(test.spec.clone(), test.title.clone())))
    };
    for test in &mut report.failures {
        let history = lookup(test);
        let mut evidence = evidence_of(history);
        evidence.failing_in_base_run = failing
            .as_ref()
            .is_some_and(|f| f.contains(&super::compare::key(test)));
        evidence.rule = input
            .rules
            .unwrap_or_default()
            .iter()
            .find(|rule| quarantines(rule, &subject(test, input.commit), input.now))
            .map(rule_ref);
        test.verdict = Some(verdict(&evidence, input.threshold));
        test.history = evidence;
    }
    for test in &mut report.flaky {
        test.history.flakiness = lookup(test).and_then(flakiness);
    }
    // By verdict, each in its spec order (the sort is stable).
    report.failures.sort_by_key(|t| t.verdict);
    report.triage = Some(TriageSummary {
        branch,
        days: input.history.map(|h| h.days),
        threshold: input.threshold,
        not_looked_up: input.history.map_or(0, |h| h.not_looked_up),
    });
}

fn verdict(evidence: &Evidence, threshold: FlakyThreshold) -> Verdict {
    if evidence.rule.is_some() {
        Verdict::Quarantined
    } else if evidence.failing_in_base_run || evidence.failing_since.is_some() {
        Verdict::Known
    } else if evidence
        .flakiness
        .as_ref()
        .is_some_and(|f| f.rate >= threshold.get())
    {
        Verdict::Flaky
    } else {
        Verdict::New
    }
}

fn evidence_of(history: Option<&TestHistory>) -> Evidence {
    let Some(history) = history else {
        return Evidence::default();
    };
    let results = history.results.as_deref().unwrap_or_default();
    Evidence {
        results_read: history.results.as_ref().map(Vec::len),
        failing_since: streak(results),
        last_passed: results
            .iter()
            .find(|r| r.status == TestState::Passed)
            .and_then(sighting),
        flakiness: flakiness(history),
        ..Evidence::default()
    }
}

/// The newest results' run of failures.
fn streak(results: &[TestResult]) -> Option<Streak> {
    let runs = results
        .iter()
        .take_while(|r| r.status == TestState::Failed)
        .count();
    let oldest = results.get(runs.checked_sub(1)?)?;
    Some(Streak {
        since: oldest.created_at.clone().unwrap_or_default(),
        runs,
        at_least: runs == results.len() && runs >= crate::currents::HISTORY_PAGE,
    })
}

fn sighting(result: &TestResult) -> Option<Sighting> {
    Some(Sighting {
        at: result.created_at.clone()?,
        commit: result.commit.as_ref().and_then(|c| c.sha.clone()),
    })
}

/// The Explorer's rate over the window, else the share of flaky results read.
fn flakiness(history: &TestHistory) -> Option<Flakiness> {
    if let Some(m) = history.metrics.as_ref().filter(|m| m.executions > 0) {
        let rate = m
            .flakiness_rate
            .unwrap_or(m.flaky as f64 / m.executions as f64);
        return Some(Flakiness {
            rate,
            runs: m.executions,
        });
    }
    let results = history.results.as_deref().filter(|r| !r.is_empty())?;
    let flaky = results.iter().filter(|r| r.flaky).count();
    Some(Flakiness {
        rate: flaky as f64 / results.len() as f64,
        runs: results.len() as u64,
    })
}

fn subject<'a>(test: &'a TestReport, commit: Option<&'a Commit>) -> Subject<'a> {
    Subject {
        test_id: &test.test_id,
        spec: &test.spec,
        title: &test.title,
        project: &test.group_id,
        tags: &test.tags,
        errors: test
            .error
            .as_ref()
            .map(|e| std::slice::from_ref(&e.message))
            .unwrap_or_default(),
        commit,
    }
}

fn rule_ref(rule: &Action) -> RuleRef {
    RuleRef {
        id: rule.action_id.as_str().to_owned(),
        name: rule.name.clone(),
        by: rule.created_by.clone(),
        until: rule.expires_after.clone(),
    }
}

/// Notes on `report` the failures of `previous` (the attempt before this one) that pass now.
pub fn rerun(report: &mut Report, previous: &Report, previous_check: Option<&str>) {
    report.rerun = Some(Rerun {
        run_id: previous.run_id.clone(),
        run_url: previous.run_url.clone(),
        passed_now: passing_now(report, previous),
        previous_check: previous_check.map(str::to_owned),
    });
}

/// Output values are capped by the runner (1 MiB each); the verdicts stop short of it.
const MAX_VERDICTS_BYTES: usize = 900 * 1024;

/// The `verdicts` output: one JSON object per failed test (spec, title, test id, verdict and
/// the figures behind it), in the report's order; empty when nothing was triaged.
pub fn verdicts_json(report: &Report) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        spec: &'a str,
        title: String,
        test_id: &'a str,
        verdict: Option<Verdict>,
        #[serde(flatten)]
        evidence: &'a Evidence,
        url: &'a str,
    }
    if report.triage.is_none() {
        return String::new();
    }
    let mut out = String::from("[");
    for test in &report.failures {
        let entry = Entry {
            spec: &test.spec,
            title: test.title_path().chars().take(1_000).collect(),
            test_id: &test.test_id,
            verdict: test.verdict,
            evidence: &test.history,
            url: &test.test_url,
        };
        let json = serde_json::to_string(&entry).expect("a verdict serializes");
        if out.len() + json.len() + 2 > MAX_VERDICTS_BYTES {
            break;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&json);
    }
    out.push(']');
    out
}
