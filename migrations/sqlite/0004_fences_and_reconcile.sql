-- Trust: fenced leases, replayed bodies, redelivery requests asked once.

-- A job's claim generation: every claim takes the next one, and a worker's finish, reschedule
-- or lease renewal names the generation it holds, so a copy that lost its lease (another
-- worker re-claimed the job) can no longer write.
ALTER TABLE jobs ADD COLUMN lease_generation BIGINT NOT NULL DEFAULT 0;

-- A check record's fence, raised by every lease taken on it: a save, renewal or release names
-- the fence it took, so an attempt that lost the record stops before its next GitHub call.
ALTER TABLE check_runs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
-- The reconcile pass looks for records still open that nobody looked at for a while.
CREATE INDEX check_runs_open ON check_runs (completed_at, updated_at);

-- The SHA-256 of a delivery's signed body: GitHub's signature does not cover the headers, so
-- a captured body replayed under a new X-GitHub-Delivery is recognised by its bytes.
ALTER TABLE deliveries ADD COLUMN body_digest TEXT;
CREATE INDEX deliveries_digest ON deliveries (body_digest);

-- Deliveries the catch-up asked GitHub to send again, so that each is asked for once, even when
-- the relay refuses what arrives.
CREATE TABLE redelivery_requests (
    guid     TEXT   PRIMARY KEY,
    asked_at BIGINT NOT NULL
);
CREATE INDEX redelivery_requests_asked ON redelivery_requests (asked_at);
