//! The one way tests wait: for a condition, with a deadline, never for a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// The core of every wait: calls `look` every 20 ms until it finds something (`Ok`), and fails
/// the test, naming `what` and showing the last thing `look` saw (`Err`), once `limit` has passed.
pub async fn wait_explained<T, F, Fut>(what: &str, limit: Duration, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let seen = match look().await {
            Ok(found) => return found,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}{}{seen}",
            if seen.is_empty() {
                ""
            } else {
                "; last seen:\n"
            }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`wait_explained`], for a look that finds something: its first `Some`.
pub async fn wait_some<T, F, Fut>(what: &str, limit: Duration, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_explained(what, limit, || {
        let look = look();
        async move { look.await.ok_or_else(String::new) }
    })
    .await
}

/// Waits until `condition` holds (a condition that must await: a database query, a request).
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_some(what, limit, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Waits until `condition` holds (a condition on what the test can see at once).
pub async fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    wait_until(what, limit, || std::future::ready(condition())).await
}

/// Waits until `url` answers `200`, for at most 20 s.
pub async fn wait_until_ready(url: &str) {
    let client = reqwest::Client::new();
    let what = format!("{url} to become ready");
    wait_until(&what, Duration::from_secs(20), || async {
        let answer = client.get(url).send().await;
        answer.is_ok_and(|response| response.status() == 200)
    })
    .await
}
