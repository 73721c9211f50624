//! Fetching the instances behind a run's failures, written once against [`RunSource`], and,
//! from the API, the history of the failed tests beside them: each instance's failed tests are
//! looked up as soon as it arrives, so the history adds about one round trip to the fetch, not
//! one per test.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::history::{self, Explorer, History, HistoryPlan, TestKey};
use super::models::{Instance, InstanceId, ProjectId, Run, RunId, TestResult, TestSignature};
use super::source::{RunSource, SourceError};
use super::{CurrentsClient, CurrentsError};
use crate::log_safe::Chain;

/// The instances behind a run's failures, and why any could not be had.
#[derive(Debug, Default)]
pub struct FailedInstances {
    pub instances: HashMap<InstanceId, Instance>,
    /// Specs whose instance could not be fetched, with the reason: the report lists them
    /// without test detail instead of failing.
    pub unavailable: HashMap<InstanceId, String>,
}

/// The history to read beside the instances.
pub struct HistoryLookup<'a, P> {
    pub client: &'a CurrentsClient,
    /// Where: a future, since the branch may still be being found (App mode asks GitHub for
    /// the commit's pull request meanwhile); `None` reads no history.
    pub plan: P,
    /// The most failed tests looked up, first by rank.
    pub max_lookups: usize,
}

/// No history to read.
type NoHistory<'a> = HistoryLookup<'a, std::future::Ready<Option<HistoryPlan>>>;

/// Fetches the instance of every spec with failures or flaky tests, `concurrency` at a time.
/// An instance that cannot be had degrades the report; one that is there but invalid (a bad
/// `--from-dir` file) is an error.
pub async fn fetch_failed_instances<S: RunSource>(
    source: &S,
    run: &Run,
    concurrency: usize,
) -> Result<FailedInstances, SourceError> {
    Ok(
        fetch_with_history(source, run, concurrency, None::<NoHistory<'_>>)
            .await?
            .0,
    )
}

/// [`fetch_failed_instances`], and with `lookup` the history of the failed and flaky tests on
/// its branch: the Explorer once for the failing specs, and, as each instance arrives, one
/// results page for each of its failed tests (the first [`HistoryLookup::max_lookups`] by
/// rank), `2 × concurrency` at a time. What cannot be read is said in [`History::missing`].
pub async fn fetch_with_history<S, P>(
    source: &S,
    run: &Run,
    concurrency: usize,
    lookup: Option<HistoryLookup<'_, P>>,
) -> Result<(FailedInstances, Option<History>), SourceError>
where
    S: RunSource,
    P: Future<Output = Option<HistoryPlan>>,
{
    let specs = failing_specs(run);
    let mut ids: Vec<&InstanceId> = specs.keys().collect();
    ids.sort();
    // The futures are built before they enter the stream: a closure in the stream's type
    // keeps rustc from proving the whole future `Send` for the relay's spawned jobs
    // (rust-lang/rust#102211).
    let fetches: Vec<_> = ids
        .into_iter()
        .map(|id| async move { (id.clone(), source.get_instance(id).await) })
        .collect();
    let mut instances = futures_util::stream::iter(fetches).buffer_unordered(concurrency.max(1));
    let mut fetched = FailedInstances::default();
    let Some(HistoryLookup {
        client,
        plan,
        max_lookups,
    }) = lookup
    else {
        while let Some((id, result)) = instances.next().await {
            keep(&mut fetched, id, result)?;
        }
        return Ok((fetched, None));
    };
    let prefix = history::common_prefix(specs.values().map(|(spec, _)| spec.as_str()));
    let explorer = async {
        let plan = plan.await?;
        let result = history::explorer(client, &plan, &prefix).await;
        Some((Arc::new(plan), result))
    };
    tokio::pin!(explorer);
    let mut looking = Looking::new(max_lookups);
    // Lookups in flight at once: twice the instance fetches, so that the tests queued while
    // the Explorer answers are caught up while the instances still arrive (each round of
    // instances brings a round of lookups). After a refusal (401/403) the rest ask nothing.
    let limit = tokio::sync::Semaphore::new(2 * concurrency.max(1));
    let refused = AtomicBool::new(false);
    let mut explorer_done = false;
    let mut lookups = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some((id, result)) = instances.next() => {
                if let Some(instance) = keep(&mut fetched, id.clone(), result)? {
                    looking.arrived(instance, &specs[&id]);
                }
            }
            answer = &mut explorer, if !explorer_done => {
                explorer_done = true;
                if let Some((plan, result)) = answer {
                    looking.explorer_answered(plan, result);
                }
            }
            Some((key, result)) = lookups.next() => looking.looked_up(key, result),
            else => break,
        }
        if let Some(plan) = looking.plan.clone() {
            for (key, signature) in looking.ready() {
                lookups.push(look_up(
                    client,
                    Arc::clone(&plan),
                    key,
                    signature,
                    &limit,
                    &refused,
                ));
            }
        }
    }
    Ok((fetched, looking.finish()))
}

/// The specs whose instances are fetched, by instance: the spec's path and the rank of its
/// first failed test (failed tests counted in the run's spec order).
fn failing_specs(run: &Run) -> HashMap<InstanceId, (String, usize)> {
    let mut specs = HashMap::new();
    let mut rank = 0;
    for spec in run.specs.iter().filter(|s| s.needs_details()) {
        specs
            .entry(spec.instance_id.clone())
            .or_insert_with(|| (spec.spec.clone(), rank));
        rank += spec.results.as_ref().map_or(0, |r| r.stats.failures) as usize;
    }
    specs
}

