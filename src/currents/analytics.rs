//! The calls behind triage and the quarantine button: the Tests Explorer, a test's past
//! results, test signatures, and Currents Actions. Reference `currents-tests-actions.md`: pages
//! of at most 50, the current (bracketed) filter names, dates as ISO 8601 with milliseconds.

use std::time::SystemTime;

use reqwest::Method;

use super::client::{CurrentsClient, READ_HINT, WRITE_HINT, decode, succeeded};
use super::error::CurrentsError;
use super::models::{
    Action, ActionId, ExplorerPage, NewAction, ProjectId, ResultsPage, SignatureAnswer,
    SignatureRequest, TestSignature,
};
use crate::retry::Idempotency;

/// The most rows a history page asks for: the live API's maximum.
pub const HISTORY_PAGE: usize = 50;

/// A time window of the history, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: SystemTime,
    pub end: SystemTime,
}

impl Window {
    /// The `days` before `end`.
    pub fn days_before(end: SystemTime, days: u32) -> Self {
        let span = std::time::Duration::from_secs(u64::from(days) * 86_400);
        Self {
            start: end.checked_sub(span).unwrap_or(SystemTime::UNIX_EPOCH),
            end,
        }
    }

    fn append_to(&self, query: &mut url::form_urlencoded::Serializer<'_, url::UrlQuery<'_>>) {
        let at = |t: SystemTime| humantime::format_rfc3339_millis(t).to_string();
        query
            .append_pair("date_start", &at(self.start))
            .append_pair("date_end", &at(self.end));
    }
}

impl CurrentsClient {
    /// One page (0-based) of `GET /tests/{projectId}`: each test's figures on `branch` over
    /// `window`, for specs whose path contains `spec` (when given).
    pub async fn tests_explorer(
        &self,
        project: &ProjectId,
        window: Window,
        branch: &str,
        spec: Option<&str>,
        page: u64,
    ) -> Result<ExplorerPage, CurrentsError> {
        let mut url = self.url(&["tests", project.as_str()]);
        {
            let mut query = url.query_pairs_mut();
            window.append_to(&mut query);
            query
                .append_pair("branches[]", branch)
                .append_pair("limit", &HISTORY_PAGE.to_string())
                .append_pair("page", &page.to_string());
            if let Some(spec) = spec.filter(|s| !s.is_empty()) {
                query.append_pair("spec", spec);
            }
        }
        self.get_json("GET /tests/{projectId}", url).await
    }

    /// `GET /test-results/{signature}`: the test's newest results on `branch` within `window`,
    /// one page of at most 50.
    pub async fn test_results(
        &self,
        signature: &TestSignature,
        window: Window,
        branch: &str,
    ) -> Result<ResultsPage, CurrentsError> {
        let call = "GET /test-results/{signature}";
        let mut url = self.url(&["test-results", signature.as_str()]);
        {
            let mut query = url.query_pairs_mut();
            window.append_to(&mut query);
            query
                .append_pair("branches[]", branch)
                .append_pair("limit", &HISTORY_PAGE.to_string());
        }
        let bytes = self.get_bytes(call, url).await?;
        serde_json::from_slice(&bytes).map_err(|e| CurrentsError::decode(call, e))
    }

    /// `POST /signature/test`: the signature of `title` in `spec` (Currents computes it; it
    /// cannot be derived here). It changes nothing, so it is retried like a read.
    pub async fn test_signature(
        &self,
        project: &ProjectId,
        spec: &str,
        title: &[String],
    ) -> Result<TestSignature, CurrentsError> {
        let call = "POST /signature/test";
        let url = self.url(&["signature", "test"]);
        let body = SignatureRequest {
            project_id: project.as_str(),
            spec_file_path: spec,
            test_title: title,
        };
        let answer = self
            .send_json(
                Method::POST,
                call,
                url,
                &body,
                Idempotency::Idempotent,
                READ_HINT,
            )
            .await?;
        Ok(decode::<SignatureAnswer>(call, &answer)?.signature)
    }

    /// `GET /actions?projectId=&status=active`: the project's rules that apply now.
    pub async fn active_actions(&self, project: &ProjectId) -> Result<Vec<Action>, CurrentsError> {
        let mut url = self.url(&["actions"]);
        url.query_pairs_mut()
            .append_pair("projectId", project.as_str())
            .append_pair("status", "active");
        self.get_json("GET /actions", url).await
    }

    /// `GET /actions?projectId=&search=`: the project's rules whose name contains `search`,
    /// whatever their status.
    pub async fn actions_named(
        &self,
        project: &ProjectId,
        search: &str,
    ) -> Result<Vec<Action>, CurrentsError> {
        let mut url = self.url(&["actions"]);
        url.query_pairs_mut()
            .append_pair("projectId", project.as_str())
            .append_pair("search", search);
        self.get_json("GET /actions", url).await
    }

    /// `POST /actions?projectId=`: a new rule. Not retried: a repeat would make a second rule
    /// (callers make it idempotent through their own record).
    pub async fn create_action(
        &self,
        project: &ProjectId,
        new: &NewAction,
    ) -> Result<Action, CurrentsError> {
        let call = "POST /actions";
        let answer = self
            .create_in_project(call, "actions", project, new)
            .await?;
        decode(call, &answer)
    }

    /// `GET /actions/{actionId}`.
    pub async fn get_action(&self, id: &ActionId) -> Result<Action, CurrentsError> {
        self.get_json(
            "GET /actions/{actionId}",
            self.url(&["actions", id.as_str()]),
        )
        .await
    }

    /// `PUT /actions/{actionId}/disable`: the rule stops applying (and can be enabled again on
    /// the dashboard). Doing it twice changes nothing, so it is retried.
    pub async fn disable_action(&self, id: &ActionId) -> Result<Action, CurrentsError> {
        let call = "PUT /actions/{actionId}/disable";
        let url = self.url(&["actions", id.as_str(), "disable"]);
        let answer = self
            .exchange(call, Idempotency::Idempotent, || {
                self.request(Method::PUT, url.clone())
            })
            .await?;
        let answer = succeeded(call, answer, WRITE_HINT)?;
        decode(call, &answer.body)
    }
}
