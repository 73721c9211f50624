//! Pull request comments (the Issues API): list, create, update and delete, and the pull
//! requests of a commit. The sticky-comment logic built on them is in `action/comment.rs`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::checks::{GithubClient, GithubError, Repository};
use crate::retry::Idempotency;

/// GitHub's limit for a comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// The most comments read while looking for ours: 10 pages of 100.
const MAX_COMMENT_PAGES: usize = 10;

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
    /// The comments of issue or pull request `number`, oldest first (up to 1,000).
    pub async fn issue_comments(
        &self,
        repo: &Repository,
        number: u64,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let mut url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "issues",
            &number.to_string(),
            "comments",
        ]);
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut all = Vec::new();
        let mut next = Some(url);
        for _ in 0..MAX_COMMENT_PAGES {
            let Some(url) = next.take() else { break };
            let (page, link): (Vec<IssueComment>, _) = self
                .call(
                    "GET /repos/{owner}/{repo}/issues/{number}/comments",
                    Method::GET,
                    url,
                    None::<&()>,
                    Idempotency::Idempotent,
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
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "issues",
            &number.to_string(),
            "comments",
        ]);
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
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "issues",
            "comments",
            &id.to_string(),
        ]);
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
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "issues",
            "comments",
            &id.to_string(),
        ]);
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
            .call(
                "GET /repos/{owner}/{repo}/commits/{sha}/pulls",
                Method::GET,
                url,
                None::<&()>,
                Idempotency::Idempotent,
            )
            .await?;
        Ok(pulls
            .into_iter()
            .filter(|p| p.state.as_deref().is_none_or(|s| s == "open"))
            .map(|p| p.number)
            .collect())
    }
}
