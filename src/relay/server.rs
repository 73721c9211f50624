//! Serving a router over TCP with the limits a public endpoint needs: a deadline for request
//! headers (which also closes idle keep-alive connections), a cap on open connections below the
//! process's file-descriptor limit, a cap on HTTP/2 streams, quick 503s past the cap, throttled
//! accept errors, and a graceful shutdown that ends at a deadline.
//!
//! `axum::serve` has no timer, so hyper's header timeout never applies there; hence hyper-util's
//! connection builder here.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::metrics::Metrics;

/// How long a client may take to send a request's headers, and how long a keep-alive
/// connection may sit idle. GitHub sends a delivery at once; a client that trickles headers is
/// holding a connection, not sending a webhook.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP/2 streams per connection: GitHub uses one at a time.
const MAX_H2_STREAMS: u32 = 32;

/// File descriptors kept for everything but client connections: the listeners, the database,
/// outbound calls to Currents, logs.
#[cfg(unix)]
const RESERVED_FDS: u64 = 64;

/// How long a refused connection gets to read its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait after a failed accept (out of file descriptors, say) before the next: the
/// error repeats until a connection closes, and a busy loop would only burn a core.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The most connections to serve at once: `wanted`, but never more than the file-descriptor
/// limit allows (after raising the soft limit to the hard one, as Go's runtime does).
pub fn connection_cap(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        let _ = rlimit::increase_nofile_limit(u64::MAX);
        if let Ok((soft, _)) = rlimit::Resource::NOFILE.get() {
            let usable = usize::try_from(soft.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
            return wanted.min(usable.max(1));
        }
    }
    wanted
}

/// Serves `app` on `listener` until `shutdown`, then stops accepting and gives open requests
/// until `deadline` to finish; what is still open then is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    deadline: Duration,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .keep_alive_interval(Some(HEADER_READ_TIMEOUT))
        .keep_alive_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer),
                Err(error) => {
                    metrics.connection_refused("accept_error");
                    tracing::warn!(error = %crate::log_safe::Chain(&error), "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics.connection_refused("over_capacity");
            tracing::warn!(max_connections, "too many open connections; answering 503");
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            TowerToHyperService::new(app.map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                // For the per-client limits (`/media`), as axum's `ConnectInfo`.
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            }));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a timeout); nothing to do about them.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(deadline) => {
            tracing::warn!("shutdown deadline reached; closing the connections still open");
        }
    }
    Ok(())
}

/// Answers 503 on a connection over the cap, without reading it, and closes it.
async fn refuse(mut stream: TcpStream) {
    let answer = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nconnection: close\r\nretry-after: 1\r\n\r\nover capacity";
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        let _ = stream.write_all(answer).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
