//! Lasting media links: `{relay}/media/{token}`, where the token names one piece of media of
//! one test attempt ([`MediaRef`]) and carries an HMAC-SHA256 over that name under the secret
//! the report and the relay share (`--media-secret`). The relay checks the signature and then
//! asks Currents for a freshly signed URL, so a link works as long as Currents keeps the media.
//!
//! A token is `base64url(JSON of the reference) . base64url(HMAC)`. It holds no API key and no
//! signed Currents URL: anyone with the link can open that one piece of media, nothing else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

use crate::report::MediaRef;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The longest token accepted: a reference is a few ids, far below this.
pub const MAX_TOKEN_BYTES: usize = 1_024;

/// Why a token was refused (the answer is the same 401 whatever the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
}

/// Signs and checks media tokens. Never logged.
#[derive(Clone)]
pub struct MediaSigner {
    secret: SecretString,
}

impl std::fmt::Debug for MediaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaSigner(..)")
    }
}

impl MediaSigner {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length")
    }

    /// The token naming `media`.
    pub fn token(&self, media: &MediaRef) -> String {
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(media).expect("a MediaRef always serialises"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The reference a token names, once its signature checks out (in constant time).
    pub fn verify(&self, token: &str) -> Result<MediaRef, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
    }

    /// `{base}/media/{token}`.
    pub fn url(&self, base: &url::Url, media: &MediaRef) -> String {
        crate::http::endpoint(base, &["media", &self.token(media)]).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::MediaKind;

    fn shot() -> MediaRef {
        MediaRef {
            instance: "Qm3vT8nXcR2pLw7K".into(),
            test: "9d314e60d70d532f877a-b29c77ddb916da38bad5".into(),
            attempt: 1,
            kind: MediaKind::Screenshot,
            n: 0,
        }
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let signer = MediaSigner::new(SecretString::from("media-secret"));
        let token = signer.token(&shot());
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "URL-safe: {token}"
        );
        assert_eq!(signer.verify(&token), Ok(shot()));
        let other = MediaSigner::new(SecretString::from("another-secret"));
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));
        // Another attempt under the same signature.
        let (_, signature) = token.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&MediaRef {
                attempt: 0,
                ..shot()
            })
            .unwrap(),
        );
        assert_eq!(
            signer.verify(&format!("{forged_payload}.{signature}")),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer.verify("no-dot"), Err(TokenError::Malformed));
        assert_eq!(
            signer.verify(&"a".repeat(2_000)),
            Err(TokenError::Malformed)
        );
        assert!(!token.contains("media-secret"));
    }

    #[test]
    fn urls_keep_the_relays_path() {
        let signer = MediaSigner::new(SecretString::from("s"));
        let base: url::Url = "https://relay.example.com/currents/".parse().unwrap();
        let url = signer.url(&base, &shot());
        assert!(
            url.starts_with("https://relay.example.com/currents/media/"),
            "{url}"
        );
    }
}
