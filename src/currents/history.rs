//! A run's failing tests' history on a branch, for triage: the Tests Explorer read once for
//! the failing specs (figures and signatures), then one `test-results` page per failed test.
//!
//! Instance tests carry the framework's `testId`, history is keyed by Currents' `signature`
//! (reference §0, §7): the signature comes from the Explorer row with the same spec and title,
//! and only for tests the Explorer did not list unambiguously from `POST /signature/test`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;

use super::analytics::{HISTORY_PAGE, Window};
use super::models::{ExplorerMetrics, ExplorerRow, ProjectId, TestResult, TestSignature};
use super::{CurrentsClient, CurrentsError};
use crate::log_safe::Chain;

/// The most failed tests whose history is read, first by rank (the run's spec order, then
/// the test's order in its spec); a line says how many more there were.
pub const MAX_HISTORY_LOOKUPS: usize = 100;
/// The most Explorer pages read for one report (50 tests each).
const MAX_EXPLORER_PAGES: u64 = 10;

/// What to read: the base branch's history over a window.
#[derive(Debug, Clone)]
pub struct HistoryPlan {
    pub project: ProjectId,
    pub branch: String,
    pub days: u32,
    pub window: Window,
}

/// One test: its spec and title path.
pub type TestKey = (String, Vec<String>);

/// What the base branch says of one test.
#[derive(Debug, Clone, Default)]
pub struct TestHistory {
    /// The Explorer's figures over the window.
    pub metrics: Option<ExplorerMetrics>,
    /// Its newest results on the branch (at most 50), newest first; `None` when not read.
    pub results: Option<Vec<TestResult>>,
}

/// The history read for a report.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub branch: String,
    pub days: u32,
    pub tests: HashMap<TestKey, TestHistory>,
    /// Failed tests beyond [`MAX_HISTORY_LOOKUPS`], whose results were not read.
    pub not_looked_up: usize,
    /// What could not be read, and why: one line each.
    pub missing: Vec<String>,
}

/// The Explorer's rows of a report's failing specs, found by spec and title.
#[derive(Debug, Default)]
pub(super) struct Explorer {
    by_spec: HashMap<String, Vec<ExplorerRow>>,
}

impl Explorer {
    /// The row of `title` in `spec`: its name is the title's last segment or the whole path
    /// joined with ` > ` (which one is unconfirmed). Two candidates are no answer.
    pub(super) fn row(&self, spec: &str, title: &[String]) -> Option<&ExplorerRow> {
        let joined = title.join(" > ");
        let last = title.last().map(String::as_str).unwrap_or_default();
        let rows = self.by_spec.get(spec)?;
        if let Some(row) = rows.iter().find(|r| r.title == joined) {
            return Some(row);
        }
        let mut named = rows.iter().filter(|r| r.title == last);
        match (named.next(), named.next()) {
            (Some(row), None) => Some(row),
            _ => None,
        }
    }
}

/// The spec filter that covers every failing spec in one Explorer query: their longest common
/// prefix (the filter matches paths that contain it).
pub(super) fn common_prefix<'a>(specs: impl IntoIterator<Item = &'a str>) -> String {
    let mut specs = specs.into_iter();
    let Some(first) = specs.next() else {
        return String::new();
    };
    let mut prefix = first.to_owned();
    for spec in specs {
        let common = prefix
            .char_indices()
            .zip(spec.chars())
            .find(|((_, a), b)| a != b)
            .map_or(prefix.len().min(spec.len()), |((i, _), _)| i);
        prefix.truncate(common);
    }
    prefix
}

