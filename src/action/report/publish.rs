//! Publishing a [`Publication`] from the step: the check run where `--check-mode` says (its
//! first batch of annotations with it), then the other batches and the pull request comment at
//! once, then the job summary and the outputs, which are written whatever GitHub answered.

use super::{SharedProgress, update};
use crate::cli::{CheckMode, CommentMode, FailOn, ReportConfig, ShaSources};
use crate::exit::InputError;
use crate::github::event::Event;
use crate::github::runtime::{self, Runtime};
use crate::github::{
    Annotation, AnnotationLevel, CheckRun, CheckRunOutput, CheckStatus, GithubClient, GithubError,
    IssueComment, NewCheckRun, Repository, Sticky, sticky_comment,
};
use crate::log_safe::Chain;
use crate::report::{Publication, pointer_summary};

/// Workflow-command annotations shown in the fallback: the runner shows 10 errors per step and
/// drops the rest silently, so we send 10 and say how many more there are.
const FALLBACK_ANNOTATIONS: usize = 10;

/// Where the step publishes.
pub(super) struct Target<'a> {
    pub config: &'a ReportConfig,
    /// `None` without a token: the job summary and log annotations only.
    pub client: Option<GithubClient>,
    pub repository: &'a Repository,
    pub event: &'a Event,
    pub sha: &'a ShaSources,
}

/// Where the report landed first.
struct Placed {
    /// The check run the annotations go to.
    annotated: CheckRun,
    /// Whether it is the named check (else the job's own).
    named: bool,
}

/// Publishes everywhere `target` says; the summary and outputs are written even when GitHub
/// refuses the check, and then its error decides the exit code.
pub(super) async fn publish(
    target: &Target<'_>,
    publication: &Publication,
    progress: &SharedProgress,
) -> anyhow::Result<()> {
    let head_sha = target
        .event
        .head_sha(target.sha.explicit.as_deref(), target.sha.github_sha.as_deref())
        .ok_or_else(|| InputError("cannot tell which commit the check belongs to: GITHUB_SHA is not set; pass --sha (CURRENTS_CHECK_SHA)".into()))?;
    let Some(github) = &target.client else {
        println!(
            "{}",
            runtime::warning(
                "No GitHub token (github-token input / GITHUB_TOKEN): skipping the check run; the report is in the job summary."
            )
        );
        fallback_annotations(&publication.annotations);
        write_runtime(&target.config.runtime, publication, None, None)?;
        return Ok(());
    };
    let placed = place(target, github, &head_sha, publication, progress).await;
    let (rest, (check, comment)) = match &placed {
        Ok(placed) => {
            tokio::join!(
                append_rest(target, github, publication, placed),
                named_then_comment(target, github, &head_sha, publication, placed, progress),
            )
        }
        Err(_) => (
            Ok(()),
            (
                None,
                comment(target, github, &head_sha, publication, None).await,
            ),
        ),
    };
    let published = match placed {
        Err(error @ GithubError::NoPermission { .. }) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "{}. Falling back to the job summary and log annotations.",
                    Chain(&error)
                ))
            );
            fallback_annotations(&publication.annotations);
            Ok(())
        }
        Err(error) => Err(error),
        Ok(_) => rest,
    };
    write_runtime(
        &target.config.runtime,
        publication,
        check.as_ref(),
        comment.as_ref(),
    )?;
    Ok(published?)
}

