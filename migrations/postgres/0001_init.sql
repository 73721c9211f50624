-- The relay's durable inbox and job queue (Postgres). Times are Unix epoch milliseconds, so that
-- SQLite and Postgres share one schema and one set of queries.

-- Every verified delivery, deduplicated on (hook id, delivery GUID): GitHub reuses the GUID on a
-- redelivery, and shares it between hooks that receive the same event.
CREATE TABLE deliveries (
    id          BIGSERIAL PRIMARY KEY,
    hook_id     TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    action      TEXT,
    repository  TEXT,
    run_id      BIGINT,
    run_attempt BIGINT,
    -- The exact bytes GitHub signed, kept only for deliveries that queued a cancel.
    body        BYTEA,
    received_at BIGINT  NOT NULL,
    UNIQUE (hook_id, delivery_id)
);

-- One cancel per (repository, run id, attempt), however many events announce it.
CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    dedupe_key  TEXT    NOT NULL UNIQUE,
    repository  TEXT    NOT NULL,
    run_id      BIGINT  NOT NULL,
    run_attempt BIGINT  NOT NULL,
    delivery_id TEXT    NOT NULL,
    -- pending | running | done | dead | dry
    state       TEXT    NOT NULL,
    -- cancelled | already-cancelled | not-found | dry-run | the reason it died
    outcome     TEXT,
    attempts    BIGINT  NOT NULL DEFAULT 0,
    next_run_at BIGINT  NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE INDEX jobs_due ON jobs (state, next_run_at);
