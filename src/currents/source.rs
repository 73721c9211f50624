//! Where runs and instances come from: the Currents API, or a directory of saved responses
//! (`--from-dir`). Waiting and fetching ([`super::wait`]) are written once against
//! [`RunSource`], so the report step and the relay call the same code whatever the source.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::client::CurrentsClient;
use super::error::CurrentsError;
use super::models::{Instance, InstanceId, ProjectId, Run, RunId, from_envelope_or_bare};
use crate::ci_build_id::CiBuildId;

/// A failed read from a [`RunSource`].
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The API answered with an error or not at all.
    #[error(transparent)]
    Api(#[from] CurrentsError),
    /// A saved file is missing.
    #[error("{} is missing", path.display())]
    Missing { path: PathBuf },
    /// A saved file cannot be read, or is not what it should be. The caller's input is wrong,
    /// so this is never papered over.
    #[error("{message}")]
    Invalid { message: String },
}

impl SourceError {
    /// Whether the report can go on without this piece (it then lists the spec without test
    /// detail): a failed API call or a missing file, but not a file that is there and wrong.
    pub fn degrades(&self) -> bool {
        !matches!(self, Self::Invalid { .. })
    }
}

/// Reads runs and instances.
pub trait RunSource: Sync {
    /// The run recorded with this ciBuildId, or `None` when there is none (yet).
    fn find_run(
        &self,
        project: &ProjectId,
        ci_build_id: &CiBuildId,
    ) -> impl Future<Output = Result<Option<Run>, SourceError>> + Send;

    fn get_run(&self, run_id: &RunId) -> impl Future<Output = Result<Run, SourceError>> + Send;

    fn get_instance(
        &self,
        instance_id: &InstanceId,
    ) -> impl Future<Output = Result<Instance, SourceError>> + Send;
}

impl RunSource for CurrentsClient {
    async fn find_run(
        &self,
        project: &ProjectId,
        ci_build_id: &CiBuildId,
    ) -> Result<Option<Run>, SourceError> {
        Ok(CurrentsClient::find_run(self, project, ci_build_id).await?)
    }

    async fn get_run(&self, run_id: &RunId) -> Result<Run, SourceError> {
        Ok(CurrentsClient::get_run(self, run_id).await?)
    }

    async fn get_instance(&self, instance_id: &InstanceId) -> Result<Instance, SourceError> {
        Ok(CurrentsClient::get_instance(self, instance_id).await?)
    }
}

/// `--from-dir DIR`: `DIR/run.json` and `DIR/instances/<instanceId>.json`, each the API's
/// response with its `{status, data}` envelope or the bare `data` object.
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: PathBuf,
}

impl DirSource {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `run.json`, whatever its id: the directory holds one run.
    pub fn run(&self) -> Result<Run, SourceError> {
        read_json(&self.dir.join("run.json"), "a Currents run")
    }
}

impl RunSource for DirSource {
    async fn find_run(&self, _: &ProjectId, _: &CiBuildId) -> Result<Option<Run>, SourceError> {
        self.run().map(Some)
    }

    async fn get_run(&self, _: &RunId) -> Result<Run, SourceError> {
        self.run()
    }

    async fn get_instance(&self, instance_id: &InstanceId) -> Result<Instance, SourceError> {
        // The id comes from run.json, which may come from anywhere: it names a file in
        // instances/ and nothing else (no `..`, no separators, no absolute paths).
        let id = instance_id.as_str();
        let plain = !id.is_empty()
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !plain {
            return Err(SourceError::Invalid {
                message: format!(
                    "run.json names an instance id that is not a plain file name: {:?}",
                    crate::http::one_line(id, 80)
                ),
            });
        }
        let path = self.dir.join("instances").join(format!("{id}.json"));
        if !path.exists() {
            return Err(SourceError::Missing { path });
        }
        read_json(&path, "a Currents instance")
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, SourceError> {
    let bytes = std::fs::read(path).map_err(|e| SourceError::Invalid {
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    from_envelope_or_bare(&bytes).map_err(|e| SourceError::Invalid {
        message: format!("{} is not {what}: {e}", path.display()),
    })
}
