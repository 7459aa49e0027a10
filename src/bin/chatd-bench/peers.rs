//! Other chat servers, measured with the same scenarios (`--protocol` with
//! `--addr` and `--pid`): the Node.js tutorial chatd descends from, and the
//! chat examples of smol and tokio. Each differs from chatd in how a client
//! signs in, whether a sender hears its own lines, and how a line arrives, so
//! a delivery is counted the one way that works for all of them: each
//! `t=<micros> the quick brown fox` payload that reaches a client, wherever it
//! sits in the bytes (the tutorial sends lines without a line break).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use smol::io::AsyncWriteExt;
use smol::net::TcpStream;

use crate::client::{Tally, each_read, read_until};

/// The server a scenario talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// chatd itself: `nick#`, `* Welcome, nick!`, chat lines start with `>`.
    Chatd,
    /// The Node.js tutorial (`nick#`; no reply to the one signing in; a
    /// line goes out as `> nick: text` without a line break).
    Tutorial,
    /// smol's `examples/chat-server.rs`: no sign-in; every line goes to
    /// everyone, the sender too, as `ADDR says: text`.
    Smol,
    /// tokio's `examples/chat.rs`: a username after its prompt; a line goes
    /// to the others as `name: text`.
    Tokio,
}

impl Protocol {
    /// The protocol `--protocol` names.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Some(match name {
            "chatd" => Protocol::Chatd,
            "tutorial" | "node" => Protocol::Tutorial,
            "smol" => Protocol::Smol,
            "tokio" => Protocol::Tokio,
            _ => return None,
        })
    }

    /// Whether a sender hears its own lines.
    pub fn echoes(self) -> bool {
        self == Protocol::Smol
    }

    /// Whether clients can be put in rooms (the rooms scenarios).
    pub fn has_rooms(self) -> bool {
        self == Protocol::Chatd
    }
}

/// The payload every sent line carries after its time; what counts as a
/// delivery for the other servers.
pub const PAYLOAD: &[u8] = b" the quick brown fox";

/// Connects client number `i` to a server speaking `protocol` (not chatd,
/// which `rooms::sign_in` handles) and signs it in.
pub async fn sign_in(protocol: Protocol, addr: SocketAddr, i: usize) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    match protocol {
        Protocol::Chatd | Protocol::Smol => {}
        Protocol::Tutorial => {
            // The banner's last line asks for the nickname.
            read_until(&mut stream, &["#'"], "the tutorial's banner").await?;
            stream.write_all(format!("c{i}#\n").as_bytes()).await?;
        }
        Protocol::Tokio => {
            read_until(&mut stream, &["username:"], "tokio's prompt").await?;
            stream.write_all(format!("c{i}\n").as_bytes()).await?;
        }
    }
    Ok(stream)
}

/// Reads everything a client gets, counting each payload as a delivery and,
/// when `parse_all`, the latency of each (otherwise of the last of each read).
pub async fn receive(
    stream: TcpStream,
    tally: Rc<RefCell<Tally>>,
    parse_all: bool,
    start: Instant,
) {
    // The end of the previous read that may hold the start of a payload.
    let mut carry: Vec<u8> = Vec::new();
    each_read(stream, start, |read, now_us| {
        carry.extend_from_slice(read);
        let (found, consumed) = payloads(&carry);
        let mut t = tally.borrow_mut();
        t.chat_lines += found.len() as u64;
        let timed: &[u64] = if parse_all {
            &found
        } else {
            found.last().map(std::slice::from_ref).unwrap_or(&[])
        };
        t.latencies_us.extend(
            timed
                .iter()
                .map(|&sent| now_us.saturating_sub(sent).min(u64::from(u32::MAX)) as u32),
        );
        if !found.is_empty() {
            t.last_receive = Some(Instant::now());
        }
        drop(t);
        carry.drain(..consumed);
    })
    .await;
}

/// The send times of the whole payloads in `bytes`, and how many bytes are
/// done with: everything but a tail that may be the start of one.
fn payloads(bytes: &[u8]) -> (Vec<u64>, usize) {
    let mut found = Vec::new();
    let mut at = 0;
    let mut done = 0;
    while let Some(i) = find(&bytes[at..], b"t=") {
        let digits_at = at + i + 2;
        let digits = bytes[digits_at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let rest = &bytes[digits_at + digits..];
        if rest.len() < PAYLOAD.len() {
            // Perhaps a payload cut by the end of the read: keep it.
            return (found, at + i);
        }
        if digits > 0 && rest.starts_with(PAYLOAD) {
            let sent = std::str::from_utf8(&bytes[digits_at..digits_at + digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            found.push(sent);
            at = digits_at + digits + PAYLOAD.len();
        } else {
            at = digits_at;
        }
        done = at;
    }
    // Keep a last byte that may be the `t` of a payload.
    let keep_from = bytes.len().saturating_sub(1).max(done);
    (found, keep_from)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_found_anywhere_and_a_cut_one_waits_for_its_end() {
        let (found, done) =
            payloads(b"> a: t=12 the quick brown fox> b: t=34 the quick brown fox\n");
        assert_eq!(found, [12, 34]);
        assert!(done > 0);
        let bytes = b"x says: t=56 the quick brown fox\nx says: t=78 the qu";
        let (found, done) = payloads(bytes);
        assert_eq!(found, [56]);
        assert_eq!(&bytes[done..], b"t=78 the qu");
        // Text that only looks like the start of one is passed over.
        assert_eq!(payloads(b"at=first t=9 the quick brown fox").0, [9]);
    }
}
