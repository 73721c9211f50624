//! `cancel`'s flags and its validated configuration.

use clap::Args;

use super::values::{ConfigError, bad, set};
use super::{CurrentsArgs, GithubRunArgs, RunSelectArgs, github_run};
use crate::ci_build_id::CiBuildId;
use crate::ci_build_id::{GithubRunId, RunAttempt};
use crate::currents::{CancelTarget, CurrentsConfig, GithubRunCancel, ProjectId, RunId};
use crate::github::runtime::Runtime;

#[derive(Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub currents: CurrentsArgs,
    #[command(flatten)]
    pub select: RunSelectArgs,
    #[command(flatten)]
    pub run: GithubRunArgs,
}

/// What a cancel targets: the run id when given, else this GitHub run and attempt. The
/// ciBuildId scopes the cancel only when it was given explicitly together with a project id,
/// as Currents' own action does: a guessed ciBuildId that does not match turns the cancel
/// into a 404.
pub(super) fn cancel_target(
    args: &CurrentsArgs,
    select: &RunSelectArgs,
    github_run: Option<(GithubRunId, RunAttempt)>,
) -> Option<CancelTarget> {
    if let Some(id) = set(select.run_id.clone()) {
        return Some(CancelTarget::Run(RunId::new(id)));
    }
    let (run_id, attempt) = github_run?;
    let project_id = set(args.project_id.clone()).map(ProjectId::new);
    let ci_build_id = project_id
        .as_ref()
        .and(set(select.ci_build_id.clone()))
        .and_then(CiBuildId::new);
    Some(CancelTarget::GithubRun(GithubRunCancel {
        run_id,
        attempt,
        project_id,
        ci_build_id,
    }))
}

/// The validated configuration of `cancel`.
#[derive(Debug, Clone)]
pub struct CancelConfig {
    pub currents: CurrentsConfig,
    pub target: CancelTarget,
    pub dry_run: bool,
    pub runtime: Runtime,
}

impl CancelArgs {
    pub fn into_config(self) -> Result<CancelConfig, ConfigError> {
        let currents = self.currents.config()?;
        let target = cancel_target(&self.currents, &self.select, github_run(&self.run)?).ok_or_else(|| {
            bad("nothing to cancel: GITHUB_RUN_ID is not set; run inside GitHub Actions or pass --run-id (CURRENTS_RUN_ID)")
        })?;
        Ok(CancelConfig {
            currents,
            target,
            dry_run: self.currents.dry_run()?,
            runtime: self.run.runtime(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_target_sends_ci_build_id_only_with_a_project() {
        let args = |project: Option<&str>| CurrentsArgs {
            api_url: None,
            api_key: Some("k".into()),
            project_id: project.map(Into::into),
            dry_run: None,
            fetch_concurrency: None,
        };
        let select = RunSelectArgs {
            ci_build_id: Some("b-1".into()),
            run_id: None,
        };
        let run = Some((GithubRunId::new(45166321), RunAttempt::new(2)));
        let Some(CancelTarget::GithubRun(without)) = cancel_target(&args(None), &select, run)
        else {
            panic!()
        };
        assert_eq!((without.project_id, without.ci_build_id), (None, None));
        let Some(CancelTarget::GithubRun(with)) = cancel_target(&args(Some("P")), &select, run)
        else {
            panic!()
        };
        assert_eq!(
            (
                with.project_id.as_ref().map(ProjectId::as_str),
                with.ci_build_id.as_ref().map(CiBuildId::as_str)
            ),
            (Some("P"), Some("b-1"))
        );
        assert_eq!(with.attempt, RunAttempt::new(2));
    }
}
