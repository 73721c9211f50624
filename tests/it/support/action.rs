//! `action.yml` read the way actions/runner reads it, and a Docker action stage started the way
//! the runner starts one (../shared/reference/distribution.md §1). Tests take entrypoints,
//! args, env and input defaults from the file itself, so the file and the tests cannot drift.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use serde::Deserialize;

use super::{CURRENTS_KEY, GITHUB_TOKEN};

/// The parts of action metadata the runner acts on. Unknown keys under `runs` are refused, so
/// a misspelt `post-entrypoint` fails here rather than being ignored on every runner.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionMetadata {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub inputs: BTreeMap<String, Input>,
    #[serde(default)]
    pub outputs: BTreeMap<String, serde_yaml_ng::Value>,
    pub runs: Runs,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub description: String,
    #[serde(default)]
    pub required: bool,
    pub default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Runs {
    pub using: String,
    pub image: Option<String>,
    pub pre_entrypoint: Option<String>,
    pub pre_if: Option<String>,
    pub entrypoint: Option<String>,
    pub post_entrypoint: Option<String>,
    pub post_if: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub steps: Vec<serde_yaml_ng::Value>,
}

/// The repository's `action.yml` (or another metadata file), parsed strictly.
pub fn action_metadata(relative: &str) -> ActionMetadata {
    action_metadata_at(&Path::new(env!("CARGO_MANIFEST_DIR")).join(relative))
}

