//! `X-Hub-Signature-256` verification: HMAC-SHA256 over the exact request bytes, tried against
//! every configured secret (so a secret can be rotated), compared in constant time.

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a delivery's signature was refused. The answer is the same 401 for all of them; the
/// variant is only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("the signature is not sha256=<64 hex digits>")]
    Malformed,
    #[error("the signature matches no configured secret")]
    Mismatch,
}

/// The webhook secrets, newest first. Never logged. Cheap to clone (the routes' state is
/// cloned for every request).
#[derive(Clone)]
pub struct WebhookSecrets(std::sync::Arc<[SecretString]>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

impl WebhookSecrets {
    /// `None` when no non-empty secret is given: the relay refuses to start unverified.
    pub fn new(secrets: Vec<SecretString>) -> Option<Self> {
        let secrets: Vec<SecretString> = secrets
            .into_iter()
            .filter(|s| !s.expose_secret().is_empty())
            .collect();
        (!secrets.is_empty()).then(|| Self(secrets.into()))
    }

    /// Checks `header` (`sha256=<hex>`) against `body`; returns the index of the secret that
    /// matched, so that logs can tell an old secret is still in use.
    pub fn verify(&self, body: &[u8], header: Option<&[u8]>) -> Result<usize, VerifyError> {
        let header = header.ok_or(VerifyError::Missing)?;
        let hex_digest = header
            .strip_prefix(b"sha256=")
            .ok_or(VerifyError::Malformed)?;
        let mut signature = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut signature).map_err(|_| VerifyError::Malformed)?;
        // Every secret is tried, so the time taken does not reveal which one matched.
        let mut matched = None;
        for (index, secret) in self.0.iter().enumerate() {
            let mut mac =
                <HmacSha256 as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
                    .expect("HMAC takes keys of any length");
            mac.update(body);
            if mac.verify_slice(&signature).is_ok() && matched.is_none() {
                matched = Some(index);
            }
        }
        matched.ok_or(VerifyError::Mismatch)
    }
}

impl WebhookSecrets {
    /// Checks a shared-secret header (Currents' webhooks carry no signature, only the custom
    /// header configured for them) against every secret; returns the matching one's index.
    /// Digests are compared, in constant time, so neither the secrets' contents nor their
    /// lengths show in the time taken.
    pub fn verify_shared(&self, header: Option<&[u8]>) -> Result<usize, VerifyError> {
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        let header = header.ok_or(VerifyError::Missing)?;
        let given = sha2::Sha256::digest(header);
        let mut matched = None;
        for (index, secret) in self.0.iter().enumerate() {
            let expected = sha2::Sha256::digest(secret.expose_secret().as_bytes());
            if bool::from(expected.as_slice().ct_eq(given.as_slice())) && matched.is_none() {
                matched = Some(index);
            }
        }
        matched.ok_or(VerifyError::Mismatch)
    }
}

/// How far an `x-timestamp` may be from now, either way: older is a replay, newer is forged.
pub const TIMESTAMP_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Whether an `x-timestamp` header (Unix epoch, in seconds or milliseconds) is within
/// [`TIMESTAMP_TOLERANCE`] of `now`.
pub fn timestamp_is_fresh(header: Option<&[u8]>, now: std::time::SystemTime) -> bool {
    let Some(value) = header
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| h.trim().parse::<u64>().ok())
    else {
        return false;
    };
    // Seconds until the year 5138; anything larger is milliseconds.
    let millis = if value < 100_000_000_000 {
        value.saturating_mul(1000)
    } else {
        value
    };
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let tolerance = u64::try_from(TIMESTAMP_TOLERANCE.as_millis()).unwrap_or(u64::MAX);
    millis.abs_diff(now) <= tolerance
}

/// `sha256=<hex>` of `body` under `secret`: what GitHub sends. For tests and tools that sign.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> WebhookSecrets {
        WebhookSecrets::new(list.iter().map(|s| SecretString::from(*s)).collect()).unwrap()
    }

    #[test]
    fn shared_secrets_match_exactly() {
        let secrets = secrets(&["new", "old"]);
        assert_eq!(secrets.verify_shared(Some(b"new")), Ok(0));
        assert_eq!(secrets.verify_shared(Some(b"old")), Ok(1));
        assert_eq!(
            secrets.verify_shared(Some(b"ne")),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            secrets.verify_shared(Some(b"new ")),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(secrets.verify_shared(None), Err(VerifyError::Missing));
    }

    #[test]
    fn timestamps_within_five_minutes_either_way() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let fresh = |h: &str| timestamp_is_fresh(Some(h.as_bytes()), now);
        assert!(fresh("1800000000"));
        assert!(fresh("1800000299"));
        assert!(fresh("1799999700"));
        assert!(fresh("1800000000123"), "milliseconds");
        assert!(!fresh("1800000301"), "future");
        assert!(!fresh("1799999699"), "stale");
        assert!(!fresh("1799999699000"), "stale, in milliseconds");
        assert!(!fresh("soon"));
        assert!(!timestamp_is_fresh(None, now));
    }

    /// GitHub's documented test vector (Validating webhook deliveries).
    #[test]
    fn githubs_test_vector() {
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            expected
        );
        let s = secrets(&["It's a Secret to Everybody"]);
        assert_eq!(s.verify(b"Hello, World!", Some(expected.as_bytes())), Ok(0));
        assert_eq!(
            s.verify(b"Hello, World?", Some(expected.as_bytes())),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rotated_secrets_each_verify() {
        let s = secrets(&["new", "old"]);
        assert_eq!(s.verify(b"x", Some(sign("old", b"x").as_bytes())), Ok(1));
        assert_eq!(s.verify(b"x", Some(sign("new", b"x").as_bytes())), Ok(0));
        assert_eq!(
            s.verify(b"x", Some(sign("other", b"x").as_bytes())),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers() {
        let s = secrets(&["k"]);
        assert_eq!(s.verify(b"x", None), Err(VerifyError::Missing));
        assert_eq!(
            s.verify(b"x", Some(b"sha1=abcd")),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            s.verify(b"x", Some(b"sha256=zz")),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            s.verify(b"x", Some(b"sha256=")),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn empty_secrets_are_refused() {
        assert!(WebhookSecrets::new(vec![SecretString::from("")]).is_none());
        assert!(WebhookSecrets::new(vec![]).is_none());
        assert!(!format!("{:?}", secrets(&["s3cr3t"])).contains("s3cr3t"));
    }
}
