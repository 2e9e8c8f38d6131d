//! What every handler shares (a leaf module: the routes of [`crate::http`] and
//! [`crate::tiles`] both use it): the server's state, the token-and-scope check, running
//! a closure with an open ledger, and the client's name for the log line.

use crate::auth::{authenticate, Client, Scope};
use crate::config::{Config, ConfigError, LedgerName};
use crate::error::ApiError;
use crate::pool::{Handle, Pool, PoolError};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Listening or serving.
    #[error("{0}")]
    Io(String),
}

/// What every handler shares.
pub struct AppState {
    pub(crate) clients: Vec<Client>,
    pub(crate) pool: Pool,
    pub(crate) max_body: usize,
    pub(crate) max_batch: usize,
    pub(crate) timeout: Duration,
    pub(crate) next_id: AtomicU64,
    pub(crate) rates: crate::auth::RateLimiter,
}

pub(crate) type St = State<Arc<AppState>>;

impl AppState {
    /// The state for a checked configuration.
    pub fn new(config: &Config) -> Result<AppState, ServeError> {
        let clients = config
            .clients
            .iter()
            .map(Client::from_config)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ServeError::Io("a client's configuration does not parse".into()))?;
        let ledgers = config
            .ledgers
            .iter()
            .filter_map(|(n, c)| LedgerName::new(n).map(|n| (n, c.clone())))
            .collect();
        let l = &config.limits;
        Ok(AppState {
            clients,
            pool: Pool::new(
                ledgers,
                l.max_open_ledgers,
                l.ledger_cache_mib.saturating_mul(1 << 20),
                Duration::from_secs(l.idle_close_secs),
            ),
            max_body: l.max_body_bytes,
            max_batch: l.max_batch,
            timeout: Duration::from_secs(l.request_timeout_secs),
            next_id: AtomicU64::new(1),
            rates: crate::auth::RateLimiter::default(),
        })
    }
}

/// The client a handler found (for the log line).
#[derive(Clone)]
pub(crate) struct ClientName(pub(crate) String);

/// An answer tagged with the client's name for the log.
pub(crate) fn tagged(client: &Client, r: impl IntoResponse) -> Response {
    let mut r = r.into_response();
    r.extensions_mut().insert(ClientName(client.name.clone()));
    r
}

/// Token, ledger name, scope, the client's ledgers, configured ledger: the client.
pub(crate) fn authorise<'a>(
    s: &'a AppState,
    headers: &HeaderMap,
    name: &str,
    scope: Scope,
) -> Result<(&'a Client, LedgerName), ApiError> {
    let client = authenticate(
        &s.clients,
        headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    )
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    })?;
    if let Some(at) = client.expired(jiff::Timestamp::now()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("this token expired at {at}; the server's operator issues a new one"),
        ));
    }
    if !s.rates.allow(client, Instant::now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this client's requests_per_sec is used up; retry after the Retry-After seconds",
        ));
    }
    let name = LedgerName::new(name)
        .ok_or_else(|| ApiError::bad("ledger name: 1-64 of a-z, 0-9 and '-' (not first)"))?;
    if !client.may(scope) {
        return Err(ApiError::forbidden(format!(
            "this client lacks the scope {}",
            scope.name()
        )));
    }
    if !client.may_use(&name) || !s.pool.knows(&name) {
        // One answer for both: a client learns nothing of ledgers it may not use.
        return Err(if s.pool.knows(&name) {
            ApiError::forbidden("this client may not use this ledger")
        } else {
            ApiError::not_found("no ledger of this name is served")
        });
    }
    Ok((client, name))
}

/// Runs `f` with the ledger on a blocking thread.
pub(crate) async fn with_ledger<T: Send + 'static>(
    s: &Arc<AppState>,
    name: LedgerName,
    f: impl FnOnce(Handle) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || {
        let h = s.pool.get(&name).map_err(|e| match e {
            PoolError::Unknown => ApiError::not_found("no ledger of this name is served"),
            PoolError::Full(n) => ApiError::busy(format!(
                "{n} ledgers are open and all in use; retry shortly"
            )),
            PoolError::Store(e) => ApiError::store(&e),
            PoolError::Keys(why) => {
                tracing::error!(ledger = %name, error = %why, "opening a ledger");
                ApiError::internal()
            }
        })?;
        let r = f(h);
        if crate::error::failed_full(&r) {
            s.pool.discard(&name);
        }
        r
    })
    .await
    .map_err(|_| ApiError::internal())?
}
