-- App mode: check jobs beside cancel jobs, what was sent for each Currents run's check, and
-- the catch-up sweep's progress.

-- `cancel` jobs use repository, run_id and run_attempt; `check` jobs carry their Currents
-- webhook's fields in `payload` (JSON) and set run_id and run_attempt to 0.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'cancel';
ALTER TABLE jobs ADD COLUMN payload TEXT;

-- One row per Currents run: the check run made for it, how many annotations it has been sent
-- (annotations append, so a retry must not send them again), and when it was completed. The
-- lease serialises the jobs of one run across workers and replicas.
CREATE TABLE check_runs (
    currents_run_id  TEXT    PRIMARY KEY,
    repository       TEXT    NOT NULL,
    head_sha         TEXT    NOT NULL,
    check_run_id     BIGINT,
    annotations_sent BIGINT  NOT NULL DEFAULT 0,
    -- Set before a batch of annotations is sent: above annotations_sent only when an attempt
    -- was cut off before it learnt whether GitHub took that batch.
    annotations_pending BIGINT NOT NULL DEFAULT 0,
    completed_at     BIGINT,
    lease_owner      TEXT,
    lease_until      BIGINT,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX check_runs_updated ON check_runs (updated_at);

-- Periodic sweeps (the catch-up of missed GitHub deliveries): one replica at a time, by lease,
-- and how far back the last complete sweep reached.
CREATE TABLE sweeps (
    name        TEXT    PRIMARY KEY,
    lease_owner TEXT,
    lease_until BIGINT,
    swept_at    BIGINT
);

-- The catch-up asks whether a delivery GUID was ever stored, whichever hook sent it.
CREATE INDEX deliveries_guid ON deliveries (delivery_id);
