//! The sticky pull request comment: one per check name and Currents project, found again by a
//! hidden marker and edited in place.
//!
//! Two report steps can race to create it. Each reads the comments again right before it
//! creates one, and after creating reads them once more: if two markers exist then, the oldest
//! comment wins, takes the newest body, and the others are deleted. So a pull request ends
//! with one comment whichever step finished last.

use sha2::Digest;

use crate::cli::CommentMode;
use crate::github::{GithubClient, GithubError, IssueComment, Repository};

/// The hidden first line that finds the comment again. A digest of the check name and the
/// project, so that nothing a user typed ends up inside an HTML comment.
pub(super) fn marker(check_name: &str, project: &str) -> String {
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
pub(super) async fn sticky_comment(
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
