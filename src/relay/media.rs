//! `GET /media/{token}`: lasting media links. The token names one piece of media of one test
//! attempt under the shared `--media-secret` ([`crate::media`]); the relay checks it in
//! constant time, reads the instance from Currents (cached a few minutes), and redirects to
//! the URL Currents signed just now.
//!
//! Answers: `302` to the media, `401` for a bad token, `404` once Currents no longer has the
//! media (or when no media secret is set), `429` over the per-client rate, `502` when Currents
//! cannot be asked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::AppState;
use crate::currents::{CurrentsClient, CurrentsError, Instance, InstanceId};
use crate::media::MediaSigner;

/// How long an instance read from Currents is reused: its signed URLs last 2 h, and a page of
/// screenshots opens many links of one instance at once.
const CACHE_FOR: Duration = Duration::from_secs(5 * 60);
/// Instances kept at most; the expired go first, then all when still too many.
const CACHE_ENTRIES: usize = 1_000;
/// Links one client address may open per minute (a burst of as many).
const PER_MINUTE: u32 = 60;

/// How often the limiter forgets clients whose quota is full again.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The route's state.
pub struct MediaRoute {
    signer: MediaSigner,
    currents: CurrentsClient,
    cache: Mutex<HashMap<InstanceId, (Instant, Arc<Instance>)>>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// When the limiter last forgot idle clients.
    pruned: Mutex<Instant>,
}

impl std::fmt::Debug for MediaRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaRoute(..)")
    }
}

impl MediaRoute {
    pub fn new(signer: MediaSigner, currents: CurrentsClient) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self {
            signer,
            currents,
            cache: Mutex::default(),
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            pruned: Mutex::new(Instant::now()),
        }
    }

    /// Whether `client` may open one more link now. The limiter forgets idle clients every
    /// [`PRUNE_EVERY`], so it does not grow with every address ever seen.
    fn admit(&self, client: IpAddr) -> bool {
        let mut pruned = self.pruned.lock().unwrap_or_else(PoisonError::into_inner);
        if pruned.elapsed() >= PRUNE_EVERY {
            self.prune();
            *pruned = Instant::now();
        }
        drop(pruned);
        self.limiter.check_key(&client).is_ok()
    }

    /// Forgets the clients whose quota is full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Clients the limiter remembers.
    pub fn clients_tracked(&self) -> usize {
        self.limiter.len()
    }

    async fn instance(&self, id: &InstanceId) -> Result<Arc<Instance>, CurrentsError> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, instance)| Arc::clone(instance));
        if let Some(instance) = cached {
            return Ok(instance);
        }
        let instance = Arc::new(self.currents.get_instance(id).await?);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(id.clone(), (Instant::now(), Arc::clone(&instance)));
        Ok(instance)
    }
}

pub(super) async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let Some(route) = &state.media else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    // The token first: a forged link costs no Currents call and no one's quota.
    let media = match route.signer.verify(&token) {
        Ok(media) => media,
        Err(reason) => {
            tracing::warn!(%reason, "media link refused");
            state.metrics.media("unauthorized");
            return (StatusCode::UNAUTHORIZED, "invalid link").into_response();
        }
    };
    // The client behind the recommended proxy, not the proxy (`--trusted-proxies`).
    let client = state.trusted_proxies.client_of(&request);
    if !route.admit(client) {
        state.metrics.media("rate_limited");
        return (StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response();
    }
    let instance = match route
        .instance(&InstanceId::new(media.instance.clone()))
        .await
    {
        Ok(instance) => instance,
        Err(CurrentsError::NotFound { .. }) => {
            state.metrics.media("gone");
            return (StatusCode::NOT_FOUND, "media no longer available").into_response();
        }
        Err(error) => {
            tracing::warn!(error = %crate::log_safe::Chain(&error), "cannot read the instance for a media link");
            state.metrics.media("upstream_error");
            return (StatusCode::BAD_GATEWAY, "Currents unavailable").into_response();
        }
    };
    let link = crate::report::test_media(&instance, &media.test, media.attempt)
        .into_iter()
        .find(|link| link.source.as_ref() == Some(&media));
    match link {
        Some(link) => {
            state.metrics.media("redirected");
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, link.url),
                    // The target is signed for hours, not forever: no cache may keep it.
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
            )
                .into_response()
        }
        None => {
            state.metrics.media("gone");
            (StatusCode::NOT_FOUND, "media no longer available").into_response()
        }
    }
}
