//! One client connection: a reader that turns socket bytes into hub events, and a
//! writer that drains the client's [`Outbox`] into the socket.
//!
//! Both run inside one task per connection. The reader pauses (stops reading)
//! when flood control says so or when the hub's event channel is full, so a
//! fast sender slows itself down instead of growing any queue. The writer writes
//! everything queued in one go and gives up at once when the hub aborts the
//! outbox, so a client that never reads cannot hold anything up.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Sender;
use smol::Async;
use smol::future;

use crate::config::{Config, LiveConfig};
use crate::debug;
use crate::hub::{ClientId, Event, SharedCounters};
use crate::input::Pending;
use crate::input::{Handed, Input};
use crate::outbox::{Outbox, Position, write_ready};
use crate::protocol::{Frame, TIMING_MARK_REPLY};
use crate::text::LeaveReason;

/// Bytes read from a socket at a time. The read goes to a stack buffer that is
/// never part of an idle connection's future; what the hub has not yet taken
/// waits as at most this many bytes.
const READ_CHUNK: usize = 4096;

/// After the server's side is closed, how long a client that keeps its own side
/// open gets to acknowledge the last bytes before the connection is reset anyway.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// How often the last bytes' acknowledgement is checked meanwhile.
const ACK_POLL: Duration = Duration::from_millis(10);

/// Serves one connection until both its reader and its writer are done, or
/// until a live upgrade freezes its outbox: then it hands the hub its socket
/// and its reader's [`Input`] ([`Event::Frozen`]) and ends. `input`: the
/// reader's state as the old chatd handed it over (None for a new connection).
/// `guards`: what the connection holds while it lasts (its place under the
/// server's limits), dropped when it ends.
///
/// When the server ends the conversation (`/quit`, kick, shutdown, too slow), the
/// writer sends everything and then a FIN. telnet and `chat` close at once on it;
/// `nc` and `ncat` keep their side open until the user presses Enter, so once the
/// client's kernel has acknowledged every byte (nothing can be lost any more) the
/// connection is reset, which makes them exit after showing the last line.
#[allow(clippy::too_many_arguments)] // One connection's every part, each owned here.
pub fn serve<G: Send + 'static>(
    id: ClientId,
    stream: Arc<Async<TcpStream>>,
    outbox: Arc<Outbox>,
    hub: Sender<Event>,
    live: Arc<LiveConfig>,
    counters: Arc<SharedCounters>,
    input: Option<Box<Input>>,
    guards: G,
) -> impl Future<Output = ()> + Send + 'static {
    // The hub writes a round through to an idle client itself (see the outbox).
    outbox.attach(&stream);
    let (generation, config) = live.get();
    let mut reader = Reader {
        id,
        hub,
        counters,
        input: match input {
            // Settings come from this chatd's config, not the old one's.
            Some(mut input) => {
                input.bucket.reconfigure(&config);
                input.framer.set_max_line_bytes(config.max_line_bytes);
                *input
            }
            None => Input::new(&config),
        },
        generation,
        config,
        live,
    };
    // An async block, not an async fn: what it captures is kept once, where
    // an async fn would keep its arguments beside what is made of them, for
    // the whole life of every connection.
    async move {
        let id = reader.id;
        let frozen = {
            let mut reading = pin!(read_from_client(&mut reader, &outbox, &stream));
            let mut writing = pin!(write_to_client(&stream, &outbox));
            let first = future::or(
                async {
                    reading.as_mut().await;
                    None
                },
                async { Some(writing.as_mut().await) },
            )
            .await;
            match first {
                // The hub learns of it and closes the outbox, which ends the
                // writer (frozen or not: the hub forgets this client either way).
                None => {
                    writing.await;
                    false
                }
                // The reader stops wherever it is: every state it can be in is
                // kept in `reader.input` (see `Reader::hand_on`).
                Some(WriterEnd::Frozen) => true,
                Some(WriterEnd::Closed) => {
                    // The server's side is closed: wait for the client to close
                    // too, or for it to have acknowledged everything (then
                    // reset, so that `nc` exits).
                    let client_closed = future::or(
                        async {
                            reading.as_mut().await;
                            true
                        },
                        async {
                            // Boxed: the timers of this last phase would otherwise
                            // make every connection's future bigger for its whole life.
                            Box::pin(future::or(all_acknowledged(stream.get_ref()), async {
                                smol::Timer::after(CLOSE_LINGER).await;
                            }))
                            .await;
                            false
                        },
                    )
                    .await;
                    if !client_closed {
                        reset_on_close(stream.get_ref());
                        // Ending the reading side ends the reader now.
                        let _ = stream.get_ref().shutdown(Shutdown::Read);
                        reading.await;
                    }
                    false
                }
            }
        };
        if frozen {
            let handed = Box::new(Handed {
                stream,
                outbox: Arc::clone(&outbox),
                input: reader.input,
            });
            // After every line this reader sent: the hub has them all first. If
            // the hub is gone, the server is gone too. Boxed: the send's state
            // is paid for once, by a connection being handed over, not by every
            // connection's future all its life.
            let hub = reader.hub;
            let _ = Box::pin(hub.send(Event::Frozen { id, handed })).await;
        }
        drop(guards);
        debug!("closed client {id}");
    }
}

