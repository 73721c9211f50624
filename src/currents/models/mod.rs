//! Models of the Currents API responses, one file per resource: runs (`run.rs`), instances and
//! their tests (`instance.rs`), test history (`history.rs`), Actions (`rules.rs`), and the rest
//! (cancels, projects, webhooks, `misc.rs`); the shared lenient pieces here.
//!
//! Sources disagree on casing and field names (reference `currents-api.md` §4), and the API
//! adds fields over time, so every model is lenient: unknown fields are ignored, everything but
//! the ids is optional or defaulted, `null` reads as the default, enums accept any casing and
//! keep unknown values, and Cypress and Playwright shapes share one type with optional fields.
//! Structs whose every field may be absent say so once, with a container-level
//! `#[serde(default)]` (their `Default` fills what is missing); in the others an `Option` field
//! needs nothing (serde reads a missing one as `None`) and a field that may be absent says
//! `default`. `null_default` is added where `null` arrives too.

use std::fmt;

use serde::{Deserialize, Deserializer, de::DeserializeOwned};

mod history;
mod instance;
mod misc;
mod rules;
mod run;

pub use history::*;
pub use instance::*;
pub use misc::*;
pub use rules::*;
pub use run::*;

crate::ids::id_type!(
    /// A Currents run id (`runId`), 16 or 32 hex characters.
    RunId(String)
);
crate::ids::id_type!(
    /// A Currents project id (`projectId`), e.g. `Xk9Pq2`.
    ProjectId(String)
);
crate::ids::id_type!(
    /// One spec file's execution (`instanceId`): a UUID for Cypress, 16 characters for Playwright.
    InstanceId(String)
);

/// Declares an enum that reads any casing and separator (`IN_PROGRESS`, `inProgress`,
/// `in-progress`) and keeps unknown values in `Other`.
macro_rules! lenient_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $canonical:literal [$($alias:literal),*]),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// Parses leniently: case, `_` and `-` are ignored.
            pub fn parse(raw: &str) -> Self {
                let key: String = raw
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                match key.as_str() {
                    $($($alias)|* => Self::$variant,)+
                    _ => Self::Other(raw.to_owned()),
                }
            }

            /// The documented (upper-case) spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $canonical,)+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Option::<String>::deserialize(d)?.map_or_else(Self::default, |raw| Self::parse(&raw)))
            }
        }
    };
}

lenient_enum!(
    /// Whether a run still receives results. The docs spell it `COMPLETE`; the OpenAPI document
    /// `complete`/`incomplete`/`cancelled`/`timedOut`.
    CompletionState {
        Complete => "COMPLETE" ["complete", "completed"],
        InProgress => "IN_PROGRESS" ["inprogress", "incomplete", "running"],
        Canceled => "CANCELED" ["canceled", "cancelled"],
        Timeout => "TIMEOUT" ["timeout", "timedout"],
    }
);

lenient_enum!(
    /// The result of a run so far.
    RunStatus {
        Passed => "PASSED" ["passed"],
        Failed => "FAILED" ["failed"],
        Running => "RUNNING" ["running"],
        Failing => "FAILING" ["failing"],
        Canceled => "CANCELED" ["canceled", "cancelled"],
        TimedOut => "TIMEOUT" ["timeout", "timedout"],
    }
);

lenient_enum!(
    /// The state of a test or of one attempt.
    TestState {
        Passed => "passed" ["passed"],
        Failed => "failed" ["failed"],
        Pending => "pending" ["pending"],
        Skipped => "skipped" ["skipped"],
    }
);

/// Reads `null` as the type's default, for fields that some responses send as `null`.
pub(super) fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A test title: the describe path plus the test name. Accepts a single string too.
pub(super) fn title_path<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Title {
        Path(Vec<String>),
        One(String),
    }
    Ok(match Option::<Title>::deserialize(d)? {
        Some(Title::Path(path)) => path,
        Some(Title::One(one)) => vec![one],
        None => Vec::new(),
    })
}

