//! Writing queued blocks to a socket: for the connection's writer, and for
//! the hub writing a round through ([`Outbox::write_through`]).

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;

use super::{Block, Outbox, Phase};

impl Outbox {
    /// Ends what [`push_deferred`](Self::push_deferred) began by leaving the
    /// writing to the writer after all: wakes it.
    pub fn wake_writer(&self) {
        self.change(|state| state.deferred = false);
    }

    /// Ends what [`push_deferred`](Self::push_deferred) began: writes what
    /// is queued to the socket now, with as many non-blocking `writev`s as
    /// it takes, or wakes the writer to do it. The writer takes over
    /// whatever the socket does not accept at once (a full socket, an
    /// error: it meets them again and deals with them as ever), and all of
    /// it while it is busy with a batch it took (its bytes go first), while
    /// a live upgrade holds the outbox, or once the socket is gone.
    pub fn write_through(&self) {
        let mut state = self.lock();
        if !std::mem::take(&mut state.deferred) || state.blocks.is_empty() {
            // The writer took the blocks (woken by something else) or the
            // outbox was aborted: nothing is left to do here.
            return;
        }
        let queued: usize = state.blocks.iter().map(|b| b.len()).sum();
        let socket = if state.frozen || state.phase == Phase::Aborted || queued != state.bytes {
            None
        } else {
            state.socket.upgrade()
        };
        let mut followed = None;
        if let Some(socket) = socket {
            // The lock is held across the write: the writer cannot take the
            // blocks meanwhile, and nothing else writes to this socket.
            let blocks = std::mem::take(&mut state.blocks);
            let mut at = Position::default();
            // A full socket or an error: the writer meets it again.
            let _ = write_ready(socket.get_ref(), &blocks, &mut at, |n| {
                followed = state.wrote(n).or(followed.take());
            });
            if at.block < blocks.len() {
                state.blocks = rest(blocks, at);
            }
            // Else the queue stays the empty one `take` left, which owns no
            // memory: an idle client keeps no buffer here.
        }
        let waker = if state.blocks.is_empty() && state.phase == Phase::Open {
            None
        } else {
            state.waker.take()
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        if let Some(probe) = followed {
            probe.one_done();
        }
    }
}

/// Blocks handed to one `writev`: a round's batch is usually one or two, a
/// backlog more; past this many, the rest goes in the next call.
pub const MAX_SLICES: usize = 16;

/// How far into a batch the writer has got: a block, and a byte within it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The block.
    pub block: usize,
    /// The byte within it.
    pub offset: usize,
}

impl Position {
    /// Moves past `n` more bytes of `blocks`, and past any block written to
    /// its end (an empty one at once), so that what is left to write starts
    /// at the position.
    pub fn advance(&mut self, blocks: &[Block], mut n: usize) {
        loop {
            while self.block < blocks.len() && self.offset == blocks[self.block].len() {
                self.block += 1;
                self.offset = 0;
            }
            if n == 0 || self.block == blocks.len() {
                return;
            }
            let take = n.min(blocks[self.block].len() - self.offset);
            self.offset += take;
            n -= take;
        }
    }
}