/// Makes closing `stream` send a reset (a zero linger) instead of waiting on
/// the client. Call it only once everything sent is acknowledged: a reset
/// discards what the peer has not acknowledged yet, though not what it has
/// (on Linux the client still reads that, then sees its end).
pub(crate) fn reset_on_close(stream: &TcpStream) {
    let _ = rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO));
}

/// Returns once the peer has acknowledged everything sent on `stream`.
pub(crate) async fn all_acknowledged(stream: &TcpStream) {
    while unacknowledged_bytes(stream) > 0 {
        smol::Timer::after(ACK_POLL).await;
    }
}

/// Bytes sent on `stream` that the peer has not acknowledged yet, or not sent
/// yet (SIOCOUTQ); 0 if the kernel cannot tell.
///
/// The daemon's second `unsafe` (after taking systemd's socket): rustix has no
/// safe wrapper for SIOCOUTQ, and a fixed wait instead would either lose the
/// last line on a slow link or hold every closing connection for seconds.
#[allow(unsafe_code)]
fn unacknowledged_bytes(stream: &TcpStream) -> i32 {
    // SIOCOUTQ has the number of TIOCOUTQ on Linux.
    const SIOCOUTQ: rustix::ioctl::Opcode = 0x5411;
    // SAFETY: SIOCOUTQ writes one int, which is what the Getter provides room for.
    let getter = unsafe { rustix::ioctl::Getter::<SIOCOUTQ, i32>::new() };
    // SAFETY: the fd is a TCP socket, for which SIOCOUTQ is defined.
    unsafe { rustix::ioctl::ioctl(stream, getter) }.unwrap_or(0)
}

/// Reads lines and sends them to the hub until EOF, an error, or the hub is gone.
///
/// An idle connection waits at `readable()` with only the [`Reader`]'s few words
/// in its future. Handing lines on (framing, flood waits, a full hub queue) is
/// a future of its own, boxed for as long as it runs: were it inlined, every
/// connection's future would be sized for its largest state, idle or not.
///
/// The future may be dropped at any await (a live upgrade freezes the
/// connection): what was read and not yet handed on stays in `reader.input`.
async fn read_from_client(reader: &mut Reader, outbox: &Outbox, stream: &Async<TcpStream>) {
    let id = reader.id;
    let reason = loop {
        // Input an old chatd had not handed on when it froze goes first.
        if reader.input.pending.is_some() && Box::pin(reader.hand_on(outbox, false)).await.is_err()
        {
            return;
        }
        if let Err(err) = stream.readable().await {
            break LeaveReason::Error(err.to_string());
        }
        reader.reload();
        let eof = {
            let mut chunk = [0u8; READ_CHUNK];
            match stream.get_ref().read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    reader.input.pending = Some(Box::new(Pending {
                        unframed: chunk[..n].to_vec(),
                        ..Pending::default()
                    }));
                    false
                }
                Err(err)
                    if err.kind() == io::ErrorKind::WouldBlock
                        || err.kind() == io::ErrorKind::Interrupted =>
                {
                    continue;
                }
                Err(err) => break LeaveReason::Error(err.to_string()),
            }
        };
        if eof {
            reader.input.pending.get_or_insert_default();
        }
        if Box::pin(reader.hand_on(outbox, eof)).await.is_err() {
            return; // The hub has closed: the server is shutting down.
        }
        if eof {
            break LeaveReason::Closed;
        }
    };
    // Ignored if the hub has already closed: then nobody is left to tell.
    let _ = reader.hub.send(Event::Disconnected { id, reason }).await;
}

/// The reading half: its state ([`Input`]) and what it talks to (and its
/// outbox, for telnet's timing marks and to know when to stop, passed in).
struct Reader {
    id: ClientId,
    hub: Sender<Event>,
    /// Where the lines flood control holds back are counted.
    counters: Arc<SharedCounters>,
    input: Input,
    /// The config generation `config` was taken at.
    generation: u64,
    config: Arc<Config>,
    live: Arc<LiveConfig>,
}

