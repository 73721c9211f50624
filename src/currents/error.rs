//! Typed errors of Currents calls, by HTTP status. Messages name the call, the status and what
//! to do; they never contain the API key (it travels only in a header).

use reqwest::StatusCode;

use crate::api::{ReadFailure, Transport, Unreadable, error_detail, is_transient_status};

/// A Currents call that failed. Callers branch on the variant, never on the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CurrentsError {
    /// 401: the key is missing, mistyped or revoked.
    #[error(
        "Currents {call} answered HTTP 401{detail}: the API key was rejected; check the api-key input (CURRENTS_API_KEY){hint}"
    )]
    Unauthorized {
        call: String,
        detail: String,
        hint: &'static str,
    },
    /// 403: the key lacks the permission, e.g. a Read Only key on a cancel.
    #[error("Currents {call} answered HTTP 403{detail}: the API key lacks permission{hint}")]
    Forbidden {
        call: String,
        detail: String,
        hint: &'static str,
    },
    /// 404: no such run or instance (or none recorded yet).
    #[error("Currents {call} answered HTTP 404{detail}: not found")]
    NotFound { call: String, detail: String },
    /// Any other status, after retries where it was retryable.
    #[error("Currents {call} answered HTTP {status}{detail}{retried}")]
    Status {
        call: String,
        status: u16,
        detail: String,
        retried: &'static str,
        /// The server's `Retry-After`, for callers that schedule their own retries.
        retry_after: Option<std::time::Duration>,
    },
    /// No answer: DNS, connect, TLS or timeout, after retries.
    #[error("Currents {call} failed; check --api-url (CURRENTS_API_URL) and the network")]
    Transport {
        call: String,
        #[source]
        source: Transport,
    },
    /// An answer that is not the JSON we expect.
    #[error("Currents {call} sent a body that could not be read")]
    Decode {
        call: String,
        #[source]
        source: Unreadable,
    },
}

impl CurrentsError {
    /// Builds the error for a non-success answer. `detail` is the server's explanation
    /// ([`error_detail`]); `hint` (for 401 and 403, starting with "; ") depends on the call: a
    /// cancel needs a Read & Write key.
    pub(crate) fn from_status(
        call: &str,
        status: StatusCode,
        body: &[u8],
        hint: &'static str,
    ) -> Self {
        let call = call.to_owned();
        let detail = error_detail(body);
        match status.as_u16() {
            401 => Self::Unauthorized { call, detail, hint },
            403 => Self::Forbidden { call, detail, hint },
            404 => Self::NotFound { call, detail },
            code => Self::Status {
                call,
                status: code,
                detail,
                retried: if is_transient_status(code) {
                    " after retries; try again later"
                } else {
                    ""
                },
                retry_after: None,
            },
        }
    }

    /// No answer.
    pub(crate) fn transport(call: &str, error: reqwest::Error) -> Self {
        Self::Transport {
            call: call.to_owned(),
            source: Transport::new(error),
        }
    }

    /// The answer could not be read whole.
    pub(crate) fn read(call: &str, error: crate::http::ReadError) -> Self {
        let call = call.to_owned();
        match ReadFailure::from(error) {
            ReadFailure::Transport(source) => Self::Transport { call, source },
            ReadFailure::Unreadable(source) => Self::Decode { call, source },
        }
    }

    /// An answer that is not what the call returns.
    pub(crate) fn decode(call: &str, source: impl Into<Unreadable>) -> Self {
        Self::Decode {
            call: call.to_owned(),
            source: source.into(),
        }
    }

    /// Sets the `Retry-After` of a [`CurrentsError::Status`].
    pub(crate) fn with_retry_after(mut self, after: Option<std::time::Duration>) -> Self {
        if let Self::Status { retry_after, .. } = &mut self {
            *retry_after = after;
        }
        self
    }

    /// Whether another attempt later may succeed: no answer, or 408/425/429/5xx
    /// ([`is_transient_status`], the rule GitHub's errors follow too).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::Status { status, .. } => Some(*status),
            Self::Transport { .. } | Self::Decode { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_variants() {
        let body = br#"{"status":"FAILED","error":"Invalid API key provided"}"#;
        let err = CurrentsError::from_status("GET /runs/find", StatusCode::UNAUTHORIZED, body, "");
        assert!(matches!(err, CurrentsError::Unauthorized { .. }));
        assert_eq!(
            err.to_string(),
            "Currents GET /runs/find answered HTTP 401 (Invalid API key provided): the API key was rejected; check the api-key input (CURRENTS_API_KEY)"
        );
        let err = CurrentsError::from_status(
            "PUT /runs/cancel-ci/github",
            StatusCode::FORBIDDEN,
            b"",
            "use a Read & Write key",
        );
        assert_eq!(err.status(), Some(403));
        assert!(err.to_string().ends_with("use a Read & Write key"));
        let err = CurrentsError::from_status(
            "GET /runs/x",
            StatusCode::SERVICE_UNAVAILABLE,
            b"<html>",
            "",
        );
        assert_eq!(
            err.to_string(),
            "Currents GET /runs/x answered HTTP 503 after retries; try again later"
        );
    }
}
