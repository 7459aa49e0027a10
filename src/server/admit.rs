//! Who gets in: the per-address limit ([`AddressSlots`]), the one line a
//! turned-away client gets ([`reject`]), and what a failed accept means.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smol::future;
use smol::{Async, Timer};

use crate::{connection, debug, warn};

/// At most this many rejected connections wait for their client to read the one
/// line; beyond it a rejected connection is closed right after the line is
/// written, so a connection flood cannot make the server hold sockets for rejects.
const MAX_REJECTS_IN_FLIGHT: usize = 64;

/// How long a rejected client gets to read its one line.
const REJECT_LINGER: Duration = Duration::from_secs(2);

/// Wait before accepting again after the process ran out of file descriptors:
/// accept would fail again at once, and spinning on it would burn a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Counts connections per remote address for `max_clients_per_ip`.
#[derive(Debug, Default)]
pub(super) struct AddressSlots {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`AddressSlots`]; gives it back when dropped.
#[derive(Debug)]
pub(super) struct AddressSlot {
    slots: Arc<AddressSlots>,
    ip: IpAddr,
}

impl AddressSlots {
    /// Takes a slot for `ip` unless it already has `max`.
    pub(super) fn try_take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            slots: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Whether a failed accept means the listening socket itself is unusable (not a
/// TCP listener, closed, or invalid), so that retrying would only spin.
pub(super) fn listener_broken(err: &io::Error) -> bool {
    // EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP.
    matches!(err.raw_os_error(), Some(9 | 22 | 88 | 95))
}

/// Logs a failed accept and backs off when retrying at once would only spin.
pub(super) async fn accept_failed(err: &io::Error) {
    // EMFILE/ENFILE (too many open files) and ENOBUFS/ENOMEM persist until
    // something closes; other errors (a connection reset before accept) are
    // about one connection only.
    let raw = err.raw_os_error().unwrap_or(0);
    if matches!(raw, 23 | 24 | 105 | 12) {
        warn!(
            "accept failed: {err}; pausing {}ms",
            ACCEPT_BACKOFF.as_millis()
        );
        Timer::after(ACCEPT_BACKOFF).await;
    } else {
        debug!("accept failed: {err}");
    }
}

/// Writes a turned-away client its one line, then closes: at once when
/// [`MAX_REJECTS_IN_FLIGHT`] rejects are waiting already, else once the client
/// has read it (or [`REJECT_LINGER`] passed).
pub(super) fn reject(stream: Async<TcpStream>, why: String, in_flight: &Arc<AtomicUsize>) {
    // A fresh socket's send buffer is empty, so this write does not block, and
    // every rejected client gets its line, flood or not.
    let _ = stream.get_ref().write_all(why.as_bytes());
    let _ = stream.get_ref().shutdown(Shutdown::Write);
    if in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_REJECTS_IN_FLIGHT {
        in_flight.fetch_sub(1, Ordering::AcqRel);
        // Dropping the stream closes it. The line and the FIN are queued
        // already; only a client that had sent something unread gets a reset.
        return;
    }
    let in_flight = Arc::clone(in_flight);
    // Detached: a reject needs no flushing at shutdown, and it ends by itself
    // within REJECT_LINGER.
    crate::exec::spawn(async move {
        let client_closed = async {
            // Read until the client closes: closing with unread input would send a
            // reset, which can destroy the line before the client has it.
            let mut sink = [0u8; 512];
            loop {
                if stream.readable().await.is_err() {
                    return;
                }
                match stream.get_ref().read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        };
        let closed = future::or(
            async {
                client_closed.await;
                true
            },
            async {
                // Once the line is acknowledged, a client that holds its side
                // open (nc) is reset, so it exits instead of sitting there.
                future::or(connection::all_acknowledged(stream.get_ref()), async {
                    Timer::after(REJECT_LINGER).await;
                })
                .await;
                false
            },
        )
        .await;
        if !closed {
            connection::reset_on_close(stream.get_ref());
        }
        drop(stream);
        in_flight.fetch_sub(1, Ordering::AcqRel);
    })
    .detach();
}
