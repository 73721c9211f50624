//! The buttons of App mode's completed checks: what a check offers (recorded with it when it
//! completes), which buttons it shows once clicked, and how each reads.
//!
//! - `Re-run failed` when the run did not pass and the installation lets the App re-run
//!   workflows (`actions: write`);
//! - `Quarantine flaky` when a failure of a Playwright run has verdict `flaky` and Currents has
//!   not refused this project's key an Actions write; never for `new` failures, whose
//!   quarantine would hide what the change broke;
//! - `Undo quarantine` once the quarantine is done.
//!
//! Each is shown until it acted (or failed); a refused click leaves it for someone who may.

use crate::currents::Run;
use crate::github::{CheckButton, PullRequest};
use crate::log_safe::Chain;
use crate::report::{Publication, Verdict};
use crate::store::{Button, Click, ClickState, Offers, QuarantineTest, StoreError};

use super::{CheckContext, Placement};

/// Records what the completing check of `run` offers, and returns the buttons it shows.
pub(super) async fn offer(
    ctx: &CheckContext<'_>,
    publication: &Publication,
    run: &Run,
    placement: &Placement,
    pull: Option<&PullRequest>,
) -> Result<Vec<CheckButton>, StoreError> {
    let may_rerun = match ctx.app.may_write(&placement.repo, "actions").await {
        Ok(may) => may,
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "cannot tell whether the App may re-run workflows; no Re-run failed button");
            false
        }
    };
    let offers = offers_of(publication, run, placement, pull, may_rerun);
    ctx.store.save_offers(&run.run_id, &offers).await?;
    let refused = ctx.store.actions_refused(&offers.project).await?;
    Ok(shown(&offers, &[], refused))
}

/// How a button reads on the check (GitHub's limits: 20, 40 and 20 characters).
pub(crate) const fn button(button: Button) -> CheckButton {
    match button {
        Button::RerunFailed => CheckButton {
            label: "Re-run failed",
            description: "Re-run the failed jobs of this workflow",
            identifier: Button::RerunFailed.identifier(),
        },
        Button::Quarantine => CheckButton {
            label: "Quarantine flaky",
            description: "Quarantine these flaky tests in Currents",
            identifier: Button::Quarantine.identifier(),
        },
        Button::Unquarantine => CheckButton {
            label: "Undo quarantine",
            description: "Disable the quarantine rule in Currents",
            identifier: Button::Unquarantine.identifier(),
        },
    }
}

/// What the completed check of `run` offers.
pub(crate) fn offers_of(
    publication: &Publication,
    run: &Run,
    placement: &Placement,
    pull: Option<&PullRequest>,
    may_rerun: bool,
) -> Offers {
    let flaky = if run.is_playwright() {
        publication
            .report
            .failures
            .iter()
            .filter(|t| t.verdict == Some(Verdict::Flaky) && !t.test_id.is_empty())
            .map(|t| QuarantineTest {
                test_id: t.test_id.clone(),
                spec: t.spec.clone(),
                title: t.title_path(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Offers {
        project: placement.project.clone(),
        failed: publication.report.failed(),
        may_rerun,
        flaky,
        pull: pull.map(|p| p.number),
    }
}

/// Whether a click of `button` has acted, is acting, or failed: it is not shown again.
fn pressed(clicks: &[Click], button: Button) -> bool {
    clicks.iter().any(|c| {
        c.button == button
            && matches!(
                c.state,
                ClickState::Acting | ClickState::Done | ClickState::Failed
            )
    })
}

/// The buttons the check shows, after `clicks`.
pub(crate) fn shown(offers: &Offers, clicks: &[Click], actions_refused: bool) -> Vec<CheckButton> {
    let quarantined = clicks
        .iter()
        .any(|c| c.button == Button::Quarantine && c.state == ClickState::Done);
    let mut shown = Vec::new();
    if offers.failed && offers.may_rerun && !pressed(clicks, Button::RerunFailed) {
        shown.push(button(Button::RerunFailed));
    }
    if !offers.flaky.is_empty() && !actions_refused && !pressed(clicks, Button::Quarantine) {
        shown.push(button(Button::Quarantine));
    }
    if quarantined && !pressed(clicks, Button::Unquarantine) {
        shown.push(button(Button::Unquarantine));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::{
        MAX_BUTTON_DESCRIPTION_CHARS, MAX_BUTTON_IDENTIFIER_CHARS, MAX_BUTTON_LABEL_CHARS,
    };
    use crate::store::JobId;

    #[test]
    fn buttons_fit_githubs_limits() {
        for b in Button::ALL {
            let shown = button(b);
            assert!(
                shown.label.chars().count() <= MAX_BUTTON_LABEL_CHARS,
                "{shown:?}"
            );
            assert!(
                shown.description.chars().count() <= MAX_BUTTON_DESCRIPTION_CHARS,
                "{shown:?}"
            );
            assert!(
                shown.identifier.len() <= MAX_BUTTON_IDENTIFIER_CHARS,
                "{shown:?}"
            );
        }
    }

    fn click(button: Button, state: ClickState) -> Click {
        Click {
            id: 1,
            button,
            sender: "alice".into(),
            job_id: JobId::new(1),
            state,
            detail: None,
            updated_at: 0,
        }
    }

    #[test]
    fn each_button_until_it_acted() {
        let offers = Offers {
            project: crate::currents::ProjectId::new("p"),
            failed: true,
            may_rerun: true,
            flaky: vec![QuarantineTest {
                test_id: "t".into(),
                spec: "s".into(),
                title: "x".into(),
            }],
            pull: Some(1),
        };
        let ids = |clicks: &[Click], refused| {
            shown(&offers, clicks, refused)
                .iter()
                .map(|b| b.identifier)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&[], false), ["rerun-failed", "quarantine"]);
        assert_eq!(
            ids(&[], true),
            ["rerun-failed"],
            "the key may not write Actions"
        );
        let refused = click(Button::Quarantine, ClickState::Refused);
        assert_eq!(
            ids(&[refused], false),
            ["rerun-failed", "quarantine"],
            "someone else may"
        );
        let done = click(Button::Quarantine, ClickState::Done);
        assert_eq!(
            ids(std::slice::from_ref(&done), false),
            ["rerun-failed", "unquarantine"]
        );
        let undone = click(Button::Unquarantine, ClickState::Done);
        let rerun = click(Button::RerunFailed, ClickState::Acting);
        assert!(ids(&[done, undone, rerun], false).is_empty());
        let green = Offers {
            failed: false,
            flaky: Vec::new(),
            ..offers.clone()
        };
        assert!(shown(&green, &[], false).is_empty());
    }
}
