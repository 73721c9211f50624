//! The one retry policy for outbound HTTP calls (Currents and GitHub).
//!
//! Which failures are worth another try, how long to wait (exponential backoff with jitter,
//! or the server's `Retry-After`), and which calls may be repeated at all. Every client sends
//! through [`RetryPolicy::send`], so there is exactly one retry layer per call.

use std::time::{Duration, SystemTime};

use reqwest::{RequestBuilder, Response, StatusCode, header::HeaderMap};

/// Whether repeating a request can change the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, PUT, and cancels, which Currents answers with 422 the second time: safe to repeat
    /// after any retryable failure.
    Idempotent,
    /// A POST that creates something, or a PATCH that appends annotations: repeated only when
    /// the server cannot have acted on it (the connection failed, or it answered 429), so a
    /// 502 after a successful create does not leave a second check run behind.
    NotIdempotent,
}

/// How often and how long to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff step; each further step doubles it.
    pub base_delay: Duration,
    /// The longest backoff step.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is clamped to this.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The policy of the Actions steps (`report`, `cancel`). Four retries spaced 0.5, 1, 2 and
    /// 4 s (before jitter) ride out a deploy or a brief outage within about 8 s, and keep a
    /// cancel inside the 7.5 s the runner allows after SIGINT when it matters
    /// ([`RetryPolicy::within`] shortens it there). Currents' own clients retry three times at
    /// 1-4 s; GitHub's secondary rate limits ask for waits of up to a minute, hence
    /// `max_retry_after`.
    pub const ACTION: Self = Self {
        max_retries: 4,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(8),
        max_retry_after: Duration::from_secs(60),
    };

    /// A copy of this policy whose waits never exceed `cap` in total, for calls that must end
    /// before a deadline (a cancel after a signal): each of the `max_retries` waits gets an
    /// equal share.
    pub fn within(&self, cap: Duration) -> Self {
        let share = cap / self.max_retries.max(1);
        Self {
            max_delay: self.max_delay.min(share),
            max_retry_after: self.max_retry_after.min(share),
            ..self.clone()
        }
    }

    /// The wait before retry number `retry` (1-based): exponential, capped at `max_delay`,
    /// with "equal jitter": half fixed, half random, so that many clients that failed together
    /// spread out but none retries at once.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let step = exp.min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Sends the request made by `make` (called once per attempt), retrying transport errors
    /// and retryable statuses as [`Idempotency`] allows. Returns the last response, whatever
    /// its status, or the last transport error; the caller maps statuses to its own errors.
    pub async fn send(
        &self,
        idempotency: Idempotency,
        call: &str,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, reqwest::Error> {
        let mut retry = 0;
        loop {
            let result = make().send().await;
            let wait = match &result {
                Ok(response) if may_retry_status(response.status(), idempotency) => {
                    let wait = retry_after(response.headers(), SystemTime::now())
                        .map(|d| d.min(self.max_retry_after))
                        .unwrap_or_else(|| self.backoff(retry + 1));
                    Some((wait, format!("HTTP {}", response.status().as_u16())))
                }
                Err(error) if may_retry_transport(error, idempotency) => {
                    Some((self.backoff(retry + 1), transport_reason(error)))
                }
                _ => None,
            };
            match wait {
                Some((wait, reason)) if retry < self.max_retries => {
                    retry += 1;
                    tracing::warn!(
                        "{call}: {reason}; retry {retry} of {} in {}",
                        self.max_retries,
                        humantime::format_duration(round_ms(wait))
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => return result,
            }
        }
    }
}

/// 408, 425, 429 and 5xx: the server was busy or broken, not the request. The same set as
/// Currents' official cancel action.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error()
}

fn may_retry_status(status: StatusCode, idempotency: Idempotency) -> bool {
    match idempotency {
        Idempotency::Idempotent => is_retryable_status(status),
        Idempotency::NotIdempotent => status == StatusCode::TOO_MANY_REQUESTS,
    }
}

fn may_retry_transport(error: &reqwest::Error, idempotency: Idempotency) -> bool {
    match idempotency {
        Idempotency::Idempotent => error.is_connect() || error.is_timeout() || error.is_request(),
        // Only a refused connection proves that the server never saw the request.
        Idempotency::NotIdempotent => error.is_connect(),
    }
}

fn transport_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        "connection failed".into()
    }
}

/// Parses `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy::ACTION;
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_secs(1) && third <= Duration::from_secs(2));
            let late = policy.backoff(30);
            assert!(late >= Duration::from_secs(4) && late <= Duration::from_secs(8));
        }
    }

    #[test]
    fn within_caps_every_wait() {
        let policy = RetryPolicy::ACTION.within(Duration::from_secs(4));
        assert!(policy.backoff(10) <= Duration::from_secs(1));
        assert_eq!(policy.max_retry_after, Duration::from_secs(1));
        // The share follows the number of retries, not a constant.
        let two = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::ACTION
        }
        .within(Duration::from_secs(4));
        assert_eq!(two.max_retry_after, Duration::from_secs(2));
        let total: Duration = (1..=two.max_retries).map(|r| two.backoff(r)).sum();
        assert!(total <= Duration::from_secs(4), "{total:?}");
    }

    #[test]
    fn retryable_statuses() {
        for code in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 400, 401, 403, 404, 409, 422] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn non_idempotent_calls_retry_only_what_the_server_refused() {
        assert!(may_retry_status(
            StatusCode::TOO_MANY_REQUESTS,
            Idempotency::NotIdempotent
        ));
        assert!(!may_retry_status(
            StatusCode::BAD_GATEWAY,
            Idempotency::NotIdempotent
        ));
        assert!(may_retry_status(
            StatusCode::BAD_GATEWAY,
            Idempotency::Idempotent
        ));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));

        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));

        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
