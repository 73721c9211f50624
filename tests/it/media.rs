//! Lasting media links: the report points screenshots, videos and traces at a relay's
//! `/media/{token}`, and the relay redirects to a URL Currents signed just now.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use currents_bridge::media::MediaSigner;
use currents_bridge::relay::{self, AppState, MediaRoute};
use currents_bridge::report::{MediaKind, MediaRef};
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

use std::time::Duration;

use crate::support::*;

const MEDIA_SECRET: &str = "media-secret-0123456789-do-not-leak";
const RELAY: &str = "https://relay.example.com";

async fn relay_state(currents: &FakeCurrents) -> (AppState, tempfile::TempDir) {
    let (state, dir) = sqlite_state().await;
    let state = state.with_media(MediaRoute::new(
        MediaSigner::new(SecretString::from(MEDIA_SECRET)),
        currents_client(currents),
    ));
    (state, dir)
}

/// `GET path` from `client`; the status and the `Location`.
async fn open(state: &AppState, path: &str, client: [u8; 4]) -> (u16, Option<String>) {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((client, 40_000))));
    let response = relay::router(state.clone()).oneshot(request).await.unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), location)
}

/// The first failure of the example: its screenshot, as the instance has it.
fn first_screenshot() -> (MediaRef, String) {
    let (_, instances) = example_run();
    let instance = instances
        .iter()
        .find(|i| i["data"]["instanceId"] == "Qm3vT8nXcR2pLw7K")
        .unwrap();
    let test = &instance["data"]["results"]["tests"][0];
    let test_id = test["testId"].as_str().unwrap().to_owned();
    let shot = instance["data"]["results"]["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["testId"] == test_id.as_str() && s["testAttemptIndex"] == 1)
        .unwrap();
    (
        MediaRef {
            instance: "Qm3vT8nXcR2pLw7K".into(),
            test: test_id,
            attempt: 1,
            kind: MediaKind::Screenshot,
            n: 0,
        },
        shot["screenshotURL"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_signed_link_redirects_to_the_media_currents_signs_now() {
    let (run, instances) = example_run();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    let (state, _dir) = relay_state(&currents).await;
    let signer = MediaSigner::new(SecretString::from(MEDIA_SECRET));
    let (media, url) = first_screenshot();

    let token = signer.token(&media);
    let (status, location) = open(&state, &format!("/media/{token}"), [10, 0, 0, 1]).await;
    assert_eq!((status, location.as_deref()), (302, Some(url.as_str())));
    // A second open of the same instance is served from the cache.
    assert_eq!(
        open(&state, &format!("/media/{token}"), [10, 0, 0, 1])
            .await
            .0,
        302
    );
    assert_eq!(currents.requests_to("/v1/instances/").len(), 1);

    // Another secret, a changed attempt, garbage: 401, and Currents is not asked.
    let forged = MediaSigner::new(SecretString::from("another-secret-0123456789")).token(&media);
    assert_eq!(
        open(&state, &format!("/media/{forged}"), [10, 0, 0, 1])
            .await
            .0,
        401
    );
    assert_eq!(open(&state, "/media/garbage", [10, 0, 0, 1]).await.0, 401);
    // Media the attempt does not have: 404.
    let missing = signer.token(&MediaRef {
        n: 7,
        ..media.clone()
    });
    assert_eq!(
        open(&state, &format!("/media/{missing}"), [10, 0, 0, 1])
            .await
            .0,
        404
    );
    // An instance Currents no longer has: 404.
    let gone = signer.token(&MediaRef {
        instance: "gone0000000000000".into(),
        ..media
    });
    assert_eq!(
        open(&state, &format!("/media/{gone}"), [10, 0, 0, 1])
            .await
            .0,
        404
    );
    assert_eq!(currents.requests_to("/v1/instances/").len(), 2);
}

/// `GET path` from peer `peer`, naming `forwarded` in `X-Forwarded-For`; the status.
async fn open_forwarded(state: &AppState, path: &str, peer: [u8; 4], forwarded: &str) -> u16 {
    let mut request = Request::get(path)
        .header("x-forwarded-for", forwarded)
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    relay::router(state.clone())
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_media_route_is_rate_limited_per_client_and_off_without_a_secret() {
    let (run, instances) = example_run();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    let (state, _dir) = relay_state(&currents).await;
    let state = state.with_trusted_proxies(relay::TrustedProxies::parse("10.0.0.100/32").unwrap());
    let token = MediaSigner::new(SecretString::from(MEDIA_SECRET)).token(&first_screenshot().0);
    let link = format!("/media/{token}");
    // Forged links are refused before they count: they cost no one's quota.
    for _ in 0..70 {
        assert_eq!(open(&state, "/media/garbage", [10, 0, 0, 2]).await.0, 401);
    }
    let mut limited = 0;
    for _ in 0..70 {
        if open(&state, &link, [10, 0, 0, 2]).await.0 == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 10, "60 a minute, then 429");
    assert_eq!(
        open(&state, &link, [10, 0, 0, 3]).await.0,
        302,
        "another client has its own budget"
    );
    // Behind the trusted proxy, each client it names has its own budget; anyone else's
    // X-Forwarded-For is not believed.
    for _ in 0..60 {
        assert_eq!(
            open_forwarded(&state, &link, [10, 0, 0, 100], "198.51.100.1").await,
            302
        );
    }
    assert_eq!(
        open_forwarded(&state, &link, [10, 0, 0, 100], "198.51.100.1").await,
        429
    );
    assert_eq!(
        open_forwarded(&state, &link, [10, 0, 0, 100], "198.51.100.2").await,
        302
    );
    assert_eq!(
        open_forwarded(&state, &link, [10, 0, 0, 2], "198.51.100.9").await,
        429,
        "an untrusted peer is itself the client"
    );
    // Clients whose quota refilled are forgotten: the two that opened one link each, within
    // a second or two; the two that spent theirs are remembered.
    let route = state.media.clone().unwrap();
    assert_eq!(route.clients_tracked(), 4);
    wait_until(
        "the limiter to forget refilled clients",
        Duration::from_secs(30),
        || async {
            route.prune();
            route.clients_tracked() == 2
        },
    )
    .await;
    let (plain, _dir2) = sqlite_state().await;
    assert_eq!(open(&plain, "/media/anything", [10, 0, 0, 1]).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_relay_the_report_links_media_through_it_and_drops_the_expiry_note() {
    let (run, instances) = example_run();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    let github = FakeGithub::start(GithubState::default()).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_RELAY_URL", RELAY);
    workflow.set("CURRENTS_MEDIA_SECRET", MEDIA_SECRET);
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(!out.stdout.contains(MEDIA_SECRET) && !out.stderr.contains(MEDIA_SECRET));
    let create = github.requests()[0].json();
    let summary = create["output"]["summary"].as_str().unwrap();
    assert!(
        !summary.contains("fs.currents.dev"),
        "no expiring link is left"
    );
    assert!(summary.contains("open through the relay"), "{summary}");
    assert!(!summary.contains("expire 2 h"));
    let (media, url) = first_screenshot();
    // The screenshot link of the first failure names exactly that screenshot.
    let link = summary
        .split("[screenshot](")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap();
    let token = link
        .strip_prefix(&format!("{RELAY}/media/"))
        .unwrap_or_else(|| panic!("{link}"));
    let signer = MediaSigner::new(SecretString::from(MEDIA_SECRET));
    assert_eq!(signer.verify(token), Ok(media));
    // And the relay turns it back into the media.
    let (state, _dir) = relay_state(&currents).await;
    assert_eq!(
        open(&state, &format!("/media/{token}"), [10, 0, 0, 9]).await,
        (302, Some(url))
    );
    let annotations: Vec<Value> = create["output"]["annotations"].as_array().unwrap().clone();
    assert!(
        annotations.iter().all(|a| !a["raw_details"]
            .as_str()
            .unwrap_or_default()
            .contains("expires")),
        "annotation links do not expire either"
    );

    // Half the configuration is a usage error.
    let mut half = Workflow::new(&currents, Some(&github));
    half.set("CURRENTS_RELAY_URL", RELAY);
    assert_eq!(half.run(&["report"]).await.code, Some(2));
    let mut short = Workflow::new(&currents, Some(&github));
    short.set("CURRENTS_RELAY_URL", RELAY);
    short.set("CURRENTS_MEDIA_SECRET", "short");
    let out = short.run(&["report"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        !out.stderr.contains("short\""),
        "the secret is not echoed: {}",
        out.stderr
    );
}
