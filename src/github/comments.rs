//! Pull request comments (the Issues API): list, create, update and delete, the pull requests
//! of a commit, and the sticky comment built on them (the `report` step's and the relay's).
//!
//! The sticky comment is one per check name and Currents project, found again by a hidden
//! marker and edited in place. Two writers can race to create it. Each reads the comments
//! again right before it creates one, and after creating reads them once more: if two markers
//! exist then, the oldest comment wins, takes the newest body, and the others are deleted. So
//! a pull request ends with one comment whichever writer finished last.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::checks::{GithubClient, GithubError, Repository};
use crate::retry::Idempotency;

/// GitHub's limit for a comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// The most comments read while looking for ours: 10 pages of 100.
const MAX_COMMENT_PAGES: usize = 10;

/// When the sticky comment is posted (`--comment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentMode {
    Off,
    Always,
    /// When something failed; once the comment exists, always (so a fixed PR shows green).
    Failures,
}

/// A comment, with the fields we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

#[derive(Serialize)]
struct CommentBody<'a> {
    body: &'a str,
}

impl GithubClient {
    /// `/repos/{owner}/{repo}/issues/{number}/comments`.
    fn comments_url(&self, repo: &Repository, number: u64) -> url::Url {
        self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "issues",
            &number.to_string(),
            "comments",
        ])
    }

    /// `/repos/{owner}/{repo}/issues/comments/{id}`.
    fn comment_url(&self, repo: &Repository, id: u64) -> url::Url {
        self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "issues",
            "comments",
            &id.to_string(),
        ])
    }

    /// The comments of issue or pull request `number`, oldest first (up to 1,000).
    pub async fn issue_comments(
        &self,
        repo: &Repository,
        number: u64,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let mut url = self.comments_url(repo, number);
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut all = Vec::new();
        let mut next = Some(url);
        for _ in 0..MAX_COMMENT_PAGES {
            let Some(url) = next.take() else { break };
            let (page, link): (Vec<IssueComment>, _) = self
                .get("GET /repos/{owner}/{repo}/issues/{number}/comments", url)
                .await?;
            all.extend(page);
            next = self.next_page(link);
        }
        Ok(all)
    }

    pub async fn create_issue_comment(
        &self,
        repo: &Repository,
        number: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let url = self.comments_url(repo, number);
        let (comment, _) = self
            .call(
                "POST /repos/{owner}/{repo}/issues/{number}/comments",
                Method::POST,
                url,
                Some(&CommentBody { body }),
                Idempotency::NotIdempotent,
            )
            .await?;
        Ok(comment)
    }

    pub async fn update_issue_comment(
        &self,
        repo: &Repository,
        id: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let url = self.comment_url(repo, id);
        let (comment, _) = self
            .call(
                "PATCH /repos/{owner}/{repo}/issues/comments/{id}",
                Method::PATCH,
                url,
                Some(&CommentBody { body }),
                // The same body twice is the same comment.
                Idempotency::Idempotent,
            )
            .await?;
        Ok(comment)
    }

    pub async fn delete_issue_comment(
        &self,
        repo: &Repository,
        id: u64,
    ) -> Result<(), GithubError> {
        let url = self.comment_url(repo, id);
        let _: (serde_json::Value, _) = self
            .call(
                "DELETE /repos/{owner}/{repo}/issues/comments/{id}",
                Method::DELETE,
                url,
                None::<&()>,
                Idempotency::Idempotent,
            )
            .await?;
        Ok(())
    }

    /// The open pull requests whose head is `sha`, newest first.
    pub async fn pulls_of_commit(
        &self,
        repo: &Repository,
        sha: &str,
    ) -> Result<Vec<u64>, GithubError> {
        #[derive(Deserialize)]
        struct Pull {
            number: u64,
            #[serde(default)]
            state: Option<String>,
        }
        let url = self.url(&["repos", &repo.owner, &repo.name, "commits", sha, "pulls"]);
        let (pulls, _): (Vec<Pull>, _) = self
            .get("GET /repos/{owner}/{repo}/commits/{sha}/pulls", url)
            .await?;
        Ok(pulls
            .into_iter()
            .filter(|p| p.state.as_deref().is_none_or(|s| s == "open"))
            .map(|p| p.number)
            .collect())
    }
}

/// The hidden first line that finds the comment again. A digest of the check name and the
/// project, so that nothing a user typed ends up inside an HTML comment.
pub fn marker(check_name: &str, project: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{check_name}\n{project}").as_bytes());
    format!(
        "<!-- currents-bridge:comment:{} -->",
        &hex::encode(digest)[..16]
    )
}

fn ours<'a>(comments: &'a [IssueComment], marker: &str) -> Vec<&'a IssueComment> {
    let mut found: Vec<&IssueComment> = comments
        .iter()
        .filter(|c| c.body.as_deref().is_some_and(|b| b.starts_with(marker)))
        .collect();
    found.sort_by_key(|c| c.id);
    found
}

/// Posts or updates the comment on pull request `number`. `None` when `mode` says not to post
/// (`failures` with nothing failed and no comment yet).
pub async fn sticky_comment(
    github: &GithubClient,
    repo: &Repository,
    number: u64,
    marker: &str,
    body: &str,
    mode: CommentMode,
    failed: bool,
) -> Result<Option<IssueComment>, GithubError> {
    if mode == CommentMode::Off {
        return Ok(None);
    }
    let existing = github.issue_comments(repo, number).await?;
    let found = ours(&existing, marker);
    if let Some(first) = found.first() {
        let kept = github.update_issue_comment(repo, first.id, body).await?;
        delete_extras(github, repo, &found).await?;
        return Ok(Some(kept));
    }
    if mode == CommentMode::Failures && !failed {
        return Ok(None);
    }
    // Read again right before creating: another step may have created it meanwhile.
    let again = github.issue_comments(repo, number).await?;
    if let Some(first) = ours(&again, marker).first() {
        return github
            .update_issue_comment(repo, first.id, body)
            .await
            .map(Some);
    }
    let created = github.create_issue_comment(repo, number, body).await?;
    // And after: if two steps created one each, keep the oldest with this (newest) body.
    let after = github.issue_comments(repo, number).await?;
    let found = ours(&after, marker);
    let Some(oldest) = found.first() else {
        return Ok(Some(created));
    };
    if oldest.id == created.id {
        return Ok(Some(created));
    }
    let kept = github.update_issue_comment(repo, oldest.id, body).await?;
    delete_extras(github, repo, &found).await?;
    Ok(Some(kept))
}

/// Deletes every marked comment but the oldest (`found` is sorted oldest first).
async fn delete_extras(
    github: &GithubClient,
    repo: &Repository,
    found: &[&IssueComment],
) -> Result<(), GithubError> {
    for extra in found.iter().skip(1) {
        match github.delete_issue_comment(repo, extra.id).await {
            // The other step deleted it first.
            Err(e) if e.status() == Some(404) => {}
            other => other?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_differ_by_check_and_project_and_hide_their_input() {
        let a = marker("Currents", "Xk9Pq2");
        assert_eq!(a, marker("Currents", "Xk9Pq2"));
        assert_ne!(a, marker("Currents e2e", "Xk9Pq2"));
        assert_ne!(a, marker("Currents", "other"));
        let hostile = marker("--> <script>", "p");
        assert!(hostile.starts_with("<!-- currents-bridge:comment:"));
        assert!(!hostile.contains("script"));
    }
}