/// A metadata file anywhere, parsed strictly.
pub fn action_metadata_at(path: &Path) -> ActionMetadata {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

impl ActionMetadata {
    /// Evaluates one `runs.args`/`runs.env` value the way the runner does: `${{ inputs.NAME }}`
    /// becomes the input's value (given, else its default, itself evaluated). Defaults may use
    /// the `github` and `job` contexts, of which the tests know `github.token` and
    /// `job.check_run_id`. Any other expression fails the test, so a new one cannot slip in
    /// untested.
    pub fn evaluate(&self, template: &str, given: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .unwrap_or_else(|| panic!("unclosed expression in {template:?}"))
                + start;
            let expression = rest[start + 3..end].trim();
            out.push_str(&self.value_of(expression, given));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn value_of(&self, expression: &str, given: &BTreeMap<String, String>) -> String {
        if expression == "github.token" {
            return GITHUB_TOKEN.to_owned();
        }
        if expression == "job.check_run_id" {
            return JOB_CHECK_RUN_ID.to_string();
        }
        let Some(name) = expression.strip_prefix("inputs.") else {
            panic!("the runner emulation does not know the expression `{expression}`");
        };
        let input = self
            .inputs
            .get(name)
            .unwrap_or_else(|| panic!("`inputs.{name}` is not a declared input"));
        match given.get(name) {
            Some(value) => value.clone(),
            None => input
                .default
                .as_deref()
                .map(|default| self.evaluate(default, given))
                .unwrap_or_default(),
        }
    }

    /// The value of every input, as the runner passes it in `INPUT_<NAME>` (upper-cased,
    /// hyphens kept): given values, else evaluated defaults, else empty.
    pub fn input_values(&self, given: &BTreeMap<String, String>) -> Vec<(String, String)> {
        self.inputs
            .keys()
            .map(|name| {
                (
                    format!("INPUT_{}", name.to_uppercase()),
                    self.value_of(&format!("inputs.{name}"), given),
                )
            })
            .collect()
    }
}

/// The emulated job's own check run id (`job.check_run_id`); the fake GitHub knows it.
pub const JOB_CHECK_RUN_ID: u64 = 4242;

/// The stages of a Docker action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Pre,
    Main,
    Post,
}

/// One job on an emulated runner: the directories the runner mounts into an action's
/// container, and the workflow's environment.
pub struct RunnerJob {
    pub dir: tempfile::TempDir,
    pub image: String,
    pub metadata: ActionMetadata,
    /// What the runner itself sets (`GITHUB_*`, `HOME`, `CI`, ...).
    pub runner_env: Vec<(String, String)>,
}

/// The container paths of the runner's mounts.
const WORKSPACE: &str = "/github/workspace";
const FILE_COMMANDS: &str = "/github/file_commands";

impl RunnerJob {
    /// A `pull_request` job of `acme/webapp`, run 9876543210 attempt 1, whose GitHub API is
    /// `github_api_url`. The image comes from `CURRENTS_BRIDGE_IMAGE` (.ci/run builds it with
    /// scripts/build-image.sh); the test fails without it.
    pub fn new(github_api_url: &str) -> Self {
        let image = std::env::var("CURRENTS_BRIDGE_IMAGE")
            .ok()
            .filter(|image| !image.is_empty())
            .expect("CURRENTS_BRIDGE_IMAGE must name the image of scripts/build-image.sh");
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "workflow", "file_commands", "workspace"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("workflow/event.json"),
            r#"{"pull_request":{"number":7,"head":{"sha":"prhead0000000000000000000000000000000001"}}}"#,
        )
        .unwrap();
        for file in [
            "set_output",
            "step_summary",
            "save_state",
            "set_env",
            "add_path",
        ] {
            std::fs::write(dir.path().join("file_commands").join(file), "").unwrap();
        }
        let file_command = |name: &str| format!("{FILE_COMMANDS}/{name}");
        let runner_env = [
            ("HOME", "/github/home".to_owned()),
            ("CI", "true".to_owned()),
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_REPOSITORY", "acme/webapp".to_owned()),
            ("GITHUB_RUN_ID", "9876543210".to_owned()),
            ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
            (
                "GITHUB_SHA",
                "merge000000000000000000000000000000000002".to_owned(),
            ),
            ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
            (
                "GITHUB_EVENT_PATH",
                "/github/workflow/event.json".to_owned(),
            ),
            ("GITHUB_WORKSPACE", WORKSPACE.to_owned()),
            ("GITHUB_OUTPUT", file_command("set_output")),
            ("GITHUB_STEP_SUMMARY", file_command("step_summary")),
            ("GITHUB_STATE", file_command("save_state")),
            ("GITHUB_ENV", file_command("set_env")),
            ("GITHUB_PATH", file_command("add_path")),
            ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
            ("GITHUB_API_URL", github_api_url.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            dir,
            image,
            metadata: action_metadata("action.yml"),
            runner_env,
        }
    }

    /// `docker run` for one stage, as the runner builds it: the entrypoint overridden with the
    /// stage's executable from action.yml, the same `runs.args` at every stage, every `runs.env`
    /// entry (empty for unset inputs) and every `INPUT_*`, the working directory and mounts under
    /// `/github`, and host networking so the container reaches fakes on 127.0.0.1. Values travel
    /// in the process environment (`-e NAME`), never on the command line.
    pub fn docker_run(
        &self,
        stage: Stage,
        container: &str,
        given: &BTreeMap<String, String>,
    ) -> tokio::process::Command {
        let runs = &self.metadata.runs;
        assert_eq!(runs.using, "docker", "action.yml is a Docker action");
        let entrypoint = match stage {
            Stage::Pre => runs.pre_entrypoint.as_deref(),
            Stage::Main => runs.entrypoint.as_deref(),
            Stage::Post => runs.post_entrypoint.as_deref(),
        }
        .unwrap_or_else(|| panic!("action.yml has no entrypoint for {stage:?}"));
        let mut env: Vec<(String, String)> = self.runner_env.clone();
        env.extend(self.metadata.input_values(given));
        for (name, template) in &runs.env {
            // The runner adds runs.env only where the name is not set yet.
            if !env.iter().any(|(k, _)| k == name) {
                env.push((name.clone(), self.metadata.evaluate(template, given)));
            }
        }
        let mut command = tokio::process::Command::new("docker");
        command.args(["run", "--rm", "--name", container, "--network", "host"]);
        command.args(["--workdir", WORKSPACE]);
        for (name, _) in &env {
            command.args(["-e", name]);
        }
        for (host, inside) in [
            ("home", "/github/home"),
            ("workflow", "/github/workflow"),
            ("file_commands", FILE_COMMANDS),
            ("workspace", WORKSPACE),
        ] {
            command
                .arg("-v")
                .arg(format!("{}:{inside}", self.dir.path().join(host).display()));
        }
        command.args(["--entrypoint", entrypoint, &self.image]);
        for arg in &runs.args {
            command.arg(self.metadata.evaluate(arg, given));
        }
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// A file the container wrote through the runner's file-command mount.
    pub fn file_command(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("file_commands").join(name))
            .unwrap_or_default()
    }

    /// A step output, as the runner would read it from `GITHUB_OUTPUT`.
    pub fn output(&self, name: &str) -> Option<String> {
        self.file_command("set_output")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }
}

/// Inputs as a workflow's `with:` gives them.
pub fn with(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The api key a workflow would pass from its secrets.
pub fn api_key() -> &'static str {
    CURRENTS_KEY
}
