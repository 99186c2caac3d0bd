//! The HTTP server loop: the routes, served by hyper one task per
//! connection, with a graceful stop.
//!
//! warp's own `Server::run` logs every connection that ends with an error
//! at ERROR, and a browser closing a dashboard ends its `/api/stream`
//! (SSE) connection in the middle of a response (hyper's
//! `IncompleteMessage`, or a reset): the normal end of an event stream.
//! This loop tells such ends (the client left, a malformed request) from
//! the server's own failures, logs the former at debug and only the
//! latter as warnings.

use super::App;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::error::Error as StdError;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Pause after an accept error that is not about one connection (e.g.
/// out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// Serves `app` on `listener` until `shutdown`, then lets open
/// connections finish (event streams end at shutdown by themselves).
pub async fn serve(listener: TcpListener, app: App, shutdown: CancellationToken) {
    let service = warp::service(super::routes(app));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_client_gone(&e) => continue,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(service.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                log_connection_end(&peer, e.as_ref());
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Logs a connection that ended with an error, at the level it deserves.
fn log_connection_end(peer: &std::net::SocketAddr, error: &(dyn StdError + 'static)) {
    match ConnectionEnd::of(error) {
        ConnectionEnd::ClientLeft => {
            tracing::debug!(%peer, "client closed the connection: {error}");
        }
        ConnectionEnd::BadRequest => {
            tracing::debug!(%peer, "malformed request, connection closed: {error}");
        }
        ConnectionEnd::ServerError => {
            tracing::warn!(%peer, "HTTP connection failed: {error}");
        }
    }
}

/// Why a connection ended with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectionEnd {
    /// The client went away (closed a tab, lost its network) before or
    /// while a response was sent: the normal end of an event stream.
    ClientLeft,
    /// The client sent something that is not HTTP.
    BadRequest,
    /// Anything else: our side failed.
    ServerError,
}

impl ConnectionEnd {
    fn of(error: &(dyn StdError + 'static)) -> ConnectionEnd {
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(e) = cause {
            if let Some(h) = e.downcast_ref::<hyper::Error>() {
                if h.is_incomplete_message()
                    || h.is_body_write_aborted()
                    || h.is_canceled()
                    || h.is_closed()
                    || h.is_timeout()
                {
                    return ConnectionEnd::ClientLeft;
                }
                if h.is_parse() || h.is_parse_too_large() || h.is_parse_status() {
                    return ConnectionEnd::BadRequest;
                }
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && is_client_gone(io)
            {
                return ConnectionEnd::ClientLeft;
            }
            cause = e.source();
        }
        ConnectionEnd::ServerError
    }
}

fn is_client_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_or_broken_pipe_is_the_client_leaving_other_errors_are_ours() {
        use std::io::{Error, ErrorKind};
        let cases = [
            (
                Error::from(ErrorKind::ConnectionReset),
                ConnectionEnd::ClientLeft,
            ),
            (
                Error::from(ErrorKind::BrokenPipe),
                ConnectionEnd::ClientLeft,
            ),
            (Error::other("encoder failed"), ConnectionEnd::ServerError),
        ];
        for (error, expected) in cases {
            assert_eq!(ConnectionEnd::of(&error), expected, "{error}");
        }
    }
}
