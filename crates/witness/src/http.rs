//! The witness over HTTP/1.1 (axum on tokio): `POST /add-checkpoint` (C2SP tlog-witness)
//! and this project's extension `GET /latest-checkpoint/<origin>`.
//!
//! Request bodies are bounded ([`MAX_REQUEST_BYTES`], `413` beyond) and must arrive within
//! [`BODY_TIMEOUT`] (`408` otherwise). The check-and-persist step runs on a blocking
//! thread under the witness's lock (it fsyncs).
//!
//! Connections are bounded too ([`Limits`]): each is closed [`Limits::lifetime`] after it
//! was accepted, whatever it is doing (a client that sends its headers a byte at a time,
//! slowloris, or never sends them, is cut off then; hyper has no header timeout here), and
//! at most [`Limits::connections`] are served at once (more wait in the kernel's backlog),
//! so slow clients cannot hold the witness's memory or file descriptors.

use crate::protocol::{Reply, ADD_CHECKPOINT_PATH, LATEST_CHECKPOINT_PATH, MAX_REQUEST_BYTES};
use crate::server::Witness;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a client may take to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may stay open after it was accepted, headers, body, the
    /// answer and keep-alive included: a witness request takes milliseconds.
    pub lifetime: Duration,
    /// How many connections are served at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            lifetime: Duration::from_secs(30),
            connections: 256,
        }
    }
}

/// A listener whose connections end at their deadline and are counted.
struct Bounded {
    inner: tokio::net::TcpListener,
    limits: Limits,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for Bounded {
    type Io = Deadline;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Deadline, SocketAddr) {
        // The semaphore is never closed, so this is always a permit.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    let sleep = Box::pin(tokio::time::sleep(self.limits.lifetime));
                    return (
                        Deadline {
                            io,
                            sleep,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: wait, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that fails every read and write once its deadline has passed (hyper then
/// drops it), holding its slot among [`Limits::connections`] until dropped.
struct Deadline {
    io: tokio::net::TcpStream,
    sleep: Pin<Box<tokio::time::Sleep>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Deadline {
    /// `Err` once the deadline has passed; otherwise the task is woken at the deadline.
    fn check(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection open longer than the witness allows",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for Deadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if let Err(e) = me.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut me.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        if let Err(e) = me.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut me.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

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
    limits: Limits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = Bounded {
        inner: tokio::net::TcpListener::from_std(listener)?,
        limits,
        permits: Arc::new(Semaphore::new(limits.connections.max(1))),
    };
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
    runtime()?.block_on(serve_on(
        listener,
        witness,
        Limits::default(),
        std::future::pending(),
    ))
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
        Running::start_with(listener, witness, Limits::default())
    }

    /// Starts serving `witness` on `listener` within `limits`.
    pub fn start_with(
        listener: std::net::TcpListener,
        witness: Arc<Witness>,
        limits: Limits,
    ) -> std::io::Result<Running> {
        let addr = listener.local_addr()?;
        let rt = runtime()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(serve_on(listener, witness, limits, async {
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
