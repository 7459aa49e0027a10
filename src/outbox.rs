//! One client's outgoing queue: what waits to be written to its socket.
//!
//! The room pushes into it without ever waiting ([`Outbox::try_push`]); the client's
//! writer task takes everything queued in one go and writes it with one syscall
//! ([`Outbox::next_batch`]). The queue is bounded in *bytes* (`send_queue_bytes`),
//! counting both what is queued and what the writer has taken but not yet written,
//! so a client that stops reading costs at most that much memory before the room
//! drops it as "too slow".
//!
//! A `std::sync::Mutex` guards the state: it is held only for a few pointer moves
//! and never across an `.await`, which is cheaper than an async lock here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use event_listener::Event;

/// A formatted line (or several), ending in `\r\n`, shared by every recipient:
/// a broadcast is formatted once and each queue holds a pointer to it.
pub type Line = Arc<[u8]>;

/// Why a line could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue would exceed its byte bound: the client is too slow.
    Full,
    /// The queue was closed: the client is leaving.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Write what is queued, then close the connection.
    Closing,
    /// Close the connection now, dropping what is queued.
    Aborted,
}

struct State {
    lines: VecDeque<Line>,
    /// Bytes queued plus bytes taken by the writer and not yet written.
    bytes: usize,
    phase: Phase,
}

/// The bounded queue between the room and one client's writer task.
pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer when lines arrive or the phase changes.
    changed: Event,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Outbox")
            .field("lines", &state.lines.len())
            .field("bytes", &state.bytes)
            .field("phase", &state.phase)
            .finish()
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// An empty, open queue.
    pub fn new() -> Self {
        Outbox {
            state: Mutex::new(State {
                lines: VecDeque::new(),
                bytes: 0,
                phase: Phase::Open,
            }),
            changed: Event::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic halfway through an
        // update, so a poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `line` unless that would put more than `limit` bytes in flight.
    /// Returns the bytes in flight after the push (for the peak-queue statistic).
    pub fn try_push(&self, line: Line, limit: usize) -> Result<usize, PushError> {
        let mut state = self.lock();
        if state.phase != Phase::Open {
            return Err(PushError::Closed);
        }
        if state.bytes + line.len() > limit {
            return Err(PushError::Full);
        }
        state.bytes += line.len();
        let was_empty = state.lines.is_empty();
        state.lines.push_back(line);
        let bytes = state.bytes;
        drop(state);
        // Only an empty queue can have a writer waiting on it; skipping the
        // notification otherwise keeps a broadcast to thousands cheap.
        if was_empty {
            self.changed.notify(1);
        }
        Ok(bytes)
    }

    /// Like [`try_push`](Self::try_push) but ignores the byte bound: for the few
    /// last words the server owes a client it is closing anyway.
    pub fn push_final(&self, line: Line) {
        let mut state = self.lock();
        if state.phase == Phase::Open {
            state.bytes += line.len();
            state.lines.push_back(line);
            drop(state);
            self.changed.notify(1);
        }
    }

    /// After what is queued has been written, close the connection.
    pub fn close(&self) {
        let mut state = self.lock();
        if state.phase == Phase::Open {
            state.phase = Phase::Closing;
        }
        drop(state);
        self.changed.notify(1);
    }

    /// Close the connection now and drop what is queued (a slow or dead client).
    pub fn abort(&self) {
        let mut state = self.lock();
        state.phase = Phase::Aborted;
        state.lines = VecDeque::new();
        drop(state);
        self.changed.notify(1);
    }

    /// Whether the queue still accepts lines.
    pub fn is_open(&self) -> bool {
        self.lock().phase == Phase::Open
    }

    /// Bytes queued or being written.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Waits until there is something to write, then appends all of it to `buf`.
    /// Returns `false` when the connection should be closed: after a `close` once
    /// the queue is empty, or at once after an `abort`. Call
    /// [`written`](Self::written) after writing what was appended.
    pub async fn next_batch(&self, buf: &mut Vec<u8>) -> bool {
        loop {
            let lines = {
                let mut state = self.lock();
                match state.phase {
                    Phase::Aborted => return false,
                    // Take the whole queue (leaving an empty one that owns no
                    // memory) and copy outside the lock.
                    _ if !state.lines.is_empty() => std::mem::take(&mut state.lines),
                    Phase::Closing => return false,
                    Phase::Open => VecDeque::new(),
                }
            };
            if !lines.is_empty() {
                buf.reserve(lines.iter().map(|line| line.len()).sum());
                for line in lines {
                    buf.extend_from_slice(&line);
                }
                return true;
            }
            let listener = self.changed.listen();
            // Re-check after registering: a push between the check above and
            // `listen` would otherwise be missed.
            {
                let state = self.lock();
                if state.phase != Phase::Open || !state.lines.is_empty() {
                    continue;
                }
            }
            listener.await;
        }
    }

    /// The writer finished writing `n` bytes taken by `next_batch`.
    pub fn written(&self, n: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(n);
    }

    /// Resolves once the outbox has been aborted: lets the writer give up on a
    /// write that a dead client will never accept.
    pub async fn aborted(&self) {
        loop {
            if self.lock().phase == Phase::Aborted {
                return;
            }
            let listener = self.changed.listen();
            if self.lock().phase == Phase::Aborted {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Line {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn bound_counts_unwritten_bytes() {
        let outbox = Outbox::new();
        assert_eq!(outbox.try_push(line("12345"), 10), Ok(5));
        assert_eq!(outbox.try_push(line("12345"), 10), Ok(10));
        assert_eq!(outbox.try_push(line("1"), 10), Err(PushError::Full));
        let mut buf = Vec::new();
        assert!(smol::block_on(outbox.next_batch(&mut buf)));
        assert_eq!(buf, b"1234512345");
        // Taken but not yet written still counts.
        assert_eq!(outbox.try_push(line("1"), 10), Err(PushError::Full));
        outbox.written(10);
        assert_eq!(outbox.try_push(line("1"), 10), Ok(1));
    }

    #[test]
    fn close_flushes_then_ends() {
        let outbox = Outbox::new();
        outbox.try_push(line("a"), 10).unwrap();
        outbox.close();
        assert_eq!(outbox.try_push(line("b"), 10), Err(PushError::Closed));
        let mut buf = Vec::new();
        assert!(smol::block_on(outbox.next_batch(&mut buf)));
        assert_eq!(buf, b"a");
        assert!(!smol::block_on(outbox.next_batch(&mut buf)));
    }

    #[test]
    fn abort_drops_queued_lines() {
        let outbox = Outbox::new();
        outbox.try_push(line("a"), 10).unwrap();
        outbox.abort();
        let mut buf = Vec::new();
        assert!(!smol::block_on(outbox.next_batch(&mut buf)));
        assert!(buf.is_empty());
        smol::block_on(outbox.aborted());
    }

    #[test]
    fn writer_wakes_on_push_from_another_thread() {
        let outbox = Arc::new(Outbox::new());
        let pusher = Arc::clone(&outbox);
        let thread = std::thread::spawn(move || pusher.try_push(line("hi"), 10));
        let mut buf = Vec::new();
        assert!(smol::block_on(outbox.next_batch(&mut buf)));
        assert_eq!(buf, b"hi");
        thread.join().unwrap().unwrap();
    }
}
