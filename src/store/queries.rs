//! Every query the store runs, built once per backend: the backend's clock expression (`{now}`)
//! and claim lock (`{lock}`) filled in. They join only constants, never input (which is always
//! bound), hence `AssertSqlSafe`.

use std::sync::Arc;

use sqlx::AssertSqlSafe;

// The job columns every query returns.
const JOB_COLUMNS: &str = "id, kind, dedupe_key, payload, repository, run_id, run_attempt, delivery_id, state, outcome, attempts, \
     next_run_at, lease_owner, lease_until, lease_generation, last_error, created_at, updated_at";

// The check-record columns a lease returns.
const CHECK_COLUMNS: &str = "repository, head_sha, check_run_id, annotations_sent, annotations_pending, completed_at IS NOT NULL AS completed, fence";

/// The queries, a table of SQL texts by what they do.
#[derive(Debug)]
pub(crate) struct Queries {
    pub(super) insert_delivery: Arc<str>,
    pub(super) replayed_body: Arc<str>,
    pub(super) insert_job: Arc<str>,
    pub(super) requeue_dead_by_key: Arc<str>,
    pub(super) requeue_finished_by_key: Arc<str>,
    pub(super) job_by_key: Arc<str>,
    pub(super) claim: Arc<str>,
    pub(super) renew: Arc<str>,
    pub(super) finish: Arc<str>,
    pub(super) reschedule: Arc<str>,
    pub(super) release: Arc<str>,
    pub(super) jobs: Arc<str>,
    pub(super) job: Arc<str>,
    pub(super) retry: Arc<str>,
    pub(super) retry_dead: Arc<str>,
    pub(super) counts: Arc<str>,
    pub(super) oldest_pending: Arc<str>,
    pub(super) prune_deliveries: Arc<str>,
    pub(super) prune_jobs: Arc<str>,
    pub(super) prune_check_runs: Arc<str>,
    pub(super) prune_redelivery_requests: Arc<str>,
    pub(super) check_insert: Arc<str>,
    pub(super) check_lock: Arc<str>,
    pub(super) check_renew: Arc<str>,
    pub(super) check_save: Arc<str>,
    pub(super) check_unlock: Arc<str>,
    pub(super) check_exists: Arc<str>,
    pub(super) check_run_of: Arc<str>,
    pub(super) checks_open: Arc<str>,
    pub(super) sweep_insert: Arc<str>,
    pub(super) sweep_lock: Arc<str>,
    pub(super) sweep_done: Arc<str>,
    pub(super) has_delivery: Arc<str>,
    pub(super) ask_redelivery: Arc<str>,
    pub(super) offers_save: Arc<str>,
    pub(super) check_of_click: Arc<str>,
    pub(super) click_claim: Arc<str>,
    pub(super) click_held: Arc<str>,
    pub(super) click_end: Arc<str>,
    pub(super) click_refuse: Arc<str>,
    pub(super) clicks: Arc<str>,
    pub(super) flag_actions_refused: Arc<str>,
    pub(super) actions_refused: Arc<str>,
}

