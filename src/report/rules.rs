//! Whether a Currents Action quarantines a failed test: its conditions evaluated the way the
//! Playwright reporter evaluates them (reference `currents-tests-actions.md` §6.3): `eq` on
//! titles, files and git fields is a substring or a regular expression, on ids and tags an
//! exact match; list fields (`titlePath`, `error_message`, `tag`) match element by element. A
//! condition this cannot evaluate (an `annotation`, a date range, an unknown type or
//! operator) makes the rule not apply, with a debug line saying why.

use std::time::SystemTime;

use regex::Regex;
use serde_json::Value;

use crate::currents::models::{Action, Commit, Condition};

/// A failed test as the reporter sees it when it applies rules.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The framework's test id (Playwright's `testInfo.testId`).
    pub test_id: &'a str,
    pub spec: &'a str,
    /// Describe path and test name.
    pub title: &'a [String],
    /// The Playwright project (Currents' group).
    pub project: &'a str,
    /// Tags, with or without `@`.
    pub tags: &'a [String],
    /// Error messages, without ANSI codes.
    pub errors: &'a [String],
    pub commit: Option<&'a Commit>,
}

/// Whether `action` quarantines or skips `subject` now: active, not expired, and its matcher
/// holds.
pub fn quarantines(action: &Action, subject: &Subject<'_>, now: SystemTime) -> bool {
    if !action.quarantines() || !action.is_active() || expired(action, now) {
        return false;
    }
    let Some(matcher) = &action.matcher else {
        return false;
    };
    if matcher.cond.is_empty() {
        return false;
    }
    let results: Result<Vec<bool>, String> =
        matcher.cond.iter().map(|c| holds(c, subject)).collect();
    match results {
        Ok(results) if matcher.op.eq_ignore_ascii_case("or") => results.contains(&true),
        Ok(results) if matcher.op.eq_ignore_ascii_case("and") => !results.contains(&false),
        Ok(_) => unevaluable(action, &format!("matcher op {:?}", matcher.op)),
        Err(why) => unevaluable(action, &why),
    }
}

fn unevaluable(action: &Action, why: &str) -> bool {
    tracing::debug!(
        action = %crate::log_safe::LogSafe(action.action_id.as_str()),
        why = %crate::log_safe::LogSafe(why),
        "a Currents Action is not applied: a condition cannot be evaluated here"
    );
    false
}

fn expired(action: &Action, now: SystemTime) -> bool {
    action
        .expires_after
        .as_deref()
        .and_then(|at| humantime::parse_rfc3339_weak(at.trim_end_matches('Z')).ok())
        .is_some_and(|at| at <= now)
}

/// What a condition compares with.
enum Input {
    /// One value compared exactly (`testId`, `project`).
    Exact(String),
    /// One text: substring or regular expression.
    Text(String),
    /// Several values, each compared exactly (`tag`) or as text.
    List { items: Vec<String>, exact: bool },
}

/// A condition's value: text, or the reporter's `RegexPattern`.
enum Pattern {
    Text(String),
    Regex(Regex),
}

fn input(kind: &str, s: &Subject<'_>) -> Result<Input, String> {
    let git = |field: fn(&Commit) -> Option<&String>| {
        Input::Text(s.commit.and_then(field).cloned().unwrap_or_default())
    };
    Ok(match kind {
        "testId" => Input::Exact(s.test_id.to_owned()),
        "project" => Input::Exact(s.project.to_owned()),
        "title" => Input::Text(s.title.last().cloned().unwrap_or_default()),
        "file" => Input::Text(s.spec.to_owned()),
        "git_branch" => git(|c| c.branch.as_ref()),
        "git_authorName" => git(|c| c.author_name.as_ref()),
        "git_authorEmail" => git(|c| c.author_email.as_ref()),
        "git_remoteOrigin" => git(|c| c.remote_origin.as_ref()),
        "git_message" => git(|c| c.message.as_ref()),
        "titlePath" => Input::List {
            items: std::iter::once(s.spec.to_owned())
                .chain(s.title.iter().cloned())
                .collect(),
            exact: false,
        },
        "error_message" => Input::List {
            items: s.errors.to_vec(),
            exact: false,
        },
        "tag" => Input::List {
            items: s.tags.iter().map(|t| untagged(t).to_owned()).collect(),
            exact: true,
        },
        other => return Err(format!("condition type {other:?}")),
    })
}

