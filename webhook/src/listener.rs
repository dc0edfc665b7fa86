//! The TLS accept loop: handshake with a deadline, HTTP/2 or HTTP/1.1 as ALPN negotiated, a deadline
//! for the first request bytes and HTTP/1 headers, HTTP/2 keep-alive pings, bounded connections, and
//! a graceful drain on shutdown.
//!
//! Our own loop rather than `axum::serve` because axum's does not do TLS, handshake timeouts or
//! per-connection limits.

use crate::limits::Limits;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// First byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client on the TLS port gets, like Go's net/http does, instead of a silent close.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\nContent-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Back-off after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// How often an HTTP/2 connection is pinged, and how long the answer may take before the peer is
/// taken for gone and its connection slot freed.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP servers of a connection: HTTP/2 when ALPN chose it, HTTP/1.1 otherwise (HTTP/2 over
/// TLS needs ALPN). NB: not hyper-util's detection from the first bytes: it waits for them
/// without a deadline.
struct Protocols {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

/// Serves `app` over TLS on `listener` until `shutdown` fires, then stops accepting and waits (up to
/// `limits.drain_timeout`) for the connections' in-flight requests to finish.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    let protocols = Arc::new(Protocols {
        http1: builder.clone().http1_only(),
        http2: builder.http2_only(),
    });
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let (acceptor, protocols, app, limits, watcher) = (
            acceptor.clone(),
            protocols.clone(),
            app.clone(),
            limits.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            serve_connection(stream, peer, acceptor, &protocols, app, &limits, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "admission listener closed; draining in-flight reviews"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(limits.drain_timeout) => tracing::warn!("drain timed out; closing remaining connections"),
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    protocols: &Protocols,
    app: Router,
    limits: &Limits,
    watcher: Watcher,
) {
    let _nodelay = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    match tokio::time::timeout(limits.handshake_timeout, stream.peek(&mut first)).await {
        Ok(Ok(1..)) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(Ok(1..)) => return refuse_plain_http(stream, peer, limits).await,
        Ok(Ok(0)) | Ok(Err(_)) => return,
        Err(_) => {
            return tracing::debug!(%peer, "client sent nothing before the handshake deadline");
        }
    }
    let mut tls =
        match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
    // NB: a client that sends nothing would hold its connection slot for good (hyper's HTTP/2
    // server waits for the preface without a deadline): the first bytes have the header read
    // deadline. They stay buffered for the HTTP server.
    let first = tokio::time::timeout(limits.header_read_timeout, tls.fill_buf()).await;
    match first.map(|read| read.map(|bytes| bytes.len())) {
        Ok(Ok(1..)) => {}
        Ok(Ok(0) | Err(_)) => return,
        Err(_) => {
            return tracing::debug!(%peer, "client sent nothing before the header read deadline");
        }
    }
    let builder = match tls.get_ref().1.alpn_protocol() {
        Some(b"h2") => &protocols.http2,
        _ => &protocols.http1,
    };
    let connection = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

async fn refuse_plain_http(mut stream: TcpStream, peer: SocketAddr, limits: &Limits) {
    tracing::debug!(%peer, "plain HTTP on the TLS port refused");
    // NB: closing with the request unread would reset the connection before the client reads the
    // answer; read until the client closes (or the deadline).
    let _ignored = tokio::time::timeout(limits.handshake_timeout, async {
        stream.write_all(PLAIN_HTTP_ANSWER).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
