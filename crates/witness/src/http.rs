//! The witness over HTTP/1.1 (axum on tokio): `POST /add-checkpoint` (C2SP tlog-witness)
//! and this project's extension `GET /latest-checkpoint/<origin>`.
//!
//! Request bodies are bounded ([`MAX_REQUEST_BYTES`], `413` beyond) and must arrive within
//! [`BODY_TIMEOUT`] (`408` otherwise). The check-and-persist step runs on a blocking
//! thread under the witness's lock (it fsyncs).

use crate::protocol::{Reply, ADD_CHECKPOINT_PATH, LATEST_CHECKPOINT_PATH, MAX_REQUEST_BYTES};
use crate::server::Witness;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a client may take to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The routes, over `witness`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route(ADD_CHECKPOINT_PATH, post(add_checkpoint))
        .route(&format!("{LATEST_CHECKPOINT_PATH}{{*origin}}"), get(latest))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(witness)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Body) -> Response {
    let bytes =
        match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_REQUEST_BYTES))
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain; charset=utf-8",
                    format!("request body larger than {MAX_REQUEST_BYTES} bytes\n"),
                )
            }
            Err(_) => {
                return text(
                    StatusCode::REQUEST_TIMEOUT,
                    "text/plain; charset=utf-8",
                    "request body too slow\n".into(),
                )
            }
        };
    let reply = tokio::task::spawn_blocking(move || w.add_checkpoint(&bytes, now()))
        .await
        .unwrap_or_else(|_| Reply::Internal("the witness failed".into()));
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, reply.content_type(), reply.body())
}

async fn latest(State(w): State<Arc<Witness>>, Path(origin): Path<String>) -> Response {
    match w.latest_checkpoint(&origin) {
        Some(note) => text(StatusCode::OK, "text/plain; charset=utf-8", note),
        None => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no checkpoint cosigned for this origin\n".into(),
        ),
    }
}

async fn serve_on(
    listener: std::net::TcpListener,
    witness: Arc<Witness>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(stop)
        .await
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
}

/// Serves `witness` on `listener` until the process ends. Killing it at any moment is
/// safe: a cosignature is answered only once its checkpoint is on disk.
pub fn serve(listener: std::net::TcpListener, witness: Arc<Witness>) -> std::io::Result<()> {
    runtime()?.block_on(serve_on(listener, witness, std::future::pending()))
}

/// A witness served on a thread of this process (tests, embedding); stopped when dropped.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Starts serving `witness` on `listener`.
    pub fn start(
        listener: std::net::TcpListener,
        witness: Arc<Witness>,
    ) -> std::io::Result<Running> {
        let addr = listener.local_addr()?;
        let rt = runtime()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(serve_on(listener, witness, async {
                let _ = rx.await;
            }))
        });
        Ok(Running {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL prefix, `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