/// The check run the report goes to, created or written with the first batch of annotations:
/// the job's own (`job`, `both`), or one of its own, named (`named`, and whenever the runner
/// gave no job check run id).
async fn place(
    target: &Target<'_>,
    github: &GithubClient,
    head_sha: &str,
    publication: &Publication,
    progress: &SharedProgress,
) -> Result<Placed, GithubError> {
    let config = target.config;
    let first = publication.batches().next().unwrap_or(&[]);
    let job_check = match (config.check_mode, config.job_check_run_id) {
        (CheckMode::Named, _) => None,
        (_, Some(id)) => Some(id),
        (_, None) => {
            println!(
                "{}",
                runtime::notice(&format!(
                    "No job check run id (job.check_run_id exists on github.com and GHEC, not on GHES or outside Actions): posting the report as its own check run, {:?}.",
                    config.check_name
                ))
            );
            None
        }
    };
    let Some(job_id) = job_check else {
        let created = create_named(
            target,
            github,
            head_sha,
            publication,
            output_of(publication, first),
        )
        .await?;
        update(progress, |p| {
            p.check = Some((github.clone(), target.repository.clone(), created.id))
        });
        println!(
            "Published check run {} ({}).",
            created.id,
            created.html_url.as_deref().unwrap_or("no URL")
        );
        return Ok(Placed {
            annotated: created,
            named: true,
        });
    };
    let job = github
        .write_check_output(target.repository, job_id, output_of(publication, first))
        .await?;
    println!(
        "Wrote the report into the job's check run {job_id} ({}). Its status is the job's: the step's exit code decides it{}.",
        job.html_url.as_deref().unwrap_or("no URL"),
        if config.fail_on_test_failures == FailOn::Never {
            " (set fail-on-test-failures to fail the job when tests fail)"
        } else {
            ""
        }
    );
    Ok(Placed {
        annotated: job,
        named: false,
    })
}

/// The check run's output with `annotations`.
fn output_of<'a>(
    publication: &'a Publication,
    annotations: &'a [Annotation],
) -> CheckRunOutput<'a> {
    CheckRunOutput {
        title: &publication.output.title,
        summary: &publication.output.summary,
        text: publication.output.text.as_deref(),
        annotations,
    }
}

/// Creates the named check run, completed with the run's conclusion.
async fn create_named(
    target: &Target<'_>,
    github: &GithubClient,
    head_sha: &str,
    publication: &Publication,
    output: CheckRunOutput<'_>,
) -> Result<CheckRun, GithubError> {
    let report = &publication.report;
    let check = NewCheckRun {
        name: &target.config.check_name,
        head_sha,
        status: CheckStatus::Completed,
        conclusion: Some(publication.conclusion()),
        external_id: Some(report.run_id.as_str()),
        details_url: Some(&report.run_url),
        output,
    };
    github.create_check_run(target.repository, &check).await
}

/// The batches after the first.
async fn append_rest(
    target: &Target<'_>,
    github: &GithubClient,
    publication: &Publication,
    placed: &Placed,
) -> Result<(), GithubError> {
    github
        .append_annotations(
            target.repository,
            placed.annotated.id,
            output_of(publication, &[]),
            publication.batches().skip(1),
        )
        .await
}

/// In `both` mode, the named check run with the conclusion and a pointer to the job's; then
/// the comment, linking to the check the outputs name. Returns both.
async fn named_then_comment(
    target: &Target<'_>,
    github: &GithubClient,
    head_sha: &str,
    publication: &Publication,
    placed: &Placed,
    progress: &SharedProgress,
) -> (Option<CheckRun>, Option<IssueComment>) {
    let check = if placed.named || target.config.check_mode == CheckMode::Job {
        Some(placed.annotated.clone())
    } else {
        let job_url = placed.annotated.html_url.clone().unwrap_or_default();
        let pointer = pointer_summary(&publication.report, &job_url);
        let output = CheckRunOutput {
            title: &publication.output.title,
            summary: &pointer,
            text: None,
            annotations: &[],
        };
        match create_named(target, github, head_sha, publication, output).await {
            Ok(created) => {
                update(progress, |p| {
                    p.check = Some((github.clone(), target.repository.clone(), created.id))
                });
                println!(
                    "Published check run {} ({}) with the conclusion.",
                    created.id,
                    created.html_url.as_deref().unwrap_or("no URL")
                );
                Some(created)
            }
            Err(e) => {
                println!(
                    "{}",
                    runtime::warning(&format!(
                        "Cannot publish the named check run: {}",
                        Chain(&e)
                    ))
                );
                Some(placed.annotated.clone())
            }
        }
    };
    let url = check.as_ref().and_then(|c| c.html_url.as_deref());
    let comment = comment(target, github, head_sha, publication, url).await;
    (check, comment)
}

