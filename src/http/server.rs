//! The HTTP/1.1 server loop: accepts connections, gives each request the peer's address, and protects the
//! process from slow or many clients.
//!
//! Why not `axum::serve`: it sets no timer, so a client that sends half a request head (or opens a keep-alive
//! connection and says nothing) holds its connection and file descriptor forever, and it has no cap on
//! connections; 1,100 such clients once exhausted a 1,024-descriptor limit and the server stopped accepting,
//! losing Twilio's webhooks (Twilio does not retry them). Here:
//! - a request head must arrive within `http.header_read_timeout_secs`, and a keep-alive connection that sends
//!   no new request within that time is closed (hyper starts the same timer whenever it waits for a head);
//! - at most `http.max_connections` connections are open at once (never more than the descriptor limit leaves
//!   room for): past it a new connection is closed at once, and the log says so (at most every 10 s);
//! - the soft limit on open files is raised to the hard limit at start-up where the system allows;
//! - on shutdown the connections already waiting in the backlog are answered once, then no connection is
//!   accepted (a load balancer gets "refused" and tries another node), requests in flight finish (at most
//!   30 s), and live WebSockets are closed with a reconnect hint (`live::RESTARTING`).
//!
//! HTTP/2 is not served: Twilio and browsers reach Switchboard over HTTP/1.1 (TLS ends at the reverse proxy).

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// How the server treats its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Descriptors kept for everything but client connections (the database pool, media files, the embedded
/// cluster's pipes, logs).
const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the soft limit on open files to the hard limit; returns the soft limit now in force.
pub fn raise_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the limit on open files");
                return Some(hard);
            }
            Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the limit on open files"),
        }
    }
    Some(soft)
}

/// The connection cap in force: the configured one, lowered to what the descriptor limit leaves room for.
pub fn connection_cap(configured: usize, file_limit: Option<u64>) -> usize {
    match file_limit {
        Some(limit) => configured.min(limit.saturating_sub(RESERVED_DESCRIPTORS).max(16) as usize),
        None => configured,
    }
}

/// Serves `app` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut last_cap_log: Option<Instant> = None;
    let serve = |stream: tokio::net::TcpStream, peer, permit, draining: bool| {
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // Told when a request begins on this connection (see the shutdown arm below).
        let began = Arc::new(tokio::sync::Notify::new());
        let service = {
            let began = began.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                began.notify_one();
                request.extensions_mut().insert(ConnectInfo(peer));
                let mut app = app.clone();
                async move { app.call(request).await }
            })
        };
        let mut http = http.clone();
        // A connection taken from the backlog while stopping has its request answered, then closes.
        http.keep_alive(!draining);
        let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut served_one = false;
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    _ = began.notified(), if !served_one => served_one = true,
                    _ = shutdown.cancelled(), if !draining => {
                        // A connection accepted just before the stop has a request on its way (the client or
                        // the load balancer chose this node): wait for it to begin (hyper's header timeout
                        // bounds the wait) rather than close an idle-looking connection under it.
                        if !served_one {
                            tokio::select! {
                                ended = connection.as_mut() => break ended,
                                _ = began.notified() => {}
                            }
                        }
                        // The request in flight finishes; the connection then closes.
                        connection.as_mut().graceful_shutdown();
                        break connection.await;
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    };
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if last_cap_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                last_cap_log = Some(Instant::now());
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached: new connections are closed until open ones end (http.max_connections)"
                );
            }
            drop(stream);
            continue;
        };
        serve(stream, peer, permit, false);
    }
    // Connections the kernel completed but nobody accepted yet would be reset when the listener closes: a
    // client (or the load balancer in front) already sent its request on them. Each gets its one answer; once
    // the listener is closed, new connections are refused and a load balancer tries another node. Accepted
    // with the system call itself: tokio's accept trusts its last readiness event and may not see them.
    let listener = listener.into_std()?;
    listener.set_nonblocking(true)?;
    while let Ok((stream, peer)) = listener.accept() {
        let Ok(stream) = stream.set_nonblocking(true).and_then(|()| tokio::net::TcpStream::from_std(stream)) else {
            continue;
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => serve(stream, peer, permit, true),
            Err(_) => drop(stream),
        }
    }
    drop(listener);
    // Every connection gives its permit back when it ends; one still busy after 30 s ends with the process.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(Duration::from_secs(30), permits.acquire_many(all)).await.is_err() {
        tracing::warn!("some connections did not finish within 30 s of shutdown");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_everything_else_under_the_descriptor_limit() {
        assert_eq!(connection_cap(10_000, Some(1024)), 768);
        assert_eq!(connection_cap(500, Some(1024)), 500);
        assert_eq!(connection_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(connection_cap(10_000, Some(100)), 16);
        assert_eq!(connection_cap(10_000, None), 10_000);
    }
}