/// Keeps a fetched instance (returned for its tests' lookups), or why it could not be had.
fn keep(
    fetched: &mut FailedInstances,
    id: InstanceId,
    result: Result<Instance, SourceError>,
) -> Result<Option<&Instance>, SourceError> {
    match result {
        Ok(instance) => Ok(Some(fetched.instances.entry(id).or_insert(instance))),
        Err(e @ SourceError::Missing { .. }) => {
            fetched.unavailable.insert(id, Chain(&e).to_string());
            Ok(None)
        }
        Err(e) if e.degrades() => {
            let reason = format!("its details could not be fetched ({})", Chain(&e));
            fetched.unavailable.insert(id, reason);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The history being read, as instances and answers arrive.
struct Looking {
    max_lookups: usize,
    /// The plan, once known and the Explorer has answered.
    plan: Option<Arc<HistoryPlan>>,
    /// The Explorer's rows (`None` until it answers, or when it failed).
    explorer: Option<Explorer>,
    /// Failed tests to look up once the Explorer has answered.
    waiting: Vec<TestKey>,
    /// Every failed or flaky test seen, for the Explorer's figures.
    seen: HashSet<TestKey>,
    /// Failed tests looked up or waiting.
    queued: HashSet<TestKey>,
    not_looked_up: usize,
    failed_lookups: usize,
    first_error: Option<CurrentsError>,
    /// Started once the plan is known.
    history: Option<History>,
}

impl Looking {
    fn new(max_lookups: usize) -> Self {
        Self {
            max_lookups,
            plan: None,
            explorer: None,
            waiting: Vec::new(),
            seen: HashSet::new(),
            queued: HashSet::new(),
            not_looked_up: 0,
            failed_lookups: 0,
            first_error: None,
            history: None,
        }
    }

    /// An instance arrived: its failed tests are queued by rank, the rest counted.
    fn arrived(&mut self, instance: &Instance, (spec, first_rank): &(String, usize)) {
        let tests = instance.results.iter().flat_map(|r| &r.tests);
        let mut rank = *first_rank;
        for test in tests {
            let key = (spec.clone(), test.title.clone());
            if test.is_flaky() {
                self.seen.insert(key);
            } else if test.is_failed() {
                self.seen.insert(key.clone());
                if self.queued.contains(&key) {
                    continue;
                }
                if rank < self.max_lookups {
                    self.queued.insert(key.clone());
                    self.waiting.push(key);
                } else {
                    self.not_looked_up += 1;
                }
                rank += 1;
            }
        }
    }

    /// The plan is known and the Explorer answered: lookups may start (none when it failed:
    /// a key that cannot read the Explorer reads no results either).
    fn explorer_answered(
        &mut self,
        plan: Arc<HistoryPlan>,
        result: Result<Explorer, CurrentsError>,
    ) {
        let mut history = History {
            branch: plan.branch.clone(),
            days: plan.days,
            ..History::default()
        };
        match result {
            Ok(explorer) => {
                self.explorer = Some(explorer);
                self.plan = Some(plan);
            }
            Err(e) => history.missing.push(format!(
                "the test history on {} ({})",
                history.branch,
                Chain(&e)
            )),
        }
        self.history = Some(history);
    }

    /// The waiting tests with their Explorer signatures.
    fn ready(&mut self) -> Vec<(TestKey, Option<TestSignature>)> {
        let Some(explorer) = &self.explorer else {
            return Vec::new();
        };
        std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|key| {
                let signature = explorer.row(&key.0, &key.1).map(|r| r.signature.clone());
                (key, signature)
            })
            .collect()
    }

    fn looked_up(&mut self, key: TestKey, result: Result<Option<Vec<TestResult>>, CurrentsError>) {
        match result {
            Ok(results) => {
                if let Some(history) = &mut self.history {
                    history.tests.entry(key).or_default().results = results;
                }
            }
            Err(e) => {
                self.failed_lookups += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// The history (when a plan came), with the Explorer's figures for every test seen.
    fn finish(self) -> Option<History> {
        let mut history = self.history?;
        history.not_looked_up = self.not_looked_up;
        if let Some(explorer) = &self.explorer {
            for key in self.seen {
                if let Some(row) = explorer.row(&key.0, &key.1) {
                    history.tests.entry(key).or_default().metrics = Some(row.metrics.clone());
                }
            }
        }
        if let Some(line) = history::lookup_failures(self.failed_lookups, self.first_error.as_ref())
        {
            history.missing.push(line);
        }
        Some(history)
    }
}

/// One failed test's results, when a lookup slot is free.
async fn look_up(
    client: &CurrentsClient,
    plan: Arc<HistoryPlan>,
    key: TestKey,
    signature: Option<TestSignature>,
    limit: &tokio::sync::Semaphore,
    refused: &AtomicBool,
) -> (TestKey, Result<Option<Vec<TestResult>>, CurrentsError>) {
    let _slot = limit
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let result = history::results_of(client, &plan, &key, signature, refused).await;
    (key, result)
}

/// The latest completed run of `branch` in `project` other than `this` (a re-run of the same
/// commit may be on the branch too), with its failing specs' instances: what a run is compared
/// with. `None` when the branch has no such run.
pub async fn base_run(
    client: &CurrentsClient,
    project: &ProjectId,
    branch: &str,
    this: &RunId,
    concurrency: usize,
) -> Result<Option<(Run, FailedInstances)>, SourceError> {
    // Two, in case the newest is this very run.
    let listed = client.latest_complete_runs(project, branch, 2).await?;
    let Some(base) = listed.into_iter().find(|r| &r.run_id != this) else {
        return Ok(None);
    };
    let run = client.get_run(&base.run_id).await?;
    let failed = fetch_failed_instances(client, &run, concurrency).await?;
    Ok(Some((run, failed)))
}
