//! Acting as a GitHub App: the App's JWT, the installation of a repository, cached installation
//! tokens, and the App's webhook deliveries (for the relay's catch-up).
//!
//! On the same [`GithubClient`] (and so the same HTTP layer, proxy rules and one retry layer)
//! as the action's token, with the `jsonwebtoken` crate for the RS256 signature. octocrab does
//! Apps too, but its released versions ignore `HTTPS_PROXY` (XAMPPRocky/octocrab#936) and
//! bring a second HTTP stack beside reqwest; see docs/architecture.md.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::client::{GithubClient, GithubConfig, GithubError, Permission, Repository};
use crate::http::Http;
use crate::retry::{Idempotency, RetryPolicy};

/// How far in the past a JWT's `iat` is set, for clock drift (GitHub's advice).
const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// A JWT's whole lifetime from `iat`: GitHub's maximum is 10 minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// An installation token is renewed this long before GitHub says it expires (an hour after it
/// was issued), so that no call starts with a token about to lapse.
const TOKEN_RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

crate::ids::id_type!(
    /// A GitHub App's id (the JWT's issuer).
    AppId(u64)
);

crate::ids::id_type!(
    /// An installation of the App on an account.
    InstallationId(u64)
);

/// The App's id and PEM private key.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: AppId,
    /// The PEM text; never logged.
    pub private_key: SecretString,
}

/// A failed App call.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The App is not installed on the repository (or cannot see it): nothing to retry.
    #[error("the GitHub App is not installed on {0}")]
    NotInstalled(String),
    /// The key does not parse. The text names the problem, never the key.
    #[error("the GitHub App private key (GITHUB_APP_PRIVATE_KEY) is not a PEM RSA private key")]
    Key(#[source] KeyProblem),
    #[error("cannot sign the GitHub App's JWT")]
    Sign(#[source] KeyProblem),
    #[error(transparent)]
    Github(#[from] GithubError),
}

impl AppError {
    /// Worth trying again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Github(e) if e.is_transient())
    }

    /// As a GitHub call's error, for code that speaks only of GitHub calls.
    pub fn into_github(self) -> GithubError {
        match self {
            Self::Github(e) => e,
            _ => GithubError::decode(
                "the GitHub App's JWT",
                crate::api::Unreadable::Other("the App's key cannot sign"),
            ),
        }
    }
}

/// One of the App's webhook deliveries, as `GET /app/hook/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    pub id: u64,
    /// `X-GitHub-Delivery`, shared by a delivery and its redeliveries.
    pub guid: String,
    /// RFC 3339.
    pub delivered_at: String,
    #[serde(default)]
    pub status_code: u16,
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
}

impl HookDelivery {
    /// When GitHub sent it, if the timestamp parses.
    pub fn delivered(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(self.delivered_at.trim_end_matches('Z')).ok()
    }
}

#[derive(Debug, Clone)]
struct CachedToken {
    token: SecretString,
    renew_at: SystemTime,
    /// What the installation granted the App (`actions` → `write`), as the token says.
    permissions: HashMap<String, String>,
}

/// An installation of the App, with what it granted.
#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: InstallationId,
    #[serde(default)]
    pub account: Option<InstallationAccount>,
    #[serde(default)]
    pub permissions: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationAccount {
    pub login: String,
}

#[derive(Debug, Default)]
struct Cache {
    /// `{slug}[bot]`, once read (`GET /app`).
    bot_login: Option<String>,
    /// Lower-cased `owner/name` → installation.
    installations: HashMap<String, InstallationId>,
    tokens: HashMap<InstallationId, CachedToken>,
}