impl Queries {
    pub(super) fn new(now: &str, claim_lock: &str) -> Self {
        let q = |text: &str| -> Arc<str> {
            text.replace("{now}", now)
                .replace("{lock}", claim_lock)
                .replace("{cols}", JOB_COLUMNS)
                .replace("{check}", CHECK_COLUMNS)
                .replace("{click}", super::clicks::click_columns())
                .into()
        };
        Self {
            insert_delivery: q(
                "INSERT INTO deliveries (hook_id, delivery_id, event, action, repository, run_id, run_attempt, body, body_digest, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {now}) \
                 ON CONFLICT (hook_id, delivery_id) DO NOTHING RETURNING id",
            ),
            replayed_body: q(
                "SELECT COUNT(*) FROM deliveries WHERE body_digest = $1 AND delivery_id <> $2",
            ),
            insert_job: q(
                "INSERT INTO jobs (dedupe_key, repository, run_id, run_attempt, delivery_id, kind, payload, state, attempts, next_run_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, {now}, {now}, {now}) \
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            ),
            requeue_dead_by_key: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, \
                 delivery_id = $2, updated_at = {now} WHERE dedupe_key = $1 AND state = 'dead' RETURNING id",
            ),
            requeue_finished_by_key: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, last_error = NULL, \
                 payload = $2, updated_at = {now} WHERE dedupe_key = $1 AND state IN ('done', 'dead') RETURNING id",
            ),
            job_by_key: q("SELECT id, state FROM jobs WHERE dedupe_key = $1"),
            // A worker never takes back its own running job: it is still working on it (its
            // lease is renewed while it works), and a claim would fence its copy out.
            claim: q(
                "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = {now} + $2, attempts = attempts + 1, \
                 lease_generation = lease_generation + 1, updated_at = {now} \
                 WHERE id IN (SELECT id FROM jobs \
                   WHERE (state = 'pending' AND next_run_at <= {now}) \
                      OR (state = 'running' AND lease_until < {now} AND COALESCE(lease_owner, '') <> $1) \
                   ORDER BY next_run_at LIMIT $3{lock}) \
                 RETURNING {cols}, {now} AS claimed_at",
            ),
            renew: q(
                "UPDATE jobs SET lease_until = {now} + $1, updated_at = {now} \
                 WHERE id = $2 AND lease_owner = $3 AND lease_generation = $4 AND state = 'running'",
            ),
            finish: q(
                "UPDATE jobs SET state = $1, outcome = $2, last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = {now} \
                 WHERE id = $4 AND lease_owner = $5 AND lease_generation = $6 AND state = 'running'",
            ),
            reschedule: q(
                "UPDATE jobs SET state = 'pending', next_run_at = {now} + $1, last_error = $2, lease_owner = NULL, lease_until = NULL, updated_at = {now} \
                 WHERE id = $3 AND lease_owner = $4 AND lease_generation = $5 AND state = 'running'",
            ),
            release: q(
                "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = {now} \
                 WHERE lease_owner = $1 AND state = 'running'",
            ),
            jobs: q(
                "SELECT {cols} FROM jobs WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2",
            ),
            job: q("SELECT {cols} FROM jobs WHERE id = $1"),
            retry: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, updated_at = {now} \
                 WHERE id = $1 AND state = 'dead'",
            ),
            retry_dead: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, updated_at = {now} \
                 WHERE state = 'dead'",
            ),
            counts: q(
                "SELECT state, COUNT(*) FROM jobs WHERE state IN ('pending', 'running', 'dead') GROUP BY state",
            ),
            oldest_pending: q("SELECT MIN(created_at), {now} FROM jobs WHERE state = 'pending'"),
            prune_deliveries: q("DELETE FROM deliveries WHERE id IN \
                 (SELECT id FROM deliveries WHERE received_at < {now} - $1 ORDER BY id LIMIT $2)"),
            prune_jobs: q("DELETE FROM jobs WHERE id IN \
                 (SELECT id FROM jobs WHERE state IN ('done', 'dry') AND updated_at < {now} - $1 ORDER BY id LIMIT $2)"),
            prune_check_runs: q("DELETE FROM check_runs WHERE currents_run_id IN \
                 (SELECT currents_run_id FROM check_runs WHERE updated_at < {now} - $1 ORDER BY updated_at LIMIT $2)"),
            prune_redelivery_requests: q("DELETE FROM redelivery_requests WHERE guid IN \
                 (SELECT guid FROM redelivery_requests WHERE asked_at < {now} - $1 ORDER BY asked_at LIMIT $2)"),
            check_insert: q(
                "INSERT INTO check_runs (currents_run_id, repository, head_sha, annotations_sent, updated_at) \
                 VALUES ($1, $2, $3, 0, {now}) ON CONFLICT (currents_run_id) DO NOTHING",
            ),
            // Re-taken by its holder too: every lease raises the fence, so whichever attempt
            // took it last is the one whose writes count.
            check_lock: q(
                "UPDATE check_runs SET lease_owner = $2, lease_until = {now} + $3, fence = fence + 1, updated_at = {now} \
                 WHERE currents_run_id = $1 AND (lease_owner IS NULL OR lease_until < {now} OR lease_owner = $2) \
                 RETURNING {check}",
            ),
            check_renew: q("UPDATE check_runs SET lease_until = {now} + $4 \
                 WHERE currents_run_id = $1 AND lease_owner = $2 AND fence = $3"),
            check_save: q(
                "UPDATE check_runs SET check_run_id = $4, annotations_sent = $5, annotations_pending = $6, \
                 completed_at = CASE WHEN $7 THEN COALESCE(completed_at, {now}) ELSE completed_at END, updated_at = {now} \
                 WHERE currents_run_id = $1 AND lease_owner = $2 AND fence = $3",
            ),
            check_unlock: q(
                "UPDATE check_runs SET lease_owner = NULL, lease_until = NULL \
                 WHERE currents_run_id = $1 AND lease_owner = $2 AND fence = $3",
            ),
            check_exists: q("SELECT COUNT(*) FROM check_runs WHERE currents_run_id = $1"),
            check_run_of: q("SELECT check_run_id FROM check_runs WHERE currents_run_id = $1"),
            checks_open: q("SELECT currents_run_id FROM check_runs \
                 WHERE completed_at IS NULL AND updated_at < {now} - $1 ORDER BY updated_at LIMIT $2"),
            sweep_insert: q("INSERT INTO sweeps (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"),
            sweep_lock: q(
                "UPDATE sweeps SET lease_owner = $2, lease_until = {now} + $3 \
                 WHERE name = $1 AND (lease_owner IS NULL OR lease_until < {now} OR lease_owner = $2) \
                 RETURNING swept_at, {now}",
            ),
            sweep_done: q(
                "UPDATE sweeps SET swept_at = $3, lease_owner = NULL, lease_until = NULL \
                 WHERE name = $1 AND lease_owner = $2",
            ),
            has_delivery: q("SELECT COUNT(*) FROM deliveries WHERE delivery_id = $1"),
            ask_redelivery: q(
                "INSERT INTO redelivery_requests (guid, asked_at) VALUES ($1, {now}) \
                 ON CONFLICT (guid) DO NOTHING RETURNING guid",
            ),
            offers_save: q(
                "UPDATE check_runs SET offers = $2, updated_at = {now} WHERE currents_run_id = $1",
            ),
            check_of_click: q(
                "SELECT currents_run_id, repository, head_sha, offers FROM check_runs WHERE check_run_id = $1",
            ),
            click_claim: q(
                "INSERT INTO check_clicks (check_run_id, button, sender, job_id, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'acting', {now}, {now}) ON CONFLICT DO NOTHING",
            ),
            click_held: q("SELECT {click} FROM check_clicks \
                 WHERE check_run_id = $1 AND button = $2 AND state IN ('acting', 'done')"),
            click_end: q(
                "UPDATE check_clicks SET state = $2, detail = $3, updated_at = {now} WHERE id = $1",
            ),
            click_refuse: q(
                "INSERT INTO check_clicks (check_run_id, button, sender, job_id, state, detail, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, 'refused', $5, {now}, {now} WHERE NOT EXISTS \
                 (SELECT 1 FROM check_clicks WHERE job_id = $4 AND button = $2 AND state = 'refused')",
            ),
            clicks: q("SELECT {click} FROM check_clicks WHERE check_run_id = $1 ORDER BY id"),
            flag_actions_refused: q(
                "INSERT INTO project_flags (project_id, actions_refused_at) VALUES ($1, {now}) \
                 ON CONFLICT (project_id) DO UPDATE SET actions_refused_at = excluded.actions_refused_at",
            ),
            actions_refused: q(
                "SELECT COUNT(*) FROM project_flags WHERE project_id = $1 AND actions_refused_at IS NOT NULL",
            ),
        }
    }
}

pub(crate) fn sql(text: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(text))
}