fn untagged(tag: &str) -> &str {
    tag.strip_prefix('@').unwrap_or(tag)
}

fn patterns(value: &Value) -> Result<Vec<Pattern>, String> {
    let one = |v: &Value| -> Result<Pattern, String> {
        match v {
            Value::String(s) => Ok(Pattern::Text(s.clone())),
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("RegexPattern") => {
                let pattern = o.get("pattern").and_then(Value::as_str).unwrap_or_default();
                let flags = o.get("flags").and_then(Value::as_str).unwrap_or_default();
                let prefix = if flags.contains('i') { "(?i)" } else { "" };
                regex::RegexBuilder::new(&format!("{prefix}{pattern}"))
                    .size_limit(1 << 20)
                    .build()
                    .map(Pattern::Regex)
                    .map_err(|_| "a regular expression this engine does not read".to_owned())
            }
            other => Err(format!("a value of this shape: {}", shape(other))),
        }
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn shape(value: &Value) -> &'static str {
    match value {
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("DateRange") => {
            "DateRange"
        }
        Value::Object(_) => "object",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        _ => "other",
    }
}

/// Whether one value matches one pattern.
fn matches(item: &str, pattern: &Pattern, exact: bool) -> Result<bool, String> {
    match (pattern, exact) {
        (Pattern::Text(text), true) => Ok(untagged(item) == untagged(text)),
        (Pattern::Text(text), false) => Ok(item.contains(text.as_str())),
        (Pattern::Regex(_), true) => Err("a regular expression on an exact field".into()),
        (Pattern::Regex(regex), false) => Ok(regex.is_match(item)),
    }
}

fn holds(condition: &Condition, subject: &Subject<'_>) -> Result<bool, String> {
    let input = input(&condition.kind, subject)?;
    let patterns = patterns(&condition.value)?;
    let op = condition.op.as_str();
    match input {
        Input::Exact(value) => scalar(op, &value, &patterns, true),
        Input::Text(value) => scalar(op, &value, &patterns, false),
        Input::List { items, exact } => list(op, &items, &patterns, exact),
    }
}

/// Any of `patterns` matches `value`.
fn any_matches(value: &str, patterns: &[Pattern], exact: bool) -> Result<bool, String> {
    for pattern in patterns {
        if matches(value, pattern, exact)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn scalar(op: &str, value: &str, patterns: &[Pattern], exact: bool) -> Result<bool, String> {
    Ok(match op {
        "eq" | "in" => any_matches(value, patterns, exact)?,
        "neq" | "notIn" => !any_matches(value, patterns, exact)?,
        "any" => !value.is_empty(),
        "empty" => value.is_empty(),
        other => return Err(format!("operator {other:?} on a single value")),
    })
}

fn list(op: &str, items: &[String], patterns: &[Pattern], exact: bool) -> Result<bool, String> {
    // Which patterns some item matches.
    let mut found = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        let mut hit = false;
        for item in items {
            if matches(item, pattern, exact)? {
                hit = true;
                break;
            }
        }
        found.push(hit);
    }
    let some = found.contains(&true);
    let all = !found.is_empty() && !found.contains(&false);
    Ok(match op {
        "eq" | "in" | "inc" => some,
        "neq" | "notIn" | "notInc" => !some,
        "incAll" => all,
        "notIncAll" => !all,
        "any" => !items.is_empty(),
        "empty" => items.is_empty(),
        other => return Err(format!("operator {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(op: &str, cond: Value) -> Action {
        serde_json::from_value(json!({
            "actionId": "a1", "name": "q", "action": [{"op": "quarantine"}],
            "matcher": {"op": op, "cond": cond}, "status": "active",
            "expiresAfter": "2999-01-01T00:00:00.000Z"
        }))
        .unwrap()
    }

    fn subject_holds(action: &Action) -> bool {
        let title = vec!["checkout".to_owned(), "applies a 10% coupon".to_owned()];
        let tags = vec!["@coupons".to_owned()];
        let errors = vec!["Error: expect(locator).toHaveText".to_owned()];
        let commit: Commit = serde_json::from_value(json!({
            "branch": "feat/checkout-coupons", "authorName": "Jane", "message": "feat: coupons"
        }))
        .unwrap();
        let subject = Subject {
            test_id: "9d31-b29c",
            spec: "tests/checkout.spec.ts",
            title: &title,
            project: "chromium",
            tags: &tags,
            errors: &errors,
            commit: Some(&commit),
        };
        quarantines(action, &subject, SystemTime::now())
    }

    fn cond(kind: &str, op: &str, value: Value) -> Value {
        json!([{"type": kind, "op": op, "value": value}])
    }

    #[test]
    fn conditions_follow_the_reporters_semantics() {
        let cases = [
            (cond("testId", "eq", json!("9d31-b29c")), true),
            (cond("testId", "eq", json!("9d31")), false),
            (cond("title", "eq", json!("coupon")), true),
            (cond("title", "eq", json!("checkout")), false),
            (cond("file", "in", json!(["cart", "checkout"])), true),
            (cond("file", "notIn", json!(["cart"])), true),
            (cond("git_branch", "eq", json!("main")), false),
            (cond("git_branch", "neq", json!("main")), true),
            (cond("git_authorEmail", "empty", Value::Null), true),
            (cond("git_message", "any", Value::Null), true),
            (
                cond(
                    "titlePath",
                    "incAll",
                    json!(["checkout", "applies a 10% coupon"]),
                ),
                true,
            ),
            (
                cond("titlePath", "incAll", json!(["checkout", "refunds"])),
                false,
            ),
            (
                cond("titlePath", "notIncAll", json!(["checkout", "refunds"])),
                true,
            ),
            (
                cond("titlePath", "inc", json!(["refunds", "checkout"])),
                true,
            ),
            (cond("titlePath", "notInc", json!(["refunds"])), true),
            (cond("tag", "eq", json!("coupons")), true),
            (cond("tag", "in", json!(["@coupons"])), true),
            (cond("tag", "eq", json!("coupon")), false),
            (cond("error_message", "inc", json!(["toHaveText"])), true),
            (cond("project", "eq", json!("chromium")), true),
            (
                cond(
                    "title",
                    "eq",
                    json!([{"type": "RegexPattern", "pattern": "^applies .* coupon$"}]),
                ),
                true,
            ),
        ];
        for (cond, expected) in cases {
            assert_eq!(
                subject_holds(&action("AND", cond.clone())),
                expected,
                "{cond}"
            );
        }
    }

    #[test]
    fn and_or_and_what_cannot_be_evaluated() {
        let both = json!([
            {"type": "testId", "op": "eq", "value": "9d31-b29c"},
            {"type": "git_branch", "op": "in", "value": ["main"]}
        ]);
        assert!(!subject_holds(&action("AND", both.clone())));
        assert!(subject_holds(&action("OR", both)));
        // An annotation condition, a date range, an unknown operator: the rule does not apply,
        // even under OR with a condition that holds.
        for unknown in [
            json!({"type": "annotation", "op": "eq", "value": "x"}),
            json!({"type": "title", "op": "eq", "value": [{"type": "DateRange", "start": "2026-01-01"}]}),
            json!({"type": "title", "op": "incAll", "value": ["x"]}),
            json!({"type": "testId", "op": "eq", "value": [{"type": "RegexPattern", "pattern": "9d"}]}),
        ] {
            let cond = json!([{"type": "testId", "op": "eq", "value": "9d31-b29c"}, unknown]);
            assert!(!subject_holds(&action("OR", cond.clone())), "{cond}");
        }
        assert!(
            !subject_holds(&action("AND", json!([]))),
            "no condition, no match"
        );
    }

    #[test]
    fn inactive_expired_and_tagging_rules_do_not_quarantine() {
        let matching = cond("testId", "eq", json!("9d31-b29c"));
        let mut rule = action("AND", matching.clone());
        assert!(subject_holds(&rule));
        rule.expires_after = Some("2020-01-01T00:00:00.000Z".into());
        assert!(!subject_holds(&rule), "expired");
        let mut rule = action("AND", matching.clone());
        rule.status = Some("disabled".into());
        assert!(!subject_holds(&rule), "disabled");
        let mut rule = action("AND", matching);
        rule.action =
            serde_json::from_value(json!([{"op": "tag", "details": {"tags": ["x"]}}])).unwrap();
        assert!(!subject_holds(&rule), "a tag rule");
    }
}
