//! One client's outgoing queue: what waits to be written to its socket.
//!
//! The hub pushes into it without ever waiting ([`Outbox::push_deferred`],
//! [`Outbox::try_push`]); the client's
//! writer takes everything queued in one go ([`Outbox::next_blocks`]) and writes
//! those blocks straight from where they are, with one `writev` (no copy: a block
//! is shared by every recipient of a round). The queue is bounded in *bytes*
//! (the hub passes `send_queue_hard_bytes` as the limit), counting both what is
//! queued and what the writer has taken but not yet written, so a client that
//! stops reading costs at most that much memory before the hub drops it as "too
//! slow". The outbox also counts the bytes written over its life
//! ([`Outbox::progress`]): that is how the hub tells a client that is over the
//! soft bound but still reading from one that stopped.
//!
//! A `std::sync::Mutex` guards the state: it is held only for a few pointer moves
//! and never across an `.await`, which is cheaper than an async lock here.
//!
//! A sampled line can be followed to its write ([`Outbox::watch`]): the
//! outbox notes where in its stream the line ends, and tells the
//! [`Probe`] when the writer gets past that point, for the line-latency
//! metric. Unwatched, that costs the writer one test of an empty option.
//!
//! Exactly one task drains an outbox (the connection's task), so the state keeps a
//! single [`Waker`] rather than a list of listeners: an idle connection then costs
//! no allocation here beyond the outbox itself.
//!
//! **Writing through.** At a chatting pace most pushes find the queue empty
//! and the writer asleep. Waking it would cost a task wake-up and a poll (and,
//! with more than one thread, a wake-up across threads) only to make one
//! `write`. So the hub pushes with [`Outbox::push_deferred`], which leaves the
//! writer asleep when the queue was empty, and at the end of its round writes
//! what it queued there itself ([`Outbox::write_through`], in `write.rs`): one
//! non-blocking `writev` for all the round gave that client, as the writer
//! would have made. Whatever the socket does not take at once is left for the
//! writer, which is woken then; so is everything while the writer is busy
//! with a batch of its own, so the bytes keep their order.

mod write;

use write::rest;
pub use write::{MAX_SLICES, Position, write_ready};

use std::future::poll_fn;
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use smol::Async;

use crate::metrics::Probe;

/// What an outbox queues: one or more formatted lines, each ending in `\r\n`,
/// shared by every recipient. A broadcast is formatted once and each queue
/// holds a pointer to it; a round's broadcasts go out as one block.
pub type Block = Arc<[u8]>;

/// What [`Outbox::progress`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes in flight, as `try_push` counts them.
    pub queued: usize,
    /// Bytes written to the socket over the outbox's life; it only grows.
    pub written: u64,
}

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
    /// A `Vec`, not a `VecDeque`: the writer takes the whole queue at once,
    /// so nothing is ever taken from the front, and a `Vec` is 8 bytes
    /// smaller in every outbox.
    blocks: Vec<Block>,
    /// Bytes queued plus bytes taken by the writer and not yet written.
    bytes: usize,
    /// Bytes written to the socket since the outbox was made.
    written: u64,
    phase: Phase,
    /// The draining task, when it waits for lines or for an abort.
    waker: Option<Waker>,
    /// A sampled line being followed: whom to tell once it is written.
    probe: Option<Arc<Probe>>,
    /// Bytes still to write before that line is out. A `u32`, which fits in
    /// the padding after `phase`: the outbox stays at 88 bytes (on x86-64),
    /// and its `Arc` within glibc's 112-byte chunk (`an_outbox_stays_small`).
    probe_left: u32,
    /// A live upgrade is handing this client over: the writer stops and puts
    /// back what it took, and pushes still queue (in the padding too).
    frozen: bool,
    /// A [`push_deferred`](Outbox::push_deferred) found the queue empty and
    /// left the writer asleep: the hub writes the round through at its end.
    deferred: bool,
    /// The client's socket, for [`write_through`](Outbox::write_through). Weak:
    /// the connection's task owns the socket, and closes it when it ends; a
    /// write through then finds nothing to write to, never a descriptor
    /// number that a newer connection has taken since.
    socket: Weak<Async<TcpStream>>,
}