/// The hub's event channel has closed.
struct HubClosed;

impl Reader {
    /// Takes up a reloaded config, if there is one.
    fn reload(&mut self) {
        if self.live.generation() != self.generation {
            (self.generation, self.config) = self.live.get();
            self.input
                .framer
                .set_max_line_bytes(self.config.max_line_bytes);
            self.input.bucket.reconfigure(&self.config);
        }
    }

    /// Sends `event` to the hub. The fast way moves it; when the hub's queue
    /// is full, a copy of a line waits in the frame it came from until the
    /// send completes, so that dropping this future mid-wait (an upgrade)
    /// loses nothing.
    async fn send(&mut self, event: Event) -> Result<(), HubClosed> {
        let event = match self.hub.try_send(event) {
            Ok(()) => return Ok(()),
            Err(async_channel::TrySendError::Closed(_)) => return Err(HubClosed),
            Err(async_channel::TrySendError::Full(event)) => event,
        };
        if let (Event::Line { text, .. }, Some(pending)) =
            (&event, self.input.pending.as_deref_mut())
            && let Some(Frame::Line(kept)) = pending.frames.front_mut()
            && kept.is_empty()
        {
            kept.clone_from(text);
        }
        self.hub.send(event).await.map_err(|_| HubClosed)
    }

    /// Frames what was read and sends the hub each line in turn (waiting for
    /// flood control and for room in the hub's queue). `eof`: the client has
    /// closed, so an unterminated last line counts too.
    ///
    /// May be dropped at any await: a line leaves `pending.frames` only once
    /// the hub has it, and its flood token is remembered (`admitted`).
    async fn hand_on(&mut self, outbox: &Outbox, eof: bool) -> Result<(), HubClosed> {
        loop {
            let Some(pending) = self.input.pending.as_deref_mut() else {
                return Ok(());
            };
            if pending.frames.is_empty() {
                if pending.pos < pending.unframed.len() {
                    // Up to the next newline only: lines are framed as they are handed on.
                    let rest = &pending.unframed[pending.pos..];
                    let end = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    let frames = &mut pending.frames;
                    self.input
                        .framer
                        .push(&rest[..end], &mut |frame| frames.push_back(frame));
                    pending.pos += end;
                } else {
                    if eof {
                        // A last line without its newline still counts: nothing is lost.
                        let frames = &mut pending.frames;
                        self.input
                            .framer
                            .finish(&mut |frame| frames.push_back(frame));
                    }
                    if pending.frames.is_empty() {
                        // An idle connection keeps no input buffers.
                        self.input.pending = None;
                        self.input.framer.shrink();
                        return Ok(());
                    }
                }
                self.answer_timing_marks(outbox);
                continue;
            }
            // Once the hub has closed this client's outbox (kicked, banned,
            // quit, too slow), nothing it sent after is heard: a spammer's
            // pasted lines stop with it instead of trickling out through
            // flood control.
            if !outbox.is_open() {
                self.input.pending = None;
                return Ok(());
            }
            let event = match pending.frames.front_mut() {
                // Blank lines mean nothing to the hub; they need not cost a token.
                Some(Frame::Line(text)) if text.trim().is_empty() => {
                    pending.frames.pop_front();
                    continue;
                }
                Some(Frame::Line(_)) => {
                    let now = self.admit().await?;
                    let Some(pending) = self.input.pending.as_deref_mut() else {
                        return Ok(());
                    };
                    let Some(Frame::Line(text)) = pending.frames.front_mut() else {
                        return Ok(());
                    };
                    Event::Line {
                        id: self.id,
                        text: std::mem::take(text),
                        at: now,
                    }
                }
                Some(Frame::TooLong) | None => Event::TooLong { id: self.id },
            };
            self.send(event).await?;
            if let Some(pending) = self.input.pending.as_deref_mut() {
                pending.frames.pop_front();
                pending.admitted = false;
            }
        }
    }

