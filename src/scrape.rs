//! Answering a request for the metrics, off the hub: [`collect`] asks the hub
//! for a [`Snapshot`](crate::metrics::Snapshot) of its counts (one event,
//! answered between two others, the way `chatd ctl stats` is), reads the
//! process's figures off the executor, and writes the text; `chatd ctl
//! metrics` and the HTTP endpoint both call it.
//!
//! The endpoint ([`serve`], on `metrics_address`) is bounded like everything
//! else, so that a scraper gone wrong, or anyone else who can reach it, costs
//! little and never the room:
//! - at most [`MAX_CONNECTIONS`] at once; one more is answered 503 at once
//!   and closed;
//! - one request per connection, its head at most
//!   [`crate::metrics::http::MAX_HEAD`] bytes (431 beyond), all of
//!   it within [`REQUEST_TIMEOUT`] (408 after);
//! - the answer written within [`ANSWER_TIMEOUT`], then the connection closed.
//!
//! It has no authentication: keep it on loopback or a private network.

use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_channel::Sender;
use async_lock::Semaphore;
use smol::future;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};

use crate::debug;
use crate::hub::Event;
use crate::metrics::http::{self, MAX_HEAD, METRICS_CONTENT_TYPE, Request, Status};
use crate::metrics::{self, Outside, process};

/// Connections the endpoint serves at once; Prometheus keeps one per target.
pub const MAX_CONNECTIONS: usize = 4;

/// How long a client has to send its whole request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the answer may take to collect and write, and the client to close.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// After the answer, input still read (and thrown away) so that closing
/// does not reset the connection before the client has read it.
const DRAIN_BYTES: usize = 64 * 1024;

/// Wait before accepting again after accept failed for want of resources.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The metrics as text, or None once the hub has closed (a shutdown).
pub async fn collect(hub: &Sender<Event>) -> Option<String> {
    let hub_queue = hub.len();
    let (reply, snapshot) = async_channel::bounded(1);
    hub.send(Event::Metrics { reply }).await.ok()?;
    let snapshot = snapshot.recv().await.ok()?;
    let process = smol::unblock(process::read).await;
    Some(metrics::render(&snapshot, &Outside { hub_queue, process }))
}

/// Binds the endpoint's address (`metrics_address`); the error names it.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))
}

/// Serves the endpoint until the task running it is dropped (with the
/// server, at shutdown).
pub async fn serve(listener: Async<TcpListener>, hub: Sender<Event>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // EBADF, EINVAL, ENOTSOCK: the socket itself is unusable.
                if matches!(err.raw_os_error(), Some(9 | 22 | 88)) {
                    crate::warn!("metrics: accept failed: {err}; no longer serving them");
                    return;
                }
                // Out of descriptors, or one connection's trouble: pause, so
                // that a persistent failure does not spin.
                debug!("metrics: accept failed: {err}");
                Timer::after(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(slot) = slots.try_acquire_arc() else {
            debug!("metrics: {peer} turned away: {MAX_CONNECTIONS} connections already");
            turn_away(stream.get_ref());
            continue;
        };
        let hub = hub.clone();
        // Detached: each ends within its timeouts, and at exit a scraper
        // only sees the connection close.
        crate::exec::spawn(async move {
            let _slot = slot;
            answer(stream, &hub).await;
            debug!("metrics: {peer} served");
        })
        .detach();
    }
}

/// Answers a connection over the cap with 503, then closes it.
fn turn_away(mut stream: &TcpStream) {
    let busy = Request {
        status: Status::Unavailable,
        head_only: false,
        why: "too many connections at once",
    };
    // A fresh socket's send buffer is empty, so the write does not block;
    // a client already gone needs no answer.
    let _ = stream.write_all(&http::error_response(busy, SystemTime::now()));
    let _ = stream.shutdown(Shutdown::Write);
}

/// Reads one request, answers it, closes.
async fn answer(stream: Async<TcpStream>, hub: &Sender<Event>) {
    let request = match with_timeout(REQUEST_TIMEOUT, read_head(&stream)).await {
        Ok(Ok(head)) => http::route(&head),
        Ok(Err(status)) => refused(status),
        Err(_) => refused(Status::RequestTimeout),
    };
    let sent = with_timeout(ANSWER_TIMEOUT, async {
        let response = respond(request, hub).await;
        let mut writer = &stream;
        writer.write_all(&response).await?;
        stream.get_ref().shutdown(Shutdown::Write)?;
        // Read until the client closes (within bounds): closing with unread
        // input would reset the connection, and the client might lose the
        // answer before reading it.
        let mut sink = [0u8; 4096];
        let mut reader = &stream;
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            match reader.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), io::Error>(())
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(err)) => debug!("metrics: answer not delivered: {err}"),
        Err(_) => debug!("metrics: answer not taken within {ANSWER_TIMEOUT:?}"),
    }
}

/// The response to `request`: the metrics, or the error it is refused with.
async fn respond(request: Request, hub: &Sender<Event>) -> Vec<u8> {
    if request.status != Status::Ok {
        return http::error_response(request, SystemTime::now());
    }
    match collect(hub).await {
        Some(text) => http::response(
            Status::Ok,
            METRICS_CONTENT_TYPE,
            &text,
            request.head_only,
            SystemTime::now(),
        ),
        None => http::error_response(
            Request {
                why: "chatd is shutting down",
                ..refused(Status::Unavailable)
            },
            SystemTime::now(),
        ),
    }
}

/// A request refused with `status` before it was understood.
fn refused(status: Status) -> Request {
    let why = match status {
        Status::RequestTimeout => "no complete request head within 5 seconds",
        Status::HeadTooLarge => "the request head is over 8192 bytes",
        _ => "the request head ended early",
    };
    Request {
        status,
        head_only: false,
        why,
    }
}

/// The request head, up to its blank line; or the status that refuses it:
/// over [`MAX_HEAD`] bytes, or the client closed before the end of it.
async fn read_head(stream: &Async<TcpStream>) -> Result<Vec<u8>, Status> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = http::head_end(&buffer) {
            buffer.truncate(end);
            return Ok(buffer);
        }
        if buffer.len() > MAX_HEAD {
            return Err(Status::HeadTooLarge);
        }
        // Never more than one byte past the limit: enough to tell.
        let room = (MAX_HEAD + 1 - buffer.len()).min(chunk.len());
        let mut reader = stream;
        match reader.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Err(Status::BadRequest),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// `work`, or `Err(TimedOut)` once `limit` has passed.
async fn with_timeout<T>(limit: Duration, work: impl Future<Output = T>) -> Result<T, ErrorKind> {
    future::or(async { Ok(work.await) }, async {
        Timer::after(limit).await;
        Err(ErrorKind::TimedOut)
    })
    .await
}