/// Writes `blocks` from `at` on for as long as the socket takes them,
/// moving `at` along and telling `wrote` each write's count (interrupted
/// writes are made again). `Ok` once everything is written; else the error
/// that stopped it: `WouldBlock` for a full socket, `WriteZero` for a
/// socket that took nothing.
pub fn write_ready(
    stream: &TcpStream,
    blocks: &[Block],
    at: &mut Position,
    mut wrote: impl FnMut(usize),
) -> io::Result<()> {
    at.advance(blocks, 0);
    while at.block < blocks.len() {
        match write_blocks(stream, blocks, *at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                wrote(n);
                at.advance(blocks, n);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// What is left of `blocks` from `at` on (the first block cut at its offset,
/// a copy of its tail).
pub(super) fn rest(mut blocks: Vec<Block>, at: Position) -> Vec<Block> {
    blocks.drain(..at.block.min(blocks.len()));
    if at.offset > 0
        && let Some(first) = blocks.first_mut()
    {
        *first = Block::from(&first[at.offset.min(first.len())..]);
    }
    blocks
}

/// Writes `blocks` from `at` on, up to [`MAX_SLICES`] of them, with one
/// non-blocking `writev`; the bytes written.
fn write_blocks(mut stream: &TcpStream, blocks: &[Block], at: Position) -> io::Result<usize> {
    // The common case, one block: no slices to set up.
    if at.block + 1 == blocks.len() {
        return stream.write(&blocks[at.block][at.offset..]);
    }
    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
    let mut count = 0;
    for (i, block) in blocks.iter().enumerate().skip(at.block).take(MAX_SLICES) {
        let start = if i == at.block { at.offset } else { 0 };
        slices[count] = IoSlice::new(&block[start..]);
        count += 1;
    }
    stream.write_vectored(&slices[..count])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use smol::Async;

    /// A connected pair: the server's side as the outbox sees it, and the
    /// client's side to read from.
    fn pair() -> (Arc<Async<TcpStream>>, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (Arc::new(Async::new(server).unwrap()), client)
    }

    fn block(s: &str) -> Block {
        Block::from(s.as_bytes())
    }

    /// Counts its wake-ups: stands for the writer's task.
    #[derive(Default)]
    struct Writer(std::sync::atomic::AtomicUsize);

    impl Wake for Writer {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Writer {
        fn woken(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// Makes `outbox`'s writer wait (as the connection's task does on an
    /// empty queue), with `writer` as its waker.
    fn wait(outbox: &Outbox, writer: &Arc<Writer>) {
        let waker = Waker::from(Arc::clone(writer));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut next = std::pin::pin!(outbox.next_blocks());
        assert!(next.as_mut().poll(&mut cx).is_pending());
    }

    use std::future::Future;

    #[test]
    fn an_idle_client_gets_the_round_from_the_hub_without_its_writer() {
        let (socket, mut client) = pair();
        let outbox = Outbox::new();
        outbox.attach(&socket);
        let writer = Arc::new(Writer::default());
        wait(&outbox, &writer);
        assert_eq!(outbox.push_deferred(block("one\r\n"), 100), Ok((5, true)));
        // Later pushes of the round only queue.
        assert_eq!(outbox.push_deferred(block("two\r\n"), 100), Ok((10, false)));
        outbox.write_through();
        let mut got = [0u8; 10];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"one\r\ntwo\r\n");
        assert_eq!(writer.woken(), 0, "the writer slept through it");
        assert_eq!(
            outbox.progress(),
            super::super::Progress {
                queued: 0,
                written: 10
            }
        );
        // The next round starts over.
        assert_eq!(outbox.push_deferred(block("3\r\n"), 100), Ok((3, true)));
    }

    #[test]
    fn what_a_full_socket_does_not_take_is_left_to_the_writer_in_order() {
        let (socket, mut client) = pair();
        let outbox = Outbox::new();
        outbox.attach(&socket);
        let writer = Arc::new(Writer::default());
        wait(&outbox, &writer);
        // More than loopback buffers hold, in numbered blocks.
        let blocks: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 1 << 20]).collect();
        let mut first = true;
        for b in &blocks {
            let (_, deferred) = outbox
                .push_deferred(Block::from(&b[..]), usize::MAX)
                .unwrap();
            assert_eq!(deferred, first);
            first = false;
        }
        outbox.write_through();
        assert_eq!(writer.woken(), 1, "the writer takes over the rest");
        let sent = outbox.progress().written as usize;
        assert!(sent > 0 && sent < 64 << 20, "{sent} bytes taken");
        // The writer's share starts exactly where the socket stopped.
        let rest = smol::block_on(outbox.next_blocks()).unwrap();
        let rest: Vec<u8> = rest.iter().flat_map(|b| b.iter().copied()).collect();
        let all: Vec<u8> = blocks.concat();
        assert_eq!(rest, all[sent..]);
        let mut got = vec![0u8; sent];
        client.read_exact(&mut got).unwrap();
        assert!(got == all[..sent]);
    }

    #[test]
    fn a_writer_busy_with_its_own_batch_keeps_the_round() {
        let (socket, mut client) = pair();
        client.set_nonblocking(true).unwrap();
        let outbox = Outbox::new();
        outbox.attach(&socket);
        // Busy already: a push wakes the writer, as ever.
        outbox.try_push(block("old\r\n"), 100).unwrap();
        let writer = Arc::new(Writer::default());
        let taken = smol::block_on(outbox.next_blocks()).unwrap();
        wait(&outbox, &writer);
        assert_eq!(outbox.push_deferred(block("new\r\n"), 100), Ok((10, false)));
        assert_eq!(writer.woken(), 1);
        drop(taken);

        // Idle at the round's first push, but the writer, woken by something
        // else, takes the batch before the round ends and has not written it.
        let outbox = Outbox::new();
        outbox.attach(&socket);
        assert_eq!(outbox.push_deferred(block("a\r\n"), 100), Ok((3, true)));
        let taken = smol::block_on(outbox.next_blocks()).unwrap();
        let writer = Arc::new(Writer::default());
        wait(&outbox, &writer);
        assert_eq!(outbox.push_deferred(block("b\r\n"), 100), Ok((6, false)));
        outbox.write_through();
        let mut buf = [0u8; 16];
        let nothing = client.read(&mut buf).map_err(|e| e.kind());
        assert_eq!(
            nothing,
            Err(io::ErrorKind::WouldBlock),
            "b never goes before a"
        );
        assert_eq!(writer.woken(), 1, "the writer writes both, in order");
        assert_eq!(outbox.contents().0, b"b\r\n");
        drop(taken);
    }

    #[test]
    fn a_round_left_to_the_writer_wakes_it_and_writes_nothing() {
        let (socket, mut client) = pair();
        client.set_nonblocking(true).unwrap();
        let outbox = Outbox::new();
        outbox.attach(&socket);
        let writer = Arc::new(Writer::default());
        wait(&outbox, &writer);
        assert_eq!(outbox.push_deferred(block("x\r\n"), 100), Ok((3, true)));
        outbox.wake_writer();
        assert_eq!(writer.woken(), 1);
        let mut buf = [0u8; 4];
        let nothing = client.read(&mut buf).map_err(|e| e.kind());
        assert_eq!(nothing, Err(io::ErrorKind::WouldBlock));
        assert_eq!(outbox.contents().0, b"x\r\n");
        // The round is over: the next push defers again.
        let _ = smol::block_on(outbox.next_blocks());
        outbox.written(3);
        assert_eq!(outbox.push_deferred(block("y\r\n"), 100), Ok((3, true)));
    }

    #[test]
    fn no_write_through_while_frozen_or_once_the_socket_is_gone() {
        for case in ["frozen", "gone"] {
            let (socket, client) = pair();
            let outbox = Outbox::new();
            outbox.attach(&socket);
            let writer = Arc::new(Writer::default());
            wait(&outbox, &writer);
            assert_eq!(outbox.push_deferred(block("x\r\n"), 100), Ok((3, true)));
            match case {
                "frozen" => outbox.freeze(),
                _ => drop(socket),
            }
            let woken = writer.woken();
            outbox.write_through();
            assert_eq!(outbox.queued(), 3, "{case}: kept for the writer");
            assert_eq!(outbox.contents().0, b"x\r\n");
            if case == "gone" {
                assert_eq!(writer.woken(), woken + 1, "the writer finds the end itself");
            }
            drop(client);
        }
    }

    #[test]
    fn a_line_followed_is_done_when_written_through() {
        let (socket, mut client) = pair();
        let outbox = Outbox::new();
        outbox.attach(&socket);
        outbox.push_deferred(block("12345"), 100).unwrap();
        let probe = crate::metrics::Probe::new(std::time::Instant::now());
        assert!(outbox.watch(&probe));
        probe.one_done(); // the hub's own hold
        assert_eq!(probe.took(), None);
        outbox.write_through();
        assert!(probe.took().is_some());
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
    }

    #[test]
    fn write_blocks_sends_every_block_in_one_call() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let lines: Vec<Block> = ["hello ", "world\r\n"]
            .into_iter()
            .map(|s| Block::from(s.as_bytes()))
            .collect();
        let written = write_blocks(&client, &lines, Position::default()).unwrap();
        assert_eq!(written, 13);
        let mut got = [0u8; 13];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello world\r\n");
        // From the middle of a block on.
        let from = Position {
            block: 0,
            offset: 3,
        };
        assert_eq!(write_blocks(&client, &lines, from).unwrap(), 10);
        let mut got = [0u8; 10];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"lo world\r\n");
    }

    #[test]
    fn a_full_socket_takes_part_and_the_position_says_which() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server = listener.accept().unwrap(); // never reads
        client.set_nonblocking(true).unwrap();
        let line = Block::from(vec![b'x'; 1 << 20]);
        let lines: Vec<Block> = std::iter::repeat_n(line, 64).collect();
        let mut at = Position::default();
        let mut total = 0;
        loop {
            match write_blocks(&client, &lines, at) {
                Ok(n) => {
                    total += n;
                    at.advance(&lines, n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("{err}"),
            }
        }
        assert!(at.block < lines.len(), "64 MiB fit into loopback buffers");
        assert_eq!(at.block * (1 << 20) + at.offset, total);
    }

    #[test]
    fn positions_advance_across_blocks() {
        let lines: Vec<Block> = ["ab", "", "cde"]
            .into_iter()
            .map(|s| Block::from(s.as_bytes()))
            .collect();
        let mut at = Position::default();
        at.advance(&lines, 1);
        assert_eq!(
            at,
            Position {
                block: 0,
                offset: 1
            }
        );
        at.advance(&lines, 1);
        // A block written to its end is passed over, and so is an empty one.
        assert_eq!(
            at,
            Position {
                block: 2,
                offset: 0
            }
        );
        at.advance(&lines, 2);
        assert_eq!(
            at,
            Position {
                block: 2,
                offset: 2
            }
        );
        at.advance(&lines, 1);
        assert_eq!(
            at,
            Position {
                block: 3,
                offset: 0
            }
        );
    }
}
