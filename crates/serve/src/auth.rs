//! Clients, their bearer tokens and scopes.
//!
//! A token is 32 random bytes, base64url, prefixed `clt_`; the configuration keeps only its
//! SHA-256 (a leaked config file gives no token). A presented token is hashed and compared
//! with every client's hash in constant time, all of them, so the time taken says nothing of
//! which client (if any) came close.

pub use crate::config::Scope;
use crate::config::{ClientConfig, LedgerName};
use base64::Engine;
use caseledger_core::ActorId;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use subtle::ConstantTimeEq;

/// A configured client.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its name (logged with every request).
    pub name: String,
    hash: [u8; 32],
    scopes: BTreeSet<Scope>,
    /// `None`: every configured ledger.
    ledgers: Option<BTreeSet<LedgerName>>,
    sign_as: BTreeSet<ActorId>,
    /// When its token stops working, if ever.
    expires: Option<jiff::Timestamp>,
    /// Requests per second (and burst), if limited.
    pub requests_per_sec: Option<u32>,
}

impl Client {
    /// From its (checked) configuration; `None` when a field does not parse (the
    /// configuration check refuses those first).
    pub fn from_config(c: &ClientConfig) -> Option<Client> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&c.token_sha256, &mut hash).ok()?;
        Some(Client {
            name: c.name.clone(),
            hash,
            scopes: c.scopes.iter().copied().collect(),
            ledgers: match &c.ledgers {
                None => None,
                Some(v) => Some(
                    v.iter()
                        .map(|l| LedgerName::new(l))
                        .collect::<Option<_>>()?,
                ),
            },
            sign_as: c
                .sign_as
                .iter()
                .map(|a| ActorId::new(a).ok())
                .collect::<Option<_>>()?,
            requests_per_sec: c.requests_per_sec,
            expires: match &c.expires {
                None => None,
                Some(e) => Some(e.parse().ok()?),
            },
        })
    }

    /// When its token expired, if it has by `now`.
    pub fn expired(&self, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        self.expires.filter(|e| *e <= now)
    }

    /// Whether it holds `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether it may use the ledger `name`.
    pub fn may_use(&self, name: &LedgerName) -> bool {
        self.ledgers.as_ref().is_none_or(|l| l.contains(name))
    }

    /// Whether the server may sign as `author` for it.
    pub fn may_sign_as(&self, author: &ActorId) -> bool {
        self.sign_as.contains(author)
    }
}

/// Per-client token buckets: a client limited to `r` requests per second holds up to `r`
/// tokens, refilled continuously at `r` per second; each request takes one.
#[derive(Default)]
pub struct RateLimiter {
    buckets: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
}

impl RateLimiter {
    /// Whether `client` may make a request at `now` (taking a token if so).
    pub fn allow(&self, client: &Client, now: std::time::Instant) -> bool {
        let Some(rate) = client.requests_per_sec else {
            return true;
        };
        let rate = f64::from(rate.max(1));
        let mut b = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = b.entry(client.name.clone()).or_insert((rate, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * rate;
        *tokens = (*tokens + refill).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// SHA-256 of a token, as the configuration stores it.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token and its hash in hex (for `token_sha256`).
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!(
        "clt_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hex::encode(token_hash(&token));
    (token, hash)
}

/// The client whose token `authorization` (the header's value) bears, if any.
pub fn authenticate<'a>(clients: &'a [Client], authorization: Option<&[u8]>) -> Option<&'a Client> {
    let token = authorization?.strip_prefix(b"Bearer ")?;
    let token = std::str::from_utf8(token).ok()?.trim();
    let presented = token_hash(token);
    let mut found = None;
    // Every hash is compared, whatever matched: no early exit.
    for c in clients {
        if bool::from(c.hash.ct_eq(&presented)) {
            found = Some(c);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(token: &str, scopes: Vec<Scope>) -> Client {
        Client::from_config(&ClientConfig {
            name: "c".into(),
            token_sha256: hex::encode(token_hash(token)),
            scopes,
            ledgers: Some(vec!["a".into()]),
            sign_as: vec!["lic".into()],
            expires: Some("2027-06-30T00:00:00Z".into()),
            requests_per_sec: Some(2),
        })
        .unwrap()
    }

    #[test]
    fn tokens_authenticate_by_hash() {
        let (token, hash) = new_token();
        assert!(token.starts_with("clt_") && token.len() > 40);
        assert_eq!(hash, hex::encode(token_hash(&token)));
        let cs = vec![client("other", vec![]), client(&token, vec![Scope::Append])];
        let h = format!("Bearer {token}");
        let c = authenticate(&cs, Some(h.as_bytes())).unwrap();
        assert!(c.may(Scope::Append) && !c.may(Scope::Admin));
        assert!(c.may_use(&LedgerName::new("a").unwrap()));
        assert!(!c.may_use(&LedgerName::new("b").unwrap()));
        assert!(c.may_sign_as(&ActorId::new("lic").unwrap()));
        assert!(authenticate(&cs, Some(b"Bearer wrong")).is_none());
        assert!(authenticate(&cs, Some(token.as_bytes())).is_none());
        assert!(authenticate(&cs, None).is_none());
        // Expiry: from the instant on, not a second before.
        let at: jiff::Timestamp = "2027-06-30T00:00:00Z".parse().unwrap();
        assert_eq!(c.expired(at - jiff::SignedDuration::from_secs(1)), None);
        assert_eq!(c.expired(at), Some(at));
    }

    #[test]
    fn a_limited_client_gets_its_rate_in_bursts_and_no_more() {
        let c = client("t", vec![]);
        let limiter = RateLimiter::default();
        let t0 = std::time::Instant::now();
        // A burst of 2, then refused until half a second has refilled one token.
        assert!(limiter.allow(&c, t0));
        assert!(limiter.allow(&c, t0));
        assert!(!limiter.allow(&c, t0));
        assert!(!limiter.allow(&c, t0 + std::time::Duration::from_millis(400)));
        assert!(limiter.allow(&c, t0 + std::time::Duration::from_millis(900)));
        assert!(!limiter.allow(&c, t0 + std::time::Duration::from_millis(900)));
        // Idle for long: the bucket holds no more than the burst.
        let later = t0 + std::time::Duration::from_secs(60);
        assert!(limiter.allow(&c, later) && limiter.allow(&c, later));
        assert!(!limiter.allow(&c, later));
        // Unlimited clients are never refused.
        let mut free = c.clone();
        free.requests_per_sec = None;
        assert!((0..100).all(|_| limiter.allow(&free, t0)));
    }
}
