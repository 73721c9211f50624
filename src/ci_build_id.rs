//! The one function that derives a Currents ciBuildId for a GitHub workflow run, and the
//! identifiers it is made of. `report`, `cancel` and the relay all use it, so a run recorded
//! with the documented template is found the same way everywhere.

use std::fmt;

/// The ciBuildId a Currents run was recorded under (`--ci-build-id` of the reporters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CiBuildId(String);

impl CiBuildId {
    /// Wraps an explicit ciBuildId; `None` when it is empty, since an empty value means unset.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.trim().is_empty()).then_some(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CiBuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::ids::id_type!(
    /// `GITHUB_RUN_ID`: the id of a workflow run, shared by all its jobs and attempts.
    GithubRunId(u64)
);

crate::ids::id_type!(
    /// `GITHUB_RUN_ATTEMPT`: 1 for the first attempt, incremented by each re-run.
    RunAttempt(u32)
);

/// The documented Currents template for GitHub Actions:
/// `{GITHUB_REPOSITORY}-{GITHUB_RUN_ID}-{GITHUB_RUN_ATTEMPT}`. The repository and run id group
/// the parallel jobs of one workflow run into one Currents run; the attempt makes every re-run a
/// new Currents run.
pub fn github_ci_build_id(repository: &str, run_id: GithubRunId, attempt: RunAttempt) -> CiBuildId {
    CiBuildId(format!("{repository}-{run_id}-{attempt}"))
}

/// The workflow run and attempt of a ciBuildId that follows the template for `repository`
/// (compared case-insensitively, as GitHub names repositories); `None` for any other shape.
pub fn parse_github_ci_build_id(
    ci_build_id: &CiBuildId,
    repository: &str,
) -> Option<(GithubRunId, RunAttempt)> {
    let value = ci_build_id.as_str();
    let prefix = value.get(..repository.len())?;
    if !prefix.eq_ignore_ascii_case(repository) {
        return None;
    }
    let (run_id, attempt) = value
        .get(repository.len()..)?
        .strip_prefix('-')?
        .split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(run_id) || !digits(attempt) {
        return None;
    }
    Some((
        GithubRunId::new(run_id.parse().ok()?),
        RunAttempt::new(attempt.parse().ok().filter(|a| *a > 0)?),
    ))
}

/// The ciBuildId of the attempt before `attempt` of the same workflow run; `None` for a first
/// attempt.
pub fn previous_attempt(
    repository: &str,
    run_id: GithubRunId,
    attempt: RunAttempt,
) -> Option<CiBuildId> {
    let previous = attempt.get().checked_sub(1).filter(|a| *a > 0)?;
    Some(github_ci_build_id(
        repository,
        run_id,
        RunAttempt::new(previous),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_documented_template() {
        let id = github_ci_build_id(
            "acme/webapp",
            GithubRunId::new(9876543210),
            RunAttempt::new(1),
        );
        assert_eq!(id.as_str(), "acme/webapp-9876543210-1");
    }

    #[test]
    fn each_attempt_is_a_new_build() {
        let first = github_ci_build_id("acme/webapp", GithubRunId::new(42), RunAttempt::new(1));
        let second = github_ci_build_id("acme/webapp", GithubRunId::new(42), RunAttempt::new(2));
        assert_ne!(first, second);
        assert_eq!(second.to_string(), "acme/webapp-42-2");
    }

    #[test]
    fn the_template_reads_back() {
        let id = github_ci_build_id("Acme/WebApp", GithubRunId::new(42), RunAttempt::new(3));
        let (run, attempt) = parse_github_ci_build_id(&id, "acme/webapp").unwrap();
        assert_eq!((run.get(), attempt.get()), (42, 3));
        for other in [
            "custom-1",
            "acme/webapp-42",
            "acme/webapp-x-1",
            "acme/webapp-42-0",
            "acme/other-42-1",
            "acme/webapp-42-1-2",
        ] {
            let id = CiBuildId::new(other).unwrap();
            assert_eq!(
                parse_github_ci_build_id(&id, "acme/webapp"),
                None,
                "{other}"
            );
        }
        assert_eq!(
            previous_attempt("acme/webapp", GithubRunId::new(42), RunAttempt::new(3))
                .map(|c| c.to_string()),
            Some("acme/webapp-42-2".to_owned())
        );
        assert_eq!(
            previous_attempt("acme/webapp", GithubRunId::new(42), RunAttempt::new(1)),
            None
        );
    }

    #[test]
    fn an_empty_explicit_id_means_unset() {
        assert_eq!(CiBuildId::new(""), None);
        assert_eq!(CiBuildId::new("  "), None);
        assert_eq!(
            CiBuildId::new("custom-1").map(|c| c.to_string()),
            Some("custom-1".into())
        );
    }
}
