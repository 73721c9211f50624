//! Currents Actions: rules that skip, quarantine or tag tests (`/actions`), evaluated by the
//! Playwright reporter. Read leniently (reference `currents-tests-actions.md` §6): condition
//! values stay JSON, since the reporter also knows regular expressions and date ranges.

use serde::{Deserialize, Serialize};

use super::*;

crate::ids::id_type!(
    /// A Currents Action (`actionId`), globally unique.
    ActionId(String)
);

/// A rule as `GET /actions` and `POST /actions` give it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub action_id: ActionId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub action: Vec<RuleAction>,
    #[serde(default)]
    pub matcher: Option<Matcher>,
    /// `active`, `disabled`, `archived` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    /// An email, or for rules made through the API the key's label.
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub expires_after: Option<String>,
}

impl Action {
    /// Whether it keeps a test's failure from counting: it quarantines or skips.
    pub fn quarantines(&self) -> bool {
        self.action
            .iter()
            .any(|a| matches!(a.op.as_str(), "quarantine" | "skip"))
    }

    /// Whether Currents says it applies (`active`; a rule without a status counts as active).
    pub fn is_active(&self) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("active"))
    }
}

/// What a rule does: `skip`, `quarantine`, or `tag` with `details.tags`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleAction {
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `{op: AND|OR, cond: [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matcher {
    pub op: String,
    #[serde(default, deserialize_with = "null_default")]
    pub cond: Vec<Condition>,
}

/// `{type, op, value}`: `value` is a string, a list, `null`, or the reporter's
/// `{type: RegexPattern, pattern}` / `DateRange` objects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub op: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// Body of `POST /actions?projectId=`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAction {
    pub name: String,
    pub description: Option<String>,
    pub action: Vec<RuleAction>,
    pub matcher: Matcher,
    pub expires_after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_list() {
        let path = format!(
            "{}/tests/data/currents/actions-list.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let actions: Vec<Action> = serde_json::from_value(body["data"].clone()).unwrap();
        assert_eq!(actions.len(), 2);
        assert!(actions[0].quarantines() && actions[0].is_active());
        assert!(!actions[1].quarantines() && !actions[1].is_active());
        let matcher = actions[0].matcher.as_ref().unwrap();
        assert_eq!(matcher.cond[0].kind, "testId");
        assert_eq!(matcher.cond[1].value, serde_json::json!(["main"]));
    }
}
