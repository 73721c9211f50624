//! What both API clients (Currents and GitHub) share about a call that failed: the reasons a
//! call gets no usable answer ([`Transport`], [`Unreadable`]), the server's explanation quoted
//! on one line ([`error_detail`]), and which failures are worth trying again
//! ([`is_transient_status`]). Each client wraps these in its own error type, which callers
//! branch on; none of them carries a URL, a header or a body beyond the quoted detail, so no
//! secret can reach a message.

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::http::ReadError;

/// The longest server explanation quoted in a message, to keep errors on one line.
pub const MAX_DETAIL_CHARS: usize = 300;

/// A request that got no answer: DNS, connect, TLS or timeout. Shown with its causes, without
/// the URL (a URL can carry credentials).
#[derive(Debug)]
pub struct Transport(reqwest::Error);

impl Transport {
    pub fn new(error: reqwest::Error) -> Self {
        Self(error.without_url())
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::http::transport_reason_of(&self.0))
    }
}

// The causes are in the text already: the chain stops here.
impl std::error::Error for Transport {}

/// An answer that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    /// The connection broke while the answer was read.
    #[error(transparent)]
    Cut(Transport),
    #[error("the answer is larger than {} MiB", crate::http::MAX_BODY_BYTES / 1024 / 1024)]
    TooLarge,
    /// Not the JSON expected. serde's message names the field and position, never a value.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// Something else about it: a pagination link to another host, say.
    #[error("{0}")]
    Other(&'static str),
}

impl From<serde_json::Error> for Unreadable {
    fn from(error: serde_json::Error) -> Self {
        Self::Json(error)
    }
}

/// A failed read of an answer: a cut connection is a transport failure (worth another try),
/// an oversized answer is unreadable (it would be as large the next time).
pub enum ReadFailure {
    Transport(Transport),
    Unreadable(Unreadable),
}

impl From<ReadError> for ReadFailure {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Transport(error) => Self::Transport(Transport::new(error)),
            ReadError::TooLarge => Self::Unreadable(Unreadable::TooLarge),
        }
    }
}

/// 408, 425, 429 and 5xx: the server was busy or broken, not the request. Both clients, the
/// in-process retries and the relay's queue use this one rule.
pub fn is_transient_status(status: u16) -> bool {
    StatusCode::from_u16(status).is_ok_and(crate::retry::is_retryable_status)
}

/// The server's explanation of a failed call, shortened to one line, in parentheses with a
/// leading space (empty when there is none): Currents' `error` (the director's `message`),
/// GitHub's `message` and its first validation error, or a problem+json (RFC 9457) `title` and
/// its first `validation` message (API gateways and mocks answer so).
pub fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        #[serde(alias = "title", alias = "error")]
        message: Option<String>,
        #[serde(default, alias = "validation")]
        errors: Vec<serde_json::Value>,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return String::new();
    };
    let mut text = body.message.unwrap_or_default();
    if let Some(first) = body.errors.first() {
        let first = first.get("message").unwrap_or(first);
        let first = first
            .as_str()
            .map_or_else(|| first.to_string(), str::to_owned);
        text = format!("{text}: {first}");
    }
    let text = crate::http::one_line(&text, MAX_DETAIL_CHARS);
    if text.trim().is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_of_every_api_shape() {
        let body = br#"{"message":"Invalid request.","errors":["Only 65535 characters are allowed; 85289 were supplied."]}"#;
        assert_eq!(
            error_detail(body),
            " (Invalid request.: Only 65535 characters are allowed; 85289 were supplied.)"
        );
        let problem = br#"{"title":"Invalid request","status":422,"validation":[{"location":["body","conclusion"],"message":"Request body property conclusion must be equal to one of the allowed values"}]}"#;
        assert_eq!(
            error_detail(problem),
            " (Invalid request: Request body property conclusion must be equal to one of the allowed values)"
        );
        assert_eq!(
            error_detail(br#"{"status":"FAILED","error":"Run not found"}"#),
            " (Run not found)"
        );
        assert_eq!(
            error_detail(br#"{"message":"x\nforged line"}"#),
            " (x forged line)"
        );
        assert_eq!(error_detail(br#"{"error":"  "}"#), "");
        assert_eq!(error_detail(b"not json"), "");
        assert_eq!(error_detail(b"<html>"), "");
    }

    #[test]
    fn one_transient_rule() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422] {
            assert!(!is_transient_status(status), "{status}");
        }
    }
}
