-- Indexes for retention (prune finished jobs and old deliveries in small batches) and for the
-- queue figures (count by state, oldest pending) without scanning the whole table.
CREATE INDEX deliveries_received ON deliveries (received_at);
CREATE INDEX jobs_finished ON jobs (state, updated_at);
CREATE INDEX jobs_pending_age ON jobs (state, created_at);
