//! What GitHub does for an App:
//!
//! - App endpoints take only a JWT signed RS256 with the App's key (verified with its public
//!   key), issued by the App's id, not from the future, at most 10 minutes long;
//! - installation tokens expire (after `token_lifetime`), and an expired one gets 401;
//! - `GET /app/hook/deliveries` pages with a cursor and a `Link` header, and
//!   `POST /app/hook/deliveries/{id}/attempts` sends that delivery again, signed, to the relay.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{GithubState, Recorded, reject};
use crate::support::WEBHOOK_SECRET;

pub const APP_ID: u64 = 31337;
/// The App's slug: its comments are written by `currents-bridge-test[bot]`.
pub const APP_SLUG: &str = "currents-bridge-test";
pub const BOT_LOGIN: &str = "currents-bridge-test[bot]";

/// The App's key pair, made once per test binary: (private PKCS#1 PEM, public SPKI PEM).
pub fn app_keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let public = rsa::RsaPublicKey::from(&private);
        (
            private.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
            public.to_public_key_pem(LineEnding::LF).unwrap(),
        )
    })
}

/// One delivery of the App's hook, with what a redelivery sends.
#[derive(Debug, Clone)]
pub struct FakeDelivery {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: String,
    pub status_code: u16,
    pub delivered_at: SystemTime,
    pub body: String,
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Checks a JWT as GitHub does; the reason when it is refused.
fn verify_jwt(header: Option<String>) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iat: u64,
        exp: u64,
        iss: String,
    }
    let token = header
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or("A JSON web token could not be decoded")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(app_keys().1.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[APP_ID.to_string()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| format!("A JSON web token could not be decoded ({e})"))?
        .claims;
    let now = epoch(SystemTime::now());
    if claims.iat > now + 1 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        );
    }
    if claims.exp.saturating_sub(claims.iat) > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    assert_eq!(claims.iss, APP_ID.to_string());
    Ok(())
}

/// The App's own endpoints, which take its JWT.
pub(super) fn is_app_call(method: &str, segments: &[&str]) -> bool {
    matches!(
        (method, segments),
        ("GET", ["repos", _, _, "installation"])
            | ("POST", ["app", "installations", _, "access_tokens"])
            | ("GET", ["app", "hook", "deliveries"])
            | ("GET", ["app"])
            | ("GET", ["app", "installations"])
            | ("POST", ["app", "hook", "deliveries", _, "attempts"])
    )
}

pub(super) fn endpoint(
    s: &mut GithubState,
    shared: &Arc<Mutex<GithubState>>,
    segments: &[&str],
    recorded: &Recorded,
) -> Response {
    if let Err(reason) = verify_jwt(recorded.header("authorization")) {
        return reject(s, 401, &reason);
    }
    match (recorded.method.as_str(), segments) {
        ("GET", ["app"]) => {
            axum::Json(json!({"id": APP_ID, "slug": APP_SLUG, "name": "Currents Bridge"}))
                .into_response()
        }
        ("GET", ["app", "installations"]) => {
            let list: Vec<Value> = s
                .installations
                .iter()
                .map(|(repo, id)| {
                    let owner = repo.split('/').next().unwrap_or_default();
                    json!({"id": id, "account": {"login": owner}, "permissions": s.permissions})
                })
                .collect();
            axum::Json(list).into_response()
        }
        ("GET", ["repos", owner, repo, "installation"]) => {
            let full = format!("{owner}/{repo}").to_ascii_lowercase();
            match s.installations.get(&full) {
                Some(id) => axum::Json(json!({"id": id, "app_id": APP_ID})).into_response(),
                None => reject(s, 404, "Not Found"),
            }
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            let Ok(id) = id.parse::<u64>() else {
                return reject(s, 404, "Not Found");
            };
            if !s.installations.values().any(|i| *i == id) {
                return reject(s, 404, "Not Found");
            }
            let token = format!("ghs_fake{:016x}", fastrand::u64(..));
            let expires = SystemTime::now() + s.token_lifetime;
            s.tokens.insert(token.clone(), (id, expires));
            (
                StatusCode::CREATED,
                axum::Json(json!({"token": token, "expires_at": rfc3339(expires),
                                  "permissions": s.permissions})),
            )
                .into_response()
        }
        ("GET", ["app", "hook", "deliveries"]) => {
            let cursor: usize = recorded
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("cursor="))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = s
                .deliveries
                .iter()
                .skip(cursor)
                .take(s.page_size)
                .map(|d| {
                    json!({"id": d.id, "guid": d.guid, "delivered_at": rfc3339(d.delivered_at),
                           "redelivery": false, "duration": 0.1, "status": if d.status_code == 200 { "OK" } else { "Bad Gateway" },
                           "status_code": d.status_code, "event": d.event, "action": d.action,
                           "installation_id": 1000, "repository_id": 1})
                })
                .collect();
            let next = cursor + s.page_size;
            let mut response = axum::Json(page).into_response();
            if next < s.deliveries.len() {
                let link = format!(
                    "<http://{}/app/hook/deliveries?per_page={}&cursor={next}>; rel=\"next\"",
                    recorded.header("host").unwrap_or_default(),
                    s.page_size
                );
                response.headers_mut().insert("link", link.parse().unwrap());
            }
            response
        }
        ("POST", ["app", "hook", "deliveries", id, "attempts"]) => {
            let Some(delivery) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.deliveries.iter().find(|d| d.id == id).cloned())
            else {
                return reject(s, 404, "Not Found");
            };
            s.redelivered.push(delivery.id);
            let shared = Arc::clone(shared);
            let mut relay_url = s.relay_url.subscribe();
            // GitHub answers at once and delivers afterwards, with the original GUID. The test
            // names the relay's address once it has started.
            tokio::spawn(async move {
                let named = relay_url.wait_for(Option::is_some);
                let relay = tokio::time::timeout(Duration::from_secs(30), named)
                    .await
                    .expect("the test named the relay within 30 s")
                    .expect("the fake GitHub lives")
                    .clone()
                    .unwrap();
                let signature =
                    currents_bridge::relay::verify::sign(WEBHOOK_SECRET, delivery.body.as_bytes());
                let status = reqwest::Client::new()
                    .post(&relay)
                    .header("content-type", "application/json")
                    .header("user-agent", "GitHub-Hookshot/fake")
                    .header("x-github-event", &delivery.event)
                    .header("x-github-delivery", &delivery.guid)
                    .header("x-github-hook-id", "777")
                    .header("x-hub-signature-256", signature)
                    .body(delivery.body.clone())
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                let mut s = shared.lock().unwrap();
                let id = 900_000 + s.next_id();
                s.deliveries.insert(
                    0,
                    FakeDelivery {
                        id,
                        status_code: status,
                        delivered_at: SystemTime::now(),
                        ..delivery
                    },
                );
            });
            (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
        }
        _ => reject(s, 404, "Not Found"),
    }
}
