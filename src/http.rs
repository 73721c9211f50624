//! The one HTTP layer under the Currents and GitHub clients.
//!
//! One [`Http`] per process: one connection pool and TLS session cache for every call, the same
//! user agent, compression, timeouts and proxy rules everywhere (reqwest reads `HTTPS_PROXY`,
//! `HTTP_PROXY` and `NO_PROXY`), one way to read an answer ([`read`], with a size cap), one
//! way to describe a failed connection ([`transport_reason`], which never names the URL), and
//! one shortener for error bodies ([`one_line`]). The clients map what comes back to their own
//! typed errors with [`crate::api`]'s shared pieces; retries are [`crate::retry`]'s.

use std::time::{Duration, SystemTime};

use reqwest::{Method, RequestBuilder, StatusCode};
use url::Url;

/// Sent with every request, so API owners can tell our traffic apart.
pub const USER_AGENT: &str = concat!("currents-bridge/", env!("CARGO_PKG_VERSION"));

/// How long one request may take before it counts as a transport failure. A large run's JSON
/// arrives in well under this; a hung connection does not hold a CI job for long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting takes milliseconds when an API is up; fail fast so that retries can help.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read. The largest Currents run seen is a few MiB of JSON; anything far
/// larger is a broken proxy or server, and reading it whole would only exhaust memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The process's HTTP client. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// The client could not be built (no TLS roots, a malformed proxy variable).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up HTTP: {0}")]
pub struct HttpSetupError(String);

impl Http {
    pub fn new() -> Result<Self, HttpSetupError> {
        Self::with_request_timeout(REQUEST_TIMEOUT)
    }

    /// With another per-request timeout (the relay's lease must exceed it; tests shorten both).
    pub fn with_request_timeout(timeout: Duration) -> Result<Self, HttpSetupError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .gzip(true)
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| HttpSetupError(transport_reason(e)))?;
        Ok(Self { client })
    }

    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.client.request(method, url)
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The server's `Retry-After`, for callers that schedule their own retries.
    pub retry_after: Option<Duration>,
    /// The `rel="next"` target of a `Link` header (RFC 8288), for paginated lists.
    pub next_page: Option<String>,
    pub body: Vec<u8>,
}

/// Reading an answer failed: the connection broke, or the answer is over the cap. The
/// clients map it with [`crate::api::ReadFailure`].
#[derive(Debug)]
pub enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads `response` whole, refusing more than [`MAX_BODY_BYTES`].
pub async fn read(mut response: reqwest::Response) -> Result<Answer, ReadError> {
    let status = response.status();
    let retry_after = crate::retry::retry_after(response.headers(), SystemTime::now());
    let next_page = response
        .headers()
        .get(reqwest::header::LINK)
        .and_then(|v| v.to_str().ok())
        .and_then(next_link);
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        retry_after,
        next_page,
        body,
    })
}

/// The `rel="next"` URL of a `Link` header: `<https://…?cursor=x>; rel="next", <…>; rel="prev"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let is_next = params.split(';').any(|param| {
            let param = param.trim().replace(' ', "");
            param == "rel=\"next\"" || param == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

/// What went wrong with a request that got no answer, with its causes, without the URL: the
/// caller names the call, and a URL can carry credentials (`https://user:password@host`) that
/// must not reach a log, an error or the relay's stored `last_error`.
pub fn transport_reason(error: reqwest::Error) -> String {
    transport_reason_of(&error.without_url())
}

/// [`transport_reason`] of an error whose URL is gone already.
pub fn transport_reason_of(error: &reqwest::Error) -> String {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = inner.source();
    }
    reason
}

/// `text` as one line of at most `max_chars` characters: whitespace runs (line breaks
/// included) become one space, so a server's text cannot start a new log line.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max_chars) {
        Some((cut, _)) => joined[..cut].to_owned(),
        None => joined,
    }
}

/// `base` with `segments` appended, each percent-encoded (an id with a `/` stays one segment).
pub fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_base_path_and_escape_ids() {
        let base: Url = "https://api.currents.dev/v1".parse().unwrap();
        assert_eq!(
            endpoint(&base, &["runs", "a/b"]).as_str(),
            "https://api.currents.dev/v1/runs/a%2Fb"
        );
        let base: Url = "http://127.0.0.1:9/v1/".parse().unwrap();
        assert_eq!(
            endpoint(&base, &["instances", "x"]).as_str(),
            "http://127.0.0.1:9/v1/instances/x"
        );
    }

    #[test]
    fn one_line_folds_breaks_and_cuts() {
        assert_eq!(one_line("a\n\r\tb  c", 10), "a b c");
        assert_eq!(one_line("ééééé", 3), "ééé");
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let github = r#"<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_13>; rel="next", <https://api.github.com/app/hook/deliveries?per_page=2>; rel="prev""#;
        assert_eq!(
            next_link(github).as_deref(),
            Some("https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_13")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