impl State {
    /// Counts `n` more bytes written; the probe to tell, if that got past
    /// the line it follows.
    fn wrote(&mut self, n: usize) -> Option<Arc<Probe>> {
        self.bytes = self.bytes.saturating_sub(n);
        self.written += n as u64;
        if self.probe.is_some() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.probe_left = self.probe_left.saturating_sub(n);
            if self.probe_left == 0 {
                return self.probe.take();
            }
        }
        None
    }

    /// Registers the draining task to be woken on the next change.
    fn wait(&mut self, cx: &Context<'_>) {
        match &self.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => self.waker = Some(cx.waker().clone()),
        }
    }
}

/// The bounded queue between the hub and one client's writer.
pub struct Outbox {
    state: Mutex<State>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Outbox")
            .field("blocks", &state.blocks.len())
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
                blocks: Vec::new(),
                bytes: 0,
                written: 0,
                phase: Phase::Open,
                waker: None,
                probe: None,
                probe_left: 0,
                frozen: false,
                deferred: false,
                socket: Weak::new(),
            }),
        }
    }

    /// An open queue holding `queued` (what a client had not been sent when
    /// its chatd handed it over) and having written `written` bytes over its
    /// life.
    pub fn restored(queued: Vec<u8>, written: u64) -> Self {
        let outbox = Outbox::new();
        {
            let mut state = outbox.lock();
            state.written = written;
            if !queued.is_empty() {
                state.bytes = queued.len();
                state.blocks.push(Block::from(queued));
            }
        }
        outbox
    }

    /// Stops the writer for a live upgrade: it puts back what it has not
    /// written ([`put_back`](Self::put_back)) and ends; pushes still queue.
    pub fn freeze(&self) {
        self.change(|state| state.frozen = true);
    }

    /// Undoes [`freeze`](Self::freeze) (the upgrade failed): a new writer
    /// takes up what is queued.
    pub fn thaw(&self) {
        self.lock().frozen = false;
    }

    /// Whether the outbox is frozen for an upgrade.
    pub fn is_frozen(&self) -> bool {
        self.lock().frozen
    }

    /// Gives back the part of a batch the writer had not written when it was
    /// frozen: `blocks` from block `block`, byte `offset` on, ahead of what
    /// was queued since. The byte count already includes them.
    pub fn put_back(&self, blocks: Vec<Block>, block: usize, offset: usize) {
        let mut blocks = rest(blocks, Position { block, offset });
        let mut state = self.lock();
        let newer = std::mem::take(&mut state.blocks);
        blocks.extend(newer);
        state.blocks = blocks;
    }

    /// What is queued, as one run of bytes, and the bytes written over the
    /// outbox's life: what a live upgrade hands over.
    pub fn contents(&self) -> (Vec<u8>, u64) {
        let state = self.lock();
        let mut bytes = Vec::with_capacity(state.bytes);
        for block in &state.blocks {
            bytes.extend_from_slice(block);
        }
        (bytes, state.written)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic halfway through an
        // update, so a poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` and wakes the draining task if it waits.
    fn change(&self, change: impl FnOnce(&mut State)) {
        let waker = {
            let mut state = self.lock();
            change(&mut state);
            state.waker.take()
        };
        // Woken outside the lock: the woken task may run at once on another thread.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Queues `block` unless that would put more than `limit` bytes in flight.
    /// Returns the bytes in flight after the push (for the peak-queue statistic).
    pub fn try_push(&self, block: Block, limit: usize) -> Result<usize, PushError> {
        self.push(block, limit, false).map(|(bytes, _)| bytes)
    }

    /// Gives the outbox its client's socket, for
    /// [`write_through`](Self::write_through); until then (and in tests)
    /// every push wakes the writer.
    pub fn attach(&self, socket: &Arc<Async<TcpStream>>) {
        self.lock().socket = Arc::downgrade(socket);
    }

    /// Like [`try_push`](Self::try_push), for the hub's rounds: when the
    /// queue was empty and the writer idle, the writer is left asleep and
    /// the answer says so (`true`): the caller must then call
    /// [`write_through`](Self::write_through) once its round is over. Later
    /// pushes in the same round only queue.
    pub fn push_deferred(&self, block: Block, limit: usize) -> Result<(usize, bool), PushError> {
        self.push(block, limit, true)
    }

    /// [`try_push`](Self::try_push), and with `defer`
    /// [`push_deferred`](Self::push_deferred): the bytes in flight after the
    /// push, and whether the writer was left asleep for a write-through.
    fn push(&self, block: Block, limit: usize, defer: bool) -> Result<(usize, bool), PushError> {
        let mut state = self.lock();
        if state.phase != Phase::Open {
            return Err(PushError::Closed);
        }
        if state.bytes + block.len() > limit {
            return Err(PushError::Full);
        }
        let idle = state.bytes == 0 && !state.frozen && state.socket.strong_count() > 0;
        state.bytes += block.len();
        state.blocks.push(block);
        let bytes = state.bytes;
        if defer && state.deferred {
            return Ok((bytes, false));
        }
        if defer && idle {
            state.deferred = true;
            return Ok((bytes, true));
        }
        // The task only waits on an empty queue, so only the first push after a
        // batch finds a waker: a broadcast to thousands wakes each writer once.
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok((bytes, false))
    }

    /// Bytes queued and not yet written, as `try_push` counts them.
    pub fn queued(&self) -> usize {
        self.lock().bytes
    }

    /// Bytes in flight and bytes written so far, read together: when the first
    /// stays over the soft bound while the second does not move, the client has
    /// stopped taking what it is sent.
    pub fn progress(&self) -> Progress {
        let state = self.lock();
        Progress {
            queued: state.bytes,
            written: state.written,
        }
    }

    /// Whether the hub still queues for this client: false once it closed or
    /// aborted the outbox (the client is leaving), so its unread input can go.
    pub fn is_open(&self) -> bool {
        self.lock().phase == Phase::Open
    }

    /// Like [`try_push`](Self::try_push) but ignores the byte bound: for the few
    /// last words the server owes a client it is closing anyway.
    pub fn push_final(&self, block: Block) {
        self.change(|state| {
            if state.phase == Phase::Open {
                state.bytes += block.len();
                state.blocks.push(block);
            }
        });
    }

    /// After what is queued has been written, close the connection.
    pub fn close(&self) {
        self.change(|state| {
            if state.phase == Phase::Open {
                state.phase = Phase::Closing;
            }
        });
    }

    /// Close the connection now and drop what is queued (a slow or dead client).
    pub fn abort(&self) {
        let mut probe = None;
        self.change(|state| {
            state.phase = Phase::Aborted;
            state.blocks = Vec::new();
            probe = state.probe.take();
        });
        // What was queued will never be written: the line is as far as it gets.
        if let Some(probe) = probe {
            probe.one_done();
        }
    }

    /// Follows the last line queued here to its write: `probe` is told once
    /// the writer has got past it, or the outbox is aborted. Returns false
    /// when there is nothing to follow (the writer took it already, or the
    /// outbox was aborted; or over 4 GiB are queued, past any hard bound
    /// allowed). A probe followed before is let go: only one is.
    pub fn watch(&self, probe: &Arc<Probe>) -> bool {
        let old = {
            let mut state = self.lock();
            let Ok(left) = u32::try_from(state.bytes) else {
                return false;
            };
            if state.phase == Phase::Aborted || left == 0 {
                return false;
            }
            probe.add_one();
            state.probe_left = left;
            state.probe.replace(Arc::clone(probe))
        };
        if let Some(old) = old {
            old.one_done();
        }
        true
    }

    /// Waits until there is something to write, then takes all of it (leaving an
    /// empty queue that owns no memory). Returns `None` when the connection should
    /// be closed: after a `close` once the queue is empty, or at once after an
    /// `abort`; and when the outbox is frozen ([`is_frozen`](Self::is_frozen)). Call [`written`](Self::written) as the lines get written.
    pub async fn next_blocks(&self) -> Option<Vec<Block>> {
        poll_fn(|cx| {
            let mut state = self.lock();
            match state.phase {
                Phase::Aborted => Poll::Ready(None),
                _ if state.frozen => Poll::Ready(None),
                _ if !state.blocks.is_empty() => {
                    Poll::Ready(Some(std::mem::take(&mut state.blocks)))
                }
                Phase::Closing => Poll::Ready(None),
                Phase::Open => {
                    state.wait(cx);
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The writer finished writing `n` bytes taken by `next_blocks`.
    pub fn written(&self, n: usize) {
        let followed = self.lock().wrote(n);
        if let Some(probe) = followed {
            probe.one_done();
        }
    }

    /// Resolves once the outbox has been aborted (or frozen): lets the writer
    /// give up on a write that a dead client will never accept. Must be
    /// polled by the same task that drains the outbox (they share one waker
    /// slot).
    pub async fn aborted(&self) {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.phase == Phase::Aborted || state.frozen {
                Poll::Ready(())
            } else {
                state.wait(cx);
                Poll::Pending
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Block {
        Arc::from(s.as_bytes())
    }

    /// Takes the next batch as one byte string, or None.
    fn next(outbox: &Outbox) -> Option<Vec<u8>> {
        let lines = smol::block_on(outbox.next_blocks())?;
        Some(lines.iter().flat_map(|l| l.iter().copied()).collect())
    }

    #[test]
    fn a_restored_outbox_counts_what_it_holds() {
        // What a live upgrade hands over: 7 bytes not yet written, 100 written.
        let outbox = Outbox::restored(b"abcdefg".to_vec(), 100);
        assert_eq!(
            outbox.progress(),
            Progress {
                queued: 7,
                written: 100
            }
        );
        // Against the bound as before the upgrade.
        assert_eq!(outbox.try_push(line("123"), 10), Ok(10));
        assert_eq!(outbox.try_push(line("1"), 10), Err(PushError::Full));
        assert_eq!(next(&outbox).unwrap(), b"abcdefg123");
    }

    #[test]
    fn a_frozen_writer_puts_back_what_it_did_not_write() {
        let outbox = Outbox::new();
        outbox.try_push(line("hello "), 100).unwrap();
        outbox.try_push(line("world"), 100).unwrap();
        let taken = smol::block_on(outbox.next_blocks()).unwrap();
        outbox.written(3);
        outbox.try_push(line("!"), 100).unwrap();
        outbox.freeze();
        assert!(smol::block_on(outbox.next_blocks()).is_none());
        // Three bytes of the first block were written.
        outbox.put_back(taken, 0, 3);
        assert_eq!(outbox.contents(), (b"lo world!".to_vec(), 3));
        assert_eq!(outbox.queued(), 9);
        outbox.thaw();
        assert_eq!(next(&outbox).unwrap(), b"lo world!");
    }

    #[test]
    fn bound_counts_unwritten_bytes() {
        let outbox = Outbox::new();
        assert_eq!(outbox.try_push(line("12345"), 10), Ok(5));
        assert_eq!(outbox.try_push(line("12345"), 10), Ok(10));
        assert_eq!(outbox.try_push(line("1"), 10), Err(PushError::Full));
        assert_eq!(next(&outbox).unwrap(), b"1234512345");
        // Taken but not yet written still counts.
        assert_eq!(outbox.try_push(line("1"), 10), Err(PushError::Full));
        outbox.written(10);
        assert_eq!(outbox.try_push(line("1"), 10), Ok(1));
    }

    #[test]
    fn progress_counts_what_was_written() {
        let outbox = Outbox::new();
        outbox.try_push(line("12345"), 10).unwrap();
        let before = Progress {
            queued: 5,
            written: 0,
        };
        assert_eq!(outbox.progress(), before);
        next(&outbox).unwrap();
        // Taken is not written: no progress yet.
        assert_eq!(outbox.progress(), before);
        outbox.written(3);
        let after = Progress {
            queued: 2,
            written: 3,
        };
        assert_eq!(outbox.progress(), after);
    }

    #[test]
    fn close_flushes_then_ends() {
        let outbox = Outbox::new();
        outbox.try_push(line("a"), 10).unwrap();
        outbox.close();
        assert_eq!(outbox.try_push(line("b"), 10), Err(PushError::Closed));
        assert_eq!(next(&outbox).unwrap(), b"a");
        assert_eq!(next(&outbox), None);
    }

    #[test]
    fn final_words_pass_the_bound_but_not_a_close() {
        let outbox = Outbox::new();
        outbox.try_push(line("12345"), 5).unwrap();
        outbox.push_final(line("bye"));
        outbox.close();
        outbox.push_final(line("late"));
        assert_eq!(next(&outbox).unwrap(), b"12345bye");
    }

    #[test]
    fn abort_drops_queued_lines() {
        let outbox = Outbox::new();
        outbox.try_push(line("a"), 10).unwrap();
        outbox.abort();
        assert_eq!(next(&outbox), None);
        smol::block_on(outbox.aborted());
    }

    #[test]
    fn a_watched_line_is_done_once_written_past() {
        let outbox = Outbox::new();
        outbox.try_push(line("12345"), 100).unwrap();
        let probe = Probe::new(std::time::Instant::now());
        assert!(outbox.watch(&probe));
        probe.one_done(); // the hub has handed it out
        outbox.try_push(line("later"), 100).unwrap();
        next(&outbox).unwrap();
        outbox.written(4);
        assert_eq!(
            probe.took(),
            None,
            "one byte of the line is not written yet"
        );
        outbox.written(1);
        assert!(probe.took().is_some());
        // Nothing in flight: nothing to follow.
        outbox.written(5);
        assert!(!outbox.watch(&Probe::new(std::time::Instant::now())));
    }

    #[test]
    fn an_abort_or_a_newer_probe_lets_a_watched_line_go() {
        let outbox = Outbox::new();
        outbox.try_push(line("12345"), 100).unwrap();
        let first = Probe::new(std::time::Instant::now());
        outbox.watch(&first);
        first.one_done();
        let second = Probe::new(std::time::Instant::now());
        outbox.watch(&second);
        second.one_done();
        assert!(first.took().is_some(), "replaced");
        assert_eq!(second.took(), None);
        outbox.abort();
        assert!(second.took().is_some(), "aborted");
    }

    /// Every connection has an outbox, in an `Arc`: at 88 bytes (plus the
    /// `Arc`'s two counts) it takes glibc's 112-byte chunk; 8 more would
    /// take the 128-byte one, for each of 10,000 idle clients.
    #[test]
    fn an_outbox_stays_small() {
        let size = std::mem::size_of::<Outbox>();
        assert!(size <= 88, "an outbox grew to {size} bytes");
    }

    #[test]
    fn writer_wakes_on_push_from_another_thread() {
        let outbox = Arc::new(Outbox::new());
        let pusher = Arc::clone(&outbox);
        let thread = std::thread::spawn(move || pusher.try_push(line("hi"), 10));
        assert_eq!(next(&outbox).unwrap(), b"hi");
        thread.join().unwrap().unwrap();
    }

    #[test]
    fn waiting_writer_wakes_on_abort_from_another_thread() {
        let outbox = Arc::new(Outbox::new());
        let aborter = Arc::clone(&outbox);
        let thread = std::thread::spawn(move || aborter.abort());
        smol::block_on(outbox.aborted());
        thread.join().unwrap();
    }
}
