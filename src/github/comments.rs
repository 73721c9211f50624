//! Pull request comments (the Issues API): list, create, update and delete, the pull requests
//! of a commit, and the sticky comment built on them (the `report` step's and the relay's).
//!
//! The sticky comment is one per check name and Currents project, found again by a hidden
//! marker and its author (the identity that posts: anyone can write the marker), and edited in
//! place. Two writers can race to create it: after creating one, each reads the comments once
//! more, and if two of ours exist then, the oldest wins, takes the newest body, and the others
//! are deleted. So a pull request ends with one comment whichever writer finished last.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::client::{GithubClient, GithubError, Permission, Repository};
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

/// An open pull request: its number, and the branch it merges into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub base: Option<String>,
}

/// A comment, with the fields we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub user: Option<CommentUser>,
}

/// A comment's author.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommentUser {
    pub login: String,
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
                .get(
                    "GET /repos/{owner}/{repo}/issues/{number}/comments",
                    url,
                    Permission::PullRequests,
                )
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
                Permission::PullRequests,
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
                Permission::PullRequests,
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
                Permission::PullRequests,
            )
            .await?;
        Ok(())
    }

    /// The login this client's comments carry: the token's user (`GET /user`), or, for a
    /// token that is no user's (GitHub answers 401 or 403: a workflow's `GITHUB_TOKEN`),
    /// [`ACTIONS_BOT`].
    pub async fn comment_author(&self) -> Result<String, GithubError> {
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        let url = self.url(&["user"]);
        match self.get::<User>("GET /user", url, Permission::None).await {
            Ok((user, _)) => Ok(user.login),
            Err(e) if matches!(e.status(), Some(401 | 403)) => Ok(ACTIONS_BOT.to_owned()),
            Err(e) => Err(e),
        }
    }

    /// The open pull requests whose head is `sha`, newest first.
    pub async fn pulls_of_commit(
        &self,
        repo: &Repository,
        sha: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        #[derive(Deserialize)]
        struct Pull {
            number: u64,
            #[serde(default)]
            state: Option<String>,
            #[serde(default)]
            base: Option<Base>,
        }
        #[derive(Deserialize)]
        struct Base {
            #[serde(rename = "ref")]
            name: String,
        }
        let url = self.url(&["repos", &repo.owner, &repo.name, "commits", sha, "pulls"]);
        let (pulls, _): (Vec<Pull>, _) = self
            .get(
                "GET /repos/{owner}/{repo}/commits/{sha}/pulls",
                url,
                Permission::PullRequests,
            )
            .await?;
        Ok(pulls
            .into_iter()
            .filter(|p| p.state.as_deref().is_none_or(|s| s == "open"))
            .map(|p| PullRequest {
                number: p.number,
                base: p.base.map(|b| b.name),
            })
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

/// The login comments made with a workflow's `GITHUB_TOKEN` carry.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// The sticky comment to post.
#[derive(Debug, Clone, Copy)]
pub struct Sticky<'a> {
    /// The hidden first line ([`marker`]).
    pub marker: &'a str,
    pub body: &'a str,
    pub mode: CommentMode,
    /// Whether the run failed (`failures` mode posts only then, unless the comment exists).
    pub failed: bool,
}

/// The comments that are ours: the marker first, and written by `author` (the identity that
/// posts). The marker is public, so anyone can write it; only our own comments are edited or
/// deleted. Oldest first.
fn ours<'a>(comments: &'a [IssueComment], marker: &str, author: &str) -> Vec<&'a IssueComment> {
    let mut found: Vec<&IssueComment> = comments
        .iter()
        .filter(|c| c.body.as_deref().is_some_and(|b| b.starts_with(marker)))
        .filter(|c| {
            c.user
                .as_ref()
                .is_some_and(|u| u.login.eq_ignore_ascii_case(author))
        })
        .collect();
    found.sort_by_key(|c| c.id);
    found
}

/// Posts or updates the comment on pull request `number` as `author` (the login comments made
/// with this client's token carry, read beside the comments). `None` when the mode says not to
/// post (`failures` with nothing failed and no comment yet).
///
/// An existing comment costs one read and one update. A new one costs one read, one create and
/// one more read, which folds a duplicate another job created at the same time: the oldest
/// comment stays, with this (newest) body, and the others are deleted.
pub async fn sticky_comment(
    github: &GithubClient,
    repo: &Repository,
    number: u64,
    sticky: &Sticky<'_>,
    author: impl std::future::Future<Output = Result<String, GithubError>>,
) -> Result<Option<IssueComment>, GithubError> {
    if sticky.mode == CommentMode::Off {
        return Ok(None);
    }
    let (existing, author) = tokio::join!(github.issue_comments(repo, number), author);
    let (existing, author) = (existing?, author?);
    let found = ours(&existing, sticky.marker, &author);
    if let Some(first) = found.first() {
        let kept = github
            .update_issue_comment(repo, first.id, sticky.body)
            .await?;
        delete_extras(github, repo, &found).await?;
        return Ok(Some(kept));
    }
    if sticky.mode == CommentMode::Failures && !sticky.failed {
        return Ok(None);
    }
    let created = github
        .create_issue_comment(repo, number, sticky.body)
        .await?;
    // If two jobs created one each, keep the oldest with this (newest) body.
    let after = github.issue_comments(repo, number).await?;
    let found = ours(&after, sticky.marker, &author);
    let Some(oldest) = found.first() else {
        return Ok(Some(created));
    };
    if oldest.id == created.id {
        return Ok(Some(created));
    }
    let kept = github
        .update_issue_comment(repo, oldest.id, sticky.body)
        .await?;
    delete_extras(github, repo, &found).await?;
    Ok(Some(kept))
}

/// Rewrites our comment on pull request `number` (the oldest marked `marker` by `author`) to
/// `amend(body)`. `None` when there is none, or it would not change.
pub async fn amend_sticky(
    github: &GithubClient,
    repo: &Repository,
    number: u64,
    marker: &str,
    author: &str,
    amend: impl FnOnce(&str) -> String,
) -> Result<Option<IssueComment>, GithubError> {
    let existing = github.issue_comments(repo, number).await?;
    let Some(ours) = ours(&existing, marker, author).into_iter().next() else {
        return Ok(None);
    };
    let body = ours.body.as_deref().unwrap_or_default();
    let amended = amend(body);
    if amended == body {
        return Ok(None);
    }
    Ok(Some(
        github.update_issue_comment(repo, ours.id, &amended).await?,
    ))
}

/// Deletes every marked comment but the oldest (`found` is ours, sorted oldest first).
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

    #[test]
    fn only_the_authors_marked_comments_are_ours() {
        let marker = marker("Currents", "p");
        let comment = |id: u64, body: &str, login: Option<&str>| IssueComment {
            id,
            body: Some(body.to_owned()),
            html_url: None,
            user: login.map(|login| CommentUser {
                login: login.into(),
            }),
        };
        let comments = vec![
            comment(
                5,
                &format!("{marker}\nmine, newer"),
                Some("github-actions[bot]"),
            ),
            comment(1, &format!("{marker}\nsomeone else's"), Some("mallory")),
            comment(3, &format!("{marker}\nmine"), Some("GitHub-Actions[bot]")),
            comment(2, "no marker", Some("github-actions[bot]")),
            comment(4, &format!("{marker}\nno author"), None),
            comment(6, &format!("x{marker}"), Some("github-actions[bot]")),
        ];
        let ids: Vec<u64> = ours(&comments, &marker, ACTIONS_BOT)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec![3, 5]);
        assert!(ours(&comments, &marker, "someone").is_empty());
    }
}
