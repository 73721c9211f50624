//! Test history: the Tests Explorer's per-test figures on a branch (`GET /tests/{projectId}`),
//! one test's past results (`GET /test-results/{signature}`), and the signature that joins a
//! test of an instance to its history (`POST /signature/test`). Shapes from reference
//! `currents-tests-actions.md` §2-4; where sources disagree, both spellings are read.

use serde::Deserialize;

use super::*;

crate::ids::id_type!(
    /// Currents' id of one test across runs (`signature`): a digest of organization, project,
    /// spec and title, computed by Currents only. Not the framework's `testId`.
    TestSignature(String)
);

/// `data` of a Tests Explorer page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExplorerPage {
    #[serde(deserialize_with = "null_default")]
    pub list: Vec<ExplorerRow>,
    /// How many tests match, over all pages.
    pub total: Option<u64>,
    /// The next page's index, or `false` at the end.
    #[serde(deserialize_with = "next_page")]
    pub next_page: Option<u64>,
}

/// One test of the Tests Explorer: its figures over the window asked for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplorerRow {
    /// The test's name: its last title segment, or (UNCONFIRMED) the whole path joined with
    /// ` > `.
    #[serde(default)]
    pub title: String,
    pub signature: TestSignature,
    #[serde(default)]
    pub spec: String,
    #[serde(default, deserialize_with = "null_default")]
    pub metrics: ExplorerMetrics,
    #[serde(default)]
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExplorerMetrics {
    #[serde(deserialize_with = "null_default")]
    pub executions: u64,
    #[serde(deserialize_with = "null_default")]
    pub failures: u64,
    #[serde(deserialize_with = "null_default")]
    pub passes: u64,
    #[serde(deserialize_with = "null_default")]
    pub flaky: u64,
    /// 0-1.
    pub flakiness_rate: Option<f64>,
    /// 0-1.
    pub failure_rate: Option<f64>,
}

/// One past result of a test (`GET /test-results/{signature}`), newest first.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    #[serde(default)]
    pub signature: Option<TestSignature>,
    #[serde(default)]
    pub test_id: Option<String>,
    /// When the test ran (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub run_id: Option<RunId>,
    #[serde(default)]
    pub status: TestState,
    #[serde(default, deserialize_with = "null_default")]
    pub flaky: bool,
    #[serde(default)]
    pub commit: Option<Commit>,
}

/// A cursor page of test results.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResultsPage {
    pub has_more: bool,
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<TestResult>,
}

/// `data` of `POST /signature/test`.
#[derive(Debug, Clone, Deserialize)]
pub struct SignatureAnswer {
    pub signature: TestSignature,
}

/// Body of `POST /signature/test`: the spec as Currents reports it and the title path.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureRequest<'a> {
    pub project_id: &'a str,
    pub spec_file_path: &'a str,
    pub test_title: &'a [String],
}

/// `nextPage`: an index, or `false` (or `null`) at the end.
fn next_page<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Next {
        Page(u64),
        End(#[allow(dead_code)] bool),
    }
    Ok(match Option::<Next>::deserialize(d)? {
        Some(Next::Page(n)) => Some(n),
        Some(Next::End(_)) | None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/data/currents/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_the_reference_pages() {
        let page: ExplorerPage =
            serde_json::from_value(fixture("tests-list-page.json")["data"].clone()).unwrap();
        assert_eq!(page.list.len(), 2);
        assert_eq!(page.next_page, Some(1));
        assert_eq!(page.total, Some(5));
        let row = &page.list[0];
        assert_eq!(row.signature.as_str(), "0f3b6c1e9a7d4e2b8c5a1d6f3e9b7c20");
        assert_eq!(row.metrics.executions, 120);
        assert_eq!(row.metrics.flakiness_rate, Some(0.0583));

        let results: ResultsPage =
            serde_json::from_value(fixture("test-results-page.json")).unwrap();
        assert!(results.has_more);
        assert_eq!(results.data[0].status, TestState::Failed);
        assert!(results.data[1].flaky);
        let branch = results.data[1].commit.as_ref().unwrap().branch.as_deref();
        assert_eq!(branch, Some("main"));
    }

    #[test]
    fn next_page_false_or_null_ends() {
        for raw in [r#"{"nextPage":false}"#, r#"{"nextPage":null}"#, "{}"] {
            let page: ExplorerPage = serde_json::from_str(raw).unwrap();
            assert_eq!(page.next_page, None, "{raw}");
        }
    }
}