/// The Explorer's rows for `spec_filter` on the plan's branch: the first page, then the rest
/// (up to [`MAX_EXPLORER_PAGES`]) at once, since the first says how many there are.
pub(super) async fn explorer(
    client: &CurrentsClient,
    plan: &HistoryPlan,
    spec_filter: &str,
) -> Result<Explorer, CurrentsError> {
    let page = |n: u64| {
        client.tests_explorer(
            &plan.project,
            plan.window,
            &plan.branch,
            Some(spec_filter),
            n,
        )
    };
    let first = page(0).await?;
    let pages = first
        .total
        .map_or(1, |total| total.div_ceil(HISTORY_PAGE as u64))
        .clamp(1, MAX_EXPLORER_PAGES);
    let more_pages = if first.next_page.is_some() { pages } else { 1 };
    let rest: Vec<_> = futures_util::stream::iter((1..more_pages).map(page))
        .buffer_unordered(MAX_EXPLORER_PAGES as usize)
        .collect()
        .await;
    let mut explorer = Explorer::default();
    for page in std::iter::once(Ok(first)).chain(rest) {
        for row in page?.list {
            explorer
                .by_spec
                .entry(row.spec.clone())
                .or_default()
                .push(row);
        }
    }
    Ok(explorer)
}

/// One failed test's results on the branch: with the Explorer's signature, or one asked for.
/// After a refusal (401/403) the other lookups ask nothing more (`Ok(None)`).
pub(super) async fn results_of(
    client: &CurrentsClient,
    plan: &HistoryPlan,
    key: &TestKey,
    signature: Option<TestSignature>,
    refused: &AtomicBool,
) -> Result<Option<Vec<TestResult>>, CurrentsError> {
    if refused.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let result = async {
        let signature = match signature {
            Some(signature) => signature,
            None => client.test_signature(&plan.project, &key.0, &key.1).await?,
        };
        client
            .test_results(&signature, plan.window, &plan.branch)
            .await
    }
    .await;
    match result {
        Ok(page) => {
            let mut results = page.data;
            // Newest first, whatever order the API keeps (unconfirmed).
            results.sort_by(|a, b| b.created_at.cmp(&a.created_at));
            Ok(Some(results))
        }
        Err(e) => {
            if matches!(e.status(), Some(401 | 403)) {
                refused.store(true, Ordering::Relaxed);
            }
            Err(e)
        }
    }
}

/// The failures of per-test lookups, as one line: how many, and the first reason.
pub(super) fn lookup_failures(failed: usize, first: Option<&CurrentsError>) -> Option<String> {
    let first = first?;
    Some(format!(
        "the history of {failed} failed test{} ({})",
        if failed == 1 { "" } else { "s" },
        Chain(first)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_covers_every_spec() {
        assert_eq!(
            common_prefix(["tests/a/x.spec.ts", "tests/a/y.spec.ts", "tests/b.spec.ts"]),
            "tests/"
        );
        assert_eq!(common_prefix(["e2e/one.spec.ts"]), "e2e/one.spec.ts");
        assert_eq!(common_prefix(["a.spec.ts", "b.spec.ts"]), "");
        assert_eq!(common_prefix(["ü/a", "ü/b"]), "ü/");
        assert_eq!(common_prefix(std::iter::empty()), "");
    }

    fn row(spec: &str, title: &str, sig: &str) -> ExplorerRow {
        serde_json::from_value(serde_json::json!({"spec": spec, "title": title, "signature": sig}))
            .unwrap()
    }

    #[test]
    fn rows_match_by_joined_path_or_unambiguous_name() {
        let mut explorer = Explorer::default();
        explorer.by_spec.insert(
            "s.ts".into(),
            vec![
                row("s.ts", "cart > adds", "1"),
                row("s.ts", "removes", "2"),
                row("s.ts", "opens", "3"),
                row("s.ts", "opens", "4"),
            ],
        );
        let title = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let sig = |t: &[&str]| {
            explorer
                .row("s.ts", &title(t))
                .map(|r| r.signature.as_str().to_owned())
        };
        assert_eq!(sig(&["cart", "adds"]).as_deref(), Some("1"));
        assert_eq!(sig(&["cart", "removes"]).as_deref(), Some("2"));
        assert_eq!(sig(&["menu", "opens"]), None, "two rows named opens");
        assert_eq!(
            explorer
                .row("other.ts", &title(&["removes"]))
                .map(|r| r.title.clone()),
            None
        );
    }
}