/// The App: signs JWTs and hands out clients with installation tokens.
#[derive(Clone)]
pub struct GithubApp {
    client: GithubClient,
    app_id: AppId,
    key: Arc<EncodingKey>,
    cache: Arc<Mutex<Cache>>,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl GithubApp {
    /// Parses the key at once, so a bad one stops the relay at start.
    pub fn new(
        credentials: &AppCredentials,
        api_url: Url,
        retry: RetryPolicy,
        http: &Http,
    ) -> Result<Self, AppError> {
        let key = EncodingKey::from_rsa_pem(credentials.private_key.expose_secret().as_bytes())
            .map_err(|e| AppError::Key(KeyProblem::of(&e)))?;
        let client = GithubClient::new(
            GithubConfig {
                api_url,
                token: SecretString::from(String::new()),
                retry,
            },
            http,
        );
        let app = Self {
            client,
            app_id: credentials.app_id,
            key: Arc::new(key),
            cache: Arc::default(),
        };
        // A key that parses may still not sign (a DSA or EC key in RSA armour).
        app.jwt()?;
        Ok(app)
    }

    pub fn app_id(&self) -> AppId {
        self.app_id
    }

    /// A fresh JWT for the App's own endpoints.
    pub fn jwt(&self) -> Result<SecretString, AppError> {
        #[derive(Serialize)]
        struct Claims {
            iat: u64,
            exp: u64,
            iss: String,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let iat = now.saturating_sub(JWT_BACKDATE).as_secs();
        let claims = Claims {
            iat,
            exp: iat + JWT_LIFETIME.as_secs(),
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| AppError::Sign(KeyProblem::of(&e)))
    }

    fn as_app(&self) -> Result<GithubClient, AppError> {
        Ok(self.client.with_token(self.jwt()?))
    }

    /// The installation that covers `repo`.
    pub async fn installation(&self, repo: &Repository) -> Result<InstallationId, AppError> {
        let key = repo.to_string().to_ascii_lowercase();
        if let Some(id) = self.lock().installations.get(&key) {
            return Ok(*id);
        }
        #[derive(Deserialize)]
        struct Installation {
            id: InstallationId,
        }
        let app = self.as_app()?;
        let url = app.url(&["repos", &repo.owner, &repo.name, "installation"]);
        let found = app
            .call::<Installation>(
                "GET /repos/{owner}/{repo}/installation",
                Method::GET,
                url,
                None::<&()>,
                Idempotency::Idempotent,
                Permission::None,
            )
            .await;
        match found {
            Ok((installation, _)) => {
                self.lock().installations.insert(key, installation.id);
                Ok(installation.id)
            }
            Err(e) if e.status() == Some(404) => Err(AppError::NotInstalled(repo.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// A client acting as the App's installation on `repo`, with a cached token.
    pub async fn client_for(&self, repo: &Repository) -> Result<GithubClient, AppError> {
        let installation = self.installation(repo).await?;
        let cached = self.lock().tokens.get(&installation).cloned();
        if let Some(cached) = cached
            && SystemTime::now() < cached.renew_at
        {
            return Ok(self.client.with_token(cached.token));
        }
        #[derive(Deserialize)]
        struct AccessToken {
            token: String,
            expires_at: String,
            #[serde(default)]
            permissions: HashMap<String, String>,
        }
        let app = self.as_app()?;
        let id = installation.get().to_string();
        let url = app.url(&["app", "installations", &id, "access_tokens"]);
        let (issued, _): (AccessToken, _) = app
            .call(
                "POST /app/installations/{id}/access_tokens",
                Method::POST,
                url,
                None::<&()>,
                // A token request creates nothing that a repeat would duplicate.
                Idempotency::Idempotent,
                Permission::None,
            )
            .await?;
        let expires = humantime::parse_rfc3339_weak(issued.expires_at.trim_end_matches('Z'))
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(60 * 60));
        let token = SecretString::from(issued.token);
        self.lock().tokens.insert(
            installation,
            CachedToken {
                token: token.clone(),
                renew_at: expires
                    .checked_sub(TOKEN_RENEW_BEFORE)
                    .unwrap_or_else(SystemTime::now),
                permissions: issued.permissions,
            },
        );
        Ok(self.client.with_token(token))
    }

    /// Whether the installation on `repo` granted the App `permission` to write (`actions`,
    /// `checks`), as its token says.
    pub async fn may_write(&self, repo: &Repository, permission: &str) -> Result<bool, AppError> {
        let installation = self.installation(repo).await?;
        let granted = |app: &Self| {
            app.lock()
                .tokens
                .get(&installation)
                .map(|t| t.permissions.get(permission).cloned())
        };
        // The last token's word, even one due for renewal: a token is minted only when none
        // was yet.
        let level = match granted(self) {
            Some(level) => level,
            None => {
                self.client_for(repo).await?;
                granted(self).flatten()
            }
        };
        Ok(level.is_some_and(|level| level == "write" || level == "admin"))
    }

    /// `GET /app/installations`: every installation of the App, with what it granted (the
    /// first 100).
    pub async fn installations(&self) -> Result<Vec<Installation>, AppError> {
        let app = self.as_app()?;
        let mut url = app.url(&["app", "installations"]);
        url.query_pairs_mut().append_pair("per_page", "100");
        let (found, _) = app
            .get("GET /app/installations", url, Permission::None)
            .await?;
        Ok(found)
    }

    /// The login the App's comments carry, `{slug}[bot]` (`GET /app`, read once).
    pub async fn bot_login(&self) -> Result<String, AppError> {
        if let Some(login) = self.lock().bot_login.clone() {
            return Ok(login);
        }
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        let app = self.as_app()?;
        let url = app.url(&["app"]);
        let (found, _): (App, _) = app.get("GET /app", url, Permission::None).await?;
        let login = format!("{}[bot]", found.slug);
        self.lock().bot_login = Some(login.clone());
        Ok(login)
    }

    /// Drops the cached token for `repo` (GitHub answered 401 to it: revoked, or expired
    /// early), so that the next [`Self::client_for`] asks for a new one.
    pub fn forget_token(&self, repo: &Repository) {
        let key = repo.to_string().to_ascii_lowercase();
        let mut cache = self.lock();
        if let Some(id) = cache.installations.remove(&key) {
            cache.tokens.remove(&id);
        }
    }

    /// One page of the App's webhook deliveries, newest first: the first page when `page` is
    /// `None`, else the `next` URL a previous page gave. Returns the next page's URL too.
    pub async fn deliveries(
        &self,
        page: Option<&str>,
    ) -> Result<(Vec<HookDelivery>, Option<String>), AppError> {
        let app = self.as_app()?;
        let url = match page {
            Some(next) => app.next_page(Some(next.to_owned())).ok_or_else(|| {
                AppError::Github(GithubError::decode(
                    "GET /app/hook/deliveries",
                    crate::api::Unreadable::Other("the next page's link is not on the API's host"),
                ))
            })?,
            None => {
                let mut url = app.url(&["app", "hook", "deliveries"]);
                url.query_pairs_mut().append_pair("per_page", "100");
                url
            }
        };
        Ok(app
            .call(
                "GET /app/hook/deliveries",
                Method::GET,
                url,
                None::<&()>,
                Idempotency::Idempotent,
                Permission::None,
            )
            .await?)
    }

    /// Asks GitHub to deliver delivery `id` again.
    pub async fn redeliver(&self, id: u64) -> Result<(), AppError> {
        let app = self.as_app()?;
        let url = app.url(&["app", "hook", "deliveries", &id.to_string(), "attempts"]);
        let _: (serde_json::Value, _) = app
            .call(
                "POST /app/hook/deliveries/{id}/attempts",
                Method::POST,
                url,
                None::<&()>,
                Idempotency::NotIdempotent,
                Permission::None,
            )
            .await?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds no invariant a panic could break half-way.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What is wrong with the App's key: jsonwebtoken's error by kind only. Its messages never
/// quote the key, but this keeps it so whatever a later version prints.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyProblem(String);

impl KeyProblem {
    fn of(error: &jsonwebtoken::errors::Error) -> Self {
        Self(key_problem(error))
    }
}

fn key_problem(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidKeyFormat => "the key's format is not valid".into(),
        ErrorKind::InvalidRsaKey(_) => "it is not a valid RSA key".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the key does not sign RS256".into()
        }
        other => format!("{other:?}")
            .split(['(', ' '])
            .next()
            .unwrap_or("unknown")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_is_refused_without_quoting_it() {
        let credentials = AppCredentials {
            app_id: AppId::new(1),
            private_key: SecretString::from(
                "-----BEGIN RSA PRIVATE KEY-----\nSECRETSECRET\n-----END RSA PRIVATE KEY-----\n"
                    .to_owned(),
            ),
        };
        let http = Http::new().unwrap();
        let error = GithubApp::new(
            &credentials,
            "https://api.github.com".parse().unwrap(),
            RetryPolicy::ACTION,
            &http,
        )
        .unwrap_err();
        // The whole chain, as the command's error shows it.
        let error = format!("{:#}", anyhow::Error::new(error));
        assert!(error.contains("not a PEM RSA private key: "), "{error}");
        assert!(!error.contains("SECRET"), "{error}");
    }

    #[test]
    fn delivery_times_parse() {
        let delivery = HookDelivery {
            id: 1,
            guid: "g".into(),
            delivered_at: "2026-12-01T10:00:00Z".into(),
            status_code: 502,
            event: "workflow_job".into(),
            action: Some("completed".into()),
        };
        let at = delivery.delivered().unwrap();
        assert_eq!(
            at.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_796_119_200
        );
    }
}