    /// Waits until flood control lets the first framed line through, and
    /// returns when that was (the line's arrival, for the latency metric).
    async fn admit(&mut self) -> Result<Instant, HubClosed> {
        let mut now = Instant::now();
        if self.input.pending.as_ref().is_some_and(|p| p.admitted) {
            return Ok(now);
        }
        let bucket = &mut self.input.bucket;
        if self.input.told_held && bucket.is_full(now) {
            self.input.told_held = false;
        }
        if let Some(mut wait) = bucket.take(now) {
            // Counted once per line, however many waits it takes.
            self.counters.flood_held();
            if !self.input.told_held {
                // Once per burst, the sender learns why its lines trickle
                // out: this one, the framed ones after it, and those read
                // but not framed yet.
                let waiting = self.input.pending.as_deref().map_or(1, |p| {
                    p.frames.len() + p.unframed[p.pos..].iter().filter(|&&b| b == b'\n').count()
                });
                let held = Event::FloodHeld {
                    id: self.id,
                    waiting,
                };
                self.send(held).await?;
                self.input.told_held = true;
            }
            loop {
                smol::Timer::after(wait).await;
                now = Instant::now();
                match self.input.bucket.take(now) {
                    None => break,
                    Some(more) => wait = more,
                }
            }
        }
        if let Some(pending) = self.input.pending.as_deref_mut() {
            pending.admitted = true;
        }
        Ok(now)
    }

    /// Answers telnet's timing-mark requests seen so far. One answer is
    /// enough to resynchronise telnet. It goes straight to the outbox (not
    /// through the hub: it is not chat) and within the queue's soft bound, so
    /// a flood of requests cannot grow memory; a full or closed queue needs
    /// no answer.
    fn answer_timing_marks(&mut self, outbox: &Outbox) {
        if self.input.framer.take_timing_marks() > 0 {
            let reply = Arc::from(&TIMING_MARK_REPLY[..]);
            let _ = outbox.try_push(reply, self.config.send_queue_bytes);
        }
    }
}

/// Writes what the hub queues until the outbox is closed or aborted, then
/// closes the sending side (FIN); [`serve`] decides how the rest ends. Ends
/// without closing when the outbox is frozen (a live upgrade).
///
/// Each batch goes to the kernel straight from the queued blocks, which are
/// shared by every recipient of a round, with one non-blocking `writev` per
/// [`MAX_SLICES`](crate::outbox::MAX_SLICES) blocks ([`write_ready`]): no
/// copy per recipient, and an idle connection keeps no write buffer. When the
/// socket is full, what it did not take stays where it is, as a position in
/// the batch (still counted against the client's queue bound), until the
/// socket is writable or the hub aborts the outbox. (At a chatting pace the
/// hub mostly writes a client's round itself: `Outbox::write_through`.)
async fn write_to_client(stream: &Async<TcpStream>, outbox: &Outbox) -> WriterEnd {
    'batches: while let Some(blocks) = outbox.next_blocks().await {
        let mut at = Position::default();
        loop {
            match write_ready(stream.get_ref(), &blocks, &mut at, |n| outbox.written(n)) {
                Ok(()) => break,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let writable = async { stream.writable().await.is_ok() };
                    let aborted = async {
                        outbox.aborted().await;
                        false
                    };
                    // Boxed: only a connection whose socket is full pays for
                    // this wait's state, not every idle one.
                    if !Box::pin(future::or(writable, aborted)).await {
                        if outbox.is_frozen() {
                            // A live upgrade: the new chatd writes the rest.
                            outbox.put_back(blocks, at.block, at.offset);
                            return WriterEnd::Frozen;
                        }
                        break 'batches;
                    }
                }
                Err(_) => break 'batches,
            }
        }
    }
    if outbox.is_frozen() {
        return WriterEnd::Frozen;
    }
    // Whatever ended the writer, the hub must stop queueing for this client.
    outbox.abort();
    // The peer may already be gone; shutting down a dead socket is harmless.
    let _ = stream.get_ref().shutdown(Shutdown::Write);
    WriterEnd::Closed
}

/// How a writer ended.
enum WriterEnd {
    /// The connection is over: the sending side is closed.
    Closed,
    /// A live upgrade froze the outbox; what is not written is back in it.
    Frozen,
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Every connection's task holds this future all its life: 10,000 idle
    /// clients pay for each byte 10,000 times (docs/performance.md has the
    /// memory per client). Whatever only some connections need (a full
    /// socket's wait, the last phase's timers, a live upgrade's handover)
    /// is boxed when it happens; this keeps it so.
    #[test]
    fn an_idle_connections_future_stays_small() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let stream = Arc::new(Async::new(client).unwrap());
        let (hub, _events) = async_channel::bounded(1);
        let live = Arc::new(LiveConfig::new(Arc::new(Config::default())));
        let outbox = Arc::new(Outbox::new());
        let future = serve(1, stream, outbox, hub, live, Arc::default(), None, ());
        let size = std::mem::size_of_val(&future);
        assert!(size <= 552, "a connection's future grew to {size} bytes");
    }
}
