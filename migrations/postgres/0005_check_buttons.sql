-- Buttons on App mode's completed checks: what each check offered, and every click acted on
-- or refused.

-- What a completed check offered its buttons (JSON): the Currents project, whether the run
-- failed, the flaky failures' tests, the pull request.
ALTER TABLE check_runs ADD COLUMN offers TEXT;
-- A click names the check run, not the Currents run.
CREATE INDEX check_runs_check_run_id ON check_runs (check_run_id);

-- One row per click that was acted on, refused or failed. `acting` while a job performs it.
CREATE TABLE check_clicks (
    id           BIGSERIAL PRIMARY KEY,
    check_run_id BIGINT  NOT NULL,
    button       TEXT    NOT NULL,
    sender       TEXT    NOT NULL,
    job_id       BIGINT  NOT NULL,
    -- acting | done | refused | failed
    state        TEXT    NOT NULL,
    detail       TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
-- Each button acts once per check, whoever clicks and however often: only one of its clicks
-- may be acting or done.
CREATE UNIQUE INDEX check_clicks_once ON check_clicks (check_run_id, button)
    WHERE state IN ('acting', 'done');
CREATE INDEX check_clicks_check ON check_clicks (check_run_id);

-- Currents projects whose API key was refused an Actions write: no quarantine is offered there
-- any more (the API has no read-only way to ask first).
CREATE TABLE project_flags (
    project_id         TEXT   PRIMARY KEY,
    actions_refused_at BIGINT
);
