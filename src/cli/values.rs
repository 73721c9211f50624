//! Typed parsers of flag and environment values. Each keeps the rule that an empty value means
//! unset, names the flag and its variable in its error, and never echoes a secret.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// A usage or configuration error (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

pub(super) fn bad(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// `Some(trimmed)` unless empty.
pub(super) fn set(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub(super) fn parse_bool(
    name: &str,
    value: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match set(value).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(bad(format!("{name} must be true or false, not {other:?}"))),
    }
}

/// The longest duration accepted: longer ones are surely typos, and adding them to a clock
/// would overflow it.
const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// `90s`, `10m`, `1h 30m`, up to ten years.
pub(super) fn parse_duration(
    name: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(v) = set(value) else {
        return Ok(default);
    };
    let duration = humantime::parse_duration(&v).map_err(|e| {
        bad(format!(
            "{name} must be a duration such as 10m or 30s, not {v:?} ({e})"
        ))
    })?;
    if duration > MAX_DURATION {
        return Err(bad(format!("{name} must be at most ten years, not {v:?}")));
    }
    Ok(duration)
}

/// An http(s) URL. Errors show the value with any `user:password@` taken out.
pub(super) fn parse_url(
    name: &str,
    value: Option<String>,
    default: &str,
) -> Result<Url, ConfigError> {
    let raw = set(value).unwrap_or_else(|| default.to_owned());
    let shown = redact_userinfo(&raw);
    let url = Url::parse(&raw).map_err(|e| {
        bad(format!(
            "{name} must be an http(s) URL, not {shown:?} ({e})"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("{name} must be an http(s) URL, not {shown:?}")));
    }
    Ok(url)
}

/// `scheme://user:password@host/…` → `scheme://***@host/…`; anything else unchanged. Works on
/// text that does not parse as a URL, since that is when it is shown.
pub(super) fn redact_userinfo(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = raw[authority_start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| authority_start + i);
    match raw[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***{}",
            &raw[..authority_start],
            &raw[authority_start + at..]
        ),
        None => raw.to_owned(),
    }
}

pub(super) fn secret(value: Option<String>) -> Option<SecretString> {
    set(value).map(SecretString::from)
}

/// Parses `5MiB`, `512KiB`, `1MB`, `1048576`.
pub(super) fn parse_size(
    name: &str,
    value: Option<String>,
    default: usize,
) -> Result<usize, ConfigError> {
    let Some(raw) = set(value) else {
        return Ok(default);
    };
    let lower = raw.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let factor = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1_024,
        "m" | "mb" => 1_000_000,
        "mib" => 1_048_576,
        _ => 0,
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            bad(format!(
                "{name} must be a size such as 5MiB or 1048576, not {raw:?}"
            ))
        })
}

/// `--media-secret`: long enough that a link cannot be forged by guessing.
pub(super) fn media_secret(value: Option<String>) -> Result<Option<SecretString>, ConfigError> {
    match secret(value) {
        Some(s) if s.expose_secret().len() < 16 => Err(bad(
            "--media-secret (CURRENTS_MEDIA_SECRET) must be at least 16 characters; generate one with `openssl rand -hex 32`",
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_show_their_credentials() {
        let error = parse_url("--api-url", Some("ftp://u:PASSWORD@h/x".into()), "").unwrap_err();
        assert!(!error.to_string().contains("PASSWORD"), "{error}");
        assert!(error.to_string().contains("ftp://***@h/x"), "{error}");
        let error = parse_url("--api-url", Some("http://u:PASSWORD@[::1".into()), "").unwrap_err();
        assert!(!error.to_string().contains("PASSWORD"), "{error}");
        assert_eq!(redact_userinfo("https://h/a@b"), "https://h/a@b");
    }

    #[test]
    fn overlong_durations_are_usage_errors() {
        let error = parse_duration("--lease", Some("500000000000y".into()), Duration::ZERO);
        assert!(error.is_err());
        assert!(parse_duration("--lease", Some("3650days".into()), Duration::ZERO).is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("x", None, 7).unwrap(), 7);
        assert_eq!(
            parse_size("x", Some("5MiB".into()), 0).unwrap(),
            5 * 1024 * 1024
        );
        assert_eq!(
            parse_size("x", Some("512 KiB".into()), 0).unwrap(),
            512 * 1024
        );
        assert_eq!(parse_size("x", Some("1000".into()), 0).unwrap(), 1000);
        assert!(parse_size("x", Some("lots".into()), 0).is_err());
        assert!(parse_size("x", Some("0".into()), 0).is_err());
    }

    #[test]
    fn booleans_and_durations() {
        assert!(parse_bool("x", Some("".into()), true).unwrap());
        assert!(!parse_bool("x", Some("FALSE".into()), true).unwrap());
        assert!(parse_bool("x", Some("maybe".into()), true).is_err());
        assert_eq!(
            parse_duration("x", Some("90s".into()), Duration::ZERO).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("x", Some(" ".into()), Duration::from_secs(1)).unwrap(),
            Duration::from_secs(1)
        );
        assert!(parse_duration("x", Some("soon".into()), Duration::ZERO).is_err());
    }
}