/// The `{status, data}` success envelope of every Currents response.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
}

/// Reads a Currents response body that is either the `{status, data}` envelope or the bare
/// `data` object (as `--from-dir` files may be saved).
pub fn from_envelope_or_bare<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let data = match value {
        serde_json::Value::Object(mut map)
            if map.contains_key("data") && map.contains_key("status") =>
        {
            map.remove("data").unwrap_or_default()
        }
        other => other,
    };
    serde_json::from_value(data)
}

/// The error envelope: `{"status":"FAILED","error":"…"}`; the director sends `message` instead.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApiError {
    pub status: Option<String>,
    #[serde(alias = "message")]
    pub error: Option<String>,
    pub code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_every_casing() {
        for raw in ["COMPLETE", "complete", "Complete", "completed"] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::Complete,
                "{raw}"
            );
        }
        for raw in [
            "IN_PROGRESS",
            "in_progress",
            "inProgress",
            "in-progress",
            "incomplete",
        ] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::InProgress,
                "{raw}"
            );
        }
        for raw in ["CANCELED", "cancelled", "Cancelled"] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::Canceled,
                "{raw}"
            );
        }
        for raw in ["TIMEOUT", "timedOut", "timed_out"] {
            assert_eq!(
                CompletionState::parse(raw),
                CompletionState::Timeout,
                "{raw}"
            );
        }
        assert_eq!(RunStatus::parse("passed"), RunStatus::Passed);
        assert_eq!(RunStatus::parse("FAILING"), RunStatus::Failing);
        assert_eq!(TestState::parse("FAILED"), TestState::Failed);
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let state = CompletionState::parse("ARCHIVED");
        assert_eq!(state, CompletionState::Other("ARCHIVED".into()));
        assert_eq!(state.as_str(), "ARCHIVED");
        assert_eq!(CompletionState::InProgress.as_str(), "IN_PROGRESS");
    }

    #[test]
    fn a_minimal_run_parses() {
        let run: Run =
            serde_json::from_str(r#"{"runId":"r1","groups":null,"specs":null,"status":null}"#)
                .unwrap();
        assert_eq!(run.run_id.as_str(), "r1");
        assert!(run.specs.is_empty());
        assert_eq!(run.completion_state, CompletionState::Other(String::new()));
    }

    #[test]
    fn test_state_falls_back_to_the_last_attempt() {
        let test: Test = serde_json::from_str(
            r#"{"testId":"t","title":"one title","attempts":[{"state":"failed"},{"state":"passed"}]}"#,
        )
        .unwrap();
        assert_eq!(test.title, vec!["one title".to_string()]);
        assert_eq!(test.final_state(), Some(&TestState::Passed));
        assert!(test.is_flaky());
        assert!(!test.is_failed());
    }

    #[test]
    fn cancellation_spellings() {
        let docs: Cancellation =
            serde_json::from_str(r#"{"actor":"api:k","canceledAt":"t1"}"#).unwrap();
        let oas: Cancellation =
            serde_json::from_str(r#"{"cancelledBy":"api:k","cancelledAt":"t1"}"#).unwrap();
        assert_eq!(docs.actor, oas.actor);
        assert_eq!(docs.canceled_at, oas.canceled_at);
    }

    #[test]
    fn cancel_request_ids_are_strings_on_the_wire() {
        let request: CancelByGithubRequest =
            serde_json::from_str(r#"{"githubRunId":45166321,"githubRunAttempt":1}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"githubRunId":"45166321","githubRunAttempt":"1"}"#
        );
    }

    #[test]
    fn envelope_or_bare() {
        let wrapped: Run =
            from_envelope_or_bare(br#"{"status":"OK","data":{"runId":"a"}}"#).unwrap();
        let bare: Run = from_envelope_or_bare(br#"{"runId":"b"}"#).unwrap();
        assert_eq!((wrapped.run_id.as_str(), bare.run_id.as_str()), ("a", "b"));
    }
}