/// Posts or updates the sticky comment (`--comment`); a refusal is a warning, never the
/// step's failure.
async fn comment(
    target: &Target<'_>,
    github: &GithubClient,
    head_sha: &str,
    publication: &Publication,
    check_url: Option<&str>,
) -> Option<IssueComment> {
    let config = target.config;
    if config.comment == CommentMode::Off {
        return None;
    }
    let number = pull_request(target, github, head_sha).await?;
    let (marker, body) = publication.comment(&config.check_name, check_url);
    let sticky = Sticky {
        marker: &marker,
        body: &body,
        mode: config.comment,
        failed: publication.report.failed(),
    };
    let author = github.comment_author();
    match sticky_comment(github, target.repository, number, &sticky, author).await {
        Ok(Some(comment)) => {
            println!(
                "Updated the pull request comment {} ({}).",
                comment.id,
                comment.html_url.as_deref().unwrap_or("no URL")
            );
            Some(comment)
        }
        Ok(None) => None,
        Err(e) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "Cannot post the pull request comment: {}",
                    Chain(&e)
                ))
            );
            None
        }
    }
}

/// The pull request to comment on: `--pr-number`, the event's, else the open pull request
/// whose head is the commit.
async fn pull_request(target: &Target<'_>, github: &GithubClient, head_sha: &str) -> Option<u64> {
    if let Some(number) = target
        .config
        .pr_number
        .or_else(|| target.event.pull_request_number())
    {
        return Some(number);
    }
    match github.pulls_of_commit(target.repository, head_sha).await {
        Ok(pulls) => pulls.first().map(|p| p.number),
        Err(e) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "Cannot find the pull request of commit {head_sha} ({}); no comment.",
                    Chain(&e)
                ))
            );
            None
        }
    }
}

fn write_runtime(
    runtime: &Runtime,
    publication: &Publication,
    check: Option<&CheckRun>,
    comment: Option<&IssueComment>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let check_url = check.and_then(|c| c.html_url.clone());
    runtime
        .append_summary(&publication.job_summary(check_url.as_deref(), runtime.summary_room()))
        .context("cannot write GITHUB_STEP_SUMMARY")?;
    let outputs = publication.outputs(
        check.map(|c| (c.id.to_string(), check_url.clone().unwrap_or_default())),
        comment.map(|c| (c.id.to_string(), c.html_url.clone().unwrap_or_default())),
    );
    runtime
        .set_outputs(&outputs)
        .context("cannot write GITHUB_OUTPUT")
}

/// Without the Checks API: the first failures as `::error` workflow commands, which the
/// runner turns into annotations.
fn fallback_annotations(annotations: &[Annotation]) {
    let failures: Vec<&Annotation> = annotations
        .iter()
        .filter(|a| a.annotation_level == AnnotationLevel::Failure)
        .collect();
    for a in failures.iter().take(FALLBACK_ANNOTATIONS) {
        println!(
            "{}",
            runtime::file_error(&a.path, a.start_line, &a.title, &a.message)
        );
    }
    if failures.len() > FALLBACK_ANNOTATIONS {
        println!(
            "{}",
            runtime::notice(&format!(
                "{} more failures are not annotated; see the job summary.",
                failures.len() - FALLBACK_ANNOTATIONS
            ))
        );
    }
}

/// `--dry-run`: what would be posted, fenced so nothing of it runs as a workflow command.
pub(super) fn print_dry_run(config: &ReportConfig, publication: &Publication) {
    let output = &publication.output;
    let mut out = String::new();
    out.push_str("Dry run: the check run that would be posted.\n");
    out.push_str(&format!("Name: {}\n", config.check_name));
    out.push_str(&format!(
        "Conclusion: {}\n",
        publication.report.conclusion.as_str()
    ));
    out.push_str(&format!("Title: {}\n", output.title));
    out.push_str(&format!("Annotations: {}\n", publication.annotations.len()));
    out.push_str(&format!(
        "----- summary ({} bytes) -----\n",
        output.summary.len()
    ));
    out.push_str(&output.summary);
    if let Some(text) = &output.text {
        out.push_str(&format!("\n----- text ({} bytes) -----\n", text.len()));
        out.push_str(text);
    }
    println!("{}", config.runtime.show(&out));
}
