//! Every limit in the config crossed by a real client: line length, client counts,
//! the login timeout, flood control and the send queue. Small limits keep it fast.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::common::{Client, Server, chatd};

// ---- max_line_bytes ----

#[test]
fn line_of_exactly_max_bytes_is_delivered() {
    let server = chatd().config("max_line_bytes = 100").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let line = "a".repeat(100);
    alice.send(&format!("{line}\n{line}\r\n"));
    bob.expect_line(&format!("> alice: {line}"));
    bob.expect_line(&format!("> alice: {line}"));
}

#[test]
fn line_over_max_bytes_is_discarded_and_sender_told() {
    let server = chatd().config("max_line_bytes = 100").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send(&format!("{}\n", "b".repeat(101)));
    alice.expect_line("! line too long (max 100 bytes), discarded");
    // Nothing of the long line (not even its tail) reaches bob; the next line does.
    alice.send(&format!("{}\nnext\n", "c".repeat(250)));
    alice.expect_line("! line too long (max 100 bytes), discarded");
    bob.expect_line("> alice: next");
}

#[test]
fn huge_line_without_newline_keeps_memory_bounded() {
    let server = chatd().config("max_line_bytes = 4096").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let peak_before = server.memory_kib("VmHWM");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..80 {
        alice.send_bytes(&chunk); // 5 MiB, no newline
    }
    alice.send("\nafter\n");
    bob.expect_line("> alice: after");
    // The server has read all of it now; its peak memory did not follow the line.
    // (Growth is some KiB in practice; buffering the line would cost over 5 MiB.)
    let peak_after = server.memory_kib("VmHWM");
    assert!(
        peak_after < peak_before + 4 * 1024,
        "peak RSS grew from {peak_before} KiB to {peak_after} KiB"
    );
    // One notice for the one line, and nothing else.
    alice.expect_line("! line too long (max 4096 bytes), discarded");
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, bob");
}

// ---- max_clients, max_clients_per_ip ----

#[test]
fn server_full_rejects_then_admits_after_a_leave() {
    let mut server = chatd().config("max_clients = 3").start();
    let [a, _b, _c] = server.users(["a", "b", "c"]);
    let mut fourth = server.connect();
    fourth.expect_line("! server full, try again later");
    fourth.expect_closed();
    let logged = server.wait_log("rejected 127.0.0.1:");
    assert!(logged.ends_with(": server full (3 clients)"), "{logged}");
    drop(a);
    server.wait_log("left \"a\"");
    let mut again = server.connect_admitted();
    again.send("d#\n");
    again.expect_line("* Welcome, d! Online (3): b, c, d");
}

#[test]
fn too_many_from_one_address_rejects_then_admits_after_a_close() {
    let mut server = chatd().config("max_clients_per_ip = 2").start();
    let [a, _b] = server.users(["a", "b"]);
    let mut third = server.connect();
    third.expect_line("! too many connections from your address");
    third.expect_closed();
    let logged = server.wait_log("rejected 127.0.0.1:");
    assert!(
        logged.ends_with(": too many connections from 127.0.0.1 (max 2)"),
        "{logged}"
    );
    drop(a);
    server.wait_log("left \"a\"");
    let mut again = server.connect_admitted();
    again.send("c#\n");
    again.expect_line("* Welcome, c! Online (2): b, c");
}

// ---- login_timeout_secs ----

#[test]
fn login_timeout_closes_unregistered_connections_only() {
    let server = chatd().config("login_timeout_secs = 1").start();
    let mut registered = server.join("alice");
    let mut idle = server.connect();
    idle.read_banner();
    idle.expect_line("! no nickname after 1 second, closing the connection");
    idle.expect_closed();
    // Alice connected earlier, so her deadline has passed too: she stays.
    registered.send("/who\n");
    registered.expect_line("* Online (1): alice");
}

// ---- flood_burst, flood_lines_per_sec ----

#[test]
fn flood_is_delayed_not_dropped_and_delays_only_the_flooder() {
    let mut server = chatd()
        .config("flood_burst = 3\nflood_lines_per_sec = 20")
        .start();
    let [mut flooder, mut other, mut receiver] = server.users(["flooder", "other", "receiver"]);
    let burst: String = (1..=30).map(|i| format!("f{i:02}\n")).collect();
    flooder.send(&burst);
    receiver.expect_line("> flooder: f01");
    other.send("meanwhile\n");
    let lines = receiver.read_until("> flooder: f30");
    let flood: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("> flooder: "))
        .collect();
    let expected: Vec<String> = (2..=30).map(|i| format!("f{i:02}")).collect();
    assert_eq!(flood, expected, "lines dropped or reordered");
    // Read up to the flood's last line, so other's line came before it.
    assert!(
        lines.iter().any(|l| l == "> other: meanwhile"),
        "other's line not before the flood's end: {lines:?}"
    );
    assert_eq!(
        lines.len(),
        expected.len() + 1,
        "unexpected lines: {lines:?}"
    );
    let problems: Vec<&String> = server
        .log_so_far()
        .iter()
        .filter(|l| l.contains(" WARN") || l.contains(" ERROR"))
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}

// ---- send_queue_bytes, send_queue_hard_bytes, send_queue_grace_secs ----

// The kernel takes about 4 MiB into a loopback socket's buffers before a writer
// has to wait, so a client's queue in chatd grows only after that much is unread;
// the tests below send until the server logs (at debug level) that the queue has
// passed the soft bound, rather than guessing how much that takes. The upgrade
// tests (`upgrade.rs`) fill a stopped reader's queue with the same helpers.

/// Bytes in each line the send-queue tests send, with its number and padding.
pub(crate) const LINE_BYTES: usize = 1000;

/// Lines per batch: the watcher reads each batch before the next is sent.
pub(crate) const BATCH: usize = 32;

/// Sender sends lines `first..first + BATCH`, and watcher, who reads promptly,
/// must get each of them, in order, within the usual timeout: the room keeps
/// serving everyone else whatever one slow client does. Returns the other lines
/// watcher got meanwhile (a leave notice).
pub(crate) fn send_batch(sender: &mut Client, watcher: &mut Client, first: usize) -> Vec<String> {
    let pad = "x".repeat(LINE_BYTES - 7);
    let batch: String = (first..first + BATCH)
        .map(|n| format!("{n:06} {pad}\n"))
        .collect();
    sender.send(&batch);
    let mut others = Vec::new();
    let mut next = first;
    while next < first + BATCH {
        let line = watcher.read_line();
        match line.strip_prefix("> sender: ") {
            Some(text) => {
                assert!(
                    text.starts_with(&format!("{next:06} ")),
                    "line {next}: {text:.20}..."
                );
                next += 1;
            }
            None => others.push(line),
        }
    }
    others
}

/// Sends batches until the server logs that `nick`'s queue passed the soft
/// bound `soft`; returns how many lines were sent (at most 20 MB of them).
pub(crate) fn send_until_over_soft(
    server: &mut Server,
    sender: &mut Client,
    watcher: &mut Client,
    nick: &str,
    soft: usize,
) -> usize {
    let over = format!("{nick:?} over {soft} bytes");
    let mut sent = 0;
    while !server.log_so_far().iter().any(|l| l.contains(&over)) {
        assert!(
            sent * LINE_BYTES < 20 << 20,
            "{nick}'s queue never passed {soft} bytes"
        );
        let others = send_batch(sender, watcher, sent);
        assert!(others.is_empty(), "{others:?}");
        sent += BATCH;
    }
    sent
}

/// The time of day in a log line's timestamp (`2026-11-24T07:30:19.123Z ...`), in ms.
fn logged_at_ms(line: &str) -> u64 {
    let time = &line[11..23];
    let field = |range: std::ops::Range<usize>| time[range].parse::<u64>().expect(line);
    ((field(0..2) * 60 + field(3..5)) * 60 + field(6..8)) * 1000 + field(9..12)
}

#[test]
fn slow_reader_stays_over_the_soft_bound_and_gets_every_line() {
    // A hard bound far above the soft one, so that the reader can be over the
    // soft bound for seconds, longer than the grace, while it reads.
    let mut server = chatd()
        .config(
            "send_queue_bytes = 262144\nsend_queue_hard_bytes = 16777216\n\
             send_queue_grace_secs = 1\nlog_level = \"debug\"",
        )
        .start();
    let [mut slow, mut watcher, mut sender] = server.users(["slow", "watcher", "sender"]);
    // Reads in pieces of 4 KiB, at most one every 2 ms (pacing, not
    // synchronizing): about 2 MB/s, far slower than the sender.
    let reading = thread::spawn(move || {
        let mut piece = [0u8; 4096];
        let mut unread = Vec::new();
        let mut received = 0;
        loop {
            let n = slow.stream.read(&mut piece).expect("slow reader's read");
            assert!(n > 0, "slow reader disconnected after {received} lines");
            unread.extend_from_slice(&piece[..n]);
            while let Some(end) = unread.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(unread.drain(..end + 2).collect()).unwrap();
                if line == "> sender: end\r\n" {
                    return received;
                }
                let expected = format!("> sender: {received:06} ");
                assert!(
                    line.starts_with(&expected),
                    "line {received} is {line:.30}..."
                );
                received += 1;
            }
            thread::sleep(Duration::from_millis(2));
        }
    });
    let mut sent = send_until_over_soft(&mut server, &mut sender, &mut watcher, "slow", 262_144);
    // 4 MB more: at 2 MB/s the reader takes seconds to get back under the bound.
    for _ in 0..(4 << 20) / (BATCH * LINE_BYTES) {
        let others = send_batch(&mut sender, &mut watcher, sent);
        assert!(others.is_empty(), "{others:?}");
        sent += BATCH;
    }
    sender.send("end\n");
    watcher.expect_line("> sender: end");
    let received = reading.join().expect("slow reader");
    assert_eq!(received, sent, "the slow reader missed lines");
    // Once it has read everything, the tick finds it under the bound again.
    let under = server.wait_log("\"slow\" under 262144 bytes again after ");
    let over_for: f64 = under
        .rsplit("after ")
        .next()
        .and_then(|rest| rest.strip_suffix(" s over"))
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("{under}"));
    assert!(
        over_for > 1.0,
        "only {over_for} s over the soft bound: {under}"
    );
    let drops: Vec<&String> = (server.log_so_far().iter())
        .filter(|l| l.contains("slow client dropped"))
        .collect();
    assert!(drops.is_empty(), "{drops:?}");
}

#[test]
fn stopped_reader_is_dropped_after_the_grace() {
    let mut server = chatd()
        .config("send_queue_bytes = 262144\nsend_queue_grace_secs = 1\nlog_level = \"debug\"")
        .start();
    let [_stopped, mut watcher, mut sender] = server.users(["stopped", "watcher", "sender"]);
    let sent = send_until_over_soft(&mut server, &mut sender, &mut watcher, "stopped", 262_144);
    // Over the soft bound, under the hard one (4 × 256 KiB): nothing more is sent
    // to it, and it reads nothing. The room still serves the others.
    let others = send_batch(&mut sender, &mut watcher, sent);
    let dropped = server.wait_log("slow client dropped");
    assert!(
        dropped.ends_with(
            " \"stopped\" (over 262144 bytes queued and nothing read for 1 s: send_queue_grace_secs)"
        ),
        "{dropped}"
    );
    let over = server.wait_log("\"stopped\" over 262144 bytes");
    let waited = logged_at_ms(&dropped) - logged_at_ms(&over);
    assert!(
        waited >= 1000,
        "dropped {waited} ms after passing the soft bound"
    );
    if others.is_empty() {
        watcher.expect_line("* stopped left (too slow; 2 online)");
    } else {
        assert_eq!(others, ["* stopped left (too slow; 2 online)"]);
    }
    send_batch(&mut sender, &mut watcher, sent + BATCH);
}

#[test]
fn reader_over_the_hard_bound_is_dropped_at_once() {
    // A grace longer than the test: only the hard bound can drop anyone here.
    let mut server = chatd()
        .config("send_queue_bytes = 65536\nsend_queue_grace_secs = 3600\nlog_level = \"debug\"")
        .start();
    let [_stopped, mut watcher, mut sender] = server.users(["stopped", "watcher", "sender"]);
    let mut sent = send_until_over_soft(&mut server, &mut sender, &mut watcher, "stopped", 65_536);
    // Batches of 32 KB: past the hard bound (4 × 64 KiB) within a few of them.
    let left = loop {
        assert!(sent * LINE_BYTES < 40 << 20, "never dropped");
        let others = send_batch(&mut sender, &mut watcher, sent);
        sent += BATCH;
        if let Some(line) = others.into_iter().next() {
            break line;
        }
    };
    assert_eq!(left, "* stopped left (too slow; 2 online)");
    let dropped = server.wait_log("slow client dropped");
    assert!(
        dropped.ends_with(" \"stopped\" (more than 262144 bytes queued: send_queue_hard_bytes)"),
        "{dropped}"
    );
    send_batch(&mut sender, &mut watcher, sent);
}

#[test]
fn slow_client_is_dropped_without_stalling_the_room() {
    // At most this many 4000-byte lines (about 100 MB) if the drop never comes.
    const MAX_LINES: usize = 25_000;
    let mut server = chatd()
        .config("send_queue_bytes = 65536\nmax_line_bytes = 4096")
        .start();
    let _slow = server.join("slow"); // never reads
    let mut reader = server.join("reader");
    let mut sender = server.join("sender");
    reader.expect_line("* sender joined (3 online: reader, sender, slow)");

    // The sender's own socket only ever receives the slow client's leave notice,
    // so it needs no reader.
    let pad_len = 3992; // each line is "NNNNNN " and the padding: 3999 bytes
    let stop = Arc::new(AtomicBool::new(false));
    // The sender stays at most WINDOW lines ahead of the reader, so that the
    // reader (a test thread, slower than chatd on several cores) never falls
    // behind far enough to be dropped itself; the slow client, which reads
    // nothing, still is.
    const WINDOW: usize = 32;
    let received_so_far = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writing = {
        let stop = Arc::clone(&stop);
        let received_so_far = Arc::clone(&received_so_far);
        thread::spawn(move || {
            let pad = "x".repeat(pad_len);
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < MAX_LINES {
                if sent >= received_so_far.load(Ordering::Relaxed) + WINDOW {
                    thread::yield_now(); // waiting for the reader, not synchronizing
                    continue;
                }
                sender.send(&format!("{sent:06} {pad}\n"));
                sent += 1;
            }
            sender.send("end\n");
            // Handed back to stay open: closing it with the slow client's leave
            // notice unread would reset the connection and could lose "end".
            (sender, sent)
        })
    };
    let reading = thread::spawn(move || {
        let mut received = 0;
        let received_so_far = received_so_far;
        let mut slow_left = false;
        loop {
            let line = reader.read_line();
            if line == "> sender: end" {
                return (received, slow_left);
            }
            if line == "* slow left (too slow; 2 online)" {
                slow_left = true;
                continue;
            }
            let expected = format!("> sender: {received:06} x");
            assert!(
                line.starts_with(&expected) && line.len() == "> sender: ".len() + 7 + pad_len,
                "line {received} is {:?}...",
                &line[..line.len().min(40)]
            );
            received += 1;
            received_so_far.store(received, Ordering::Relaxed);
        }
    });
    let dropped = server.wait_log("slow client dropped");
    stop.store(true, Ordering::Relaxed);
    assert!(dropped.contains("\"slow\""), "{dropped}");
    let (_sender, sent) = writing.join().expect("sender thread");
    let (received, slow_left) = reading.join().expect("reader thread");
    assert!(sent < MAX_LINES, "the slow client was never dropped");
    assert_eq!(received, sent, "the reading client missed lines");
    assert!(slow_left, "no leave notice for the slow client");
}

/// A sender held back by flood control is told once per burst how many of
/// its lines wait, and why; nothing is dropped.
#[test]
fn flood_control_tells_the_sender_once_per_burst() {
    let server = crate::common::chatd()
        .config("flood_burst = 2\nflood_lines_per_sec = 5\n")
        .start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let paste: String = (0..10).map(|i| format!("line {i}\n")).collect();
    alice.send(&paste);
    let told = alice.expect_prefix("! slow down: ");
    let waiting: usize = told["! slow down: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // Read at once, the paste is held back but for what is left of the burst
    // (the sign-in line took a token): 9 lines, fewer if read in pieces.
    assert!((1..=9).contains(&waiting), "{told}");
    assert!(
        told.ends_with(" lines of yours wait and will follow in order (flood control: 5 a second after 2 in a row)"),
        "{told}"
    );
    for i in 0..10 {
        bob.expect_line(&format!("> alice: line {i}"));
    }
    // More at once, before the bucket has filled again: the same burst, no
    // second notice.
    alice.send("more 1\nmore 2\nmore 3\n/who\n");
    for i in 1..=3 {
        bob.expect_line(&format!("> alice: more {i}"));
    }
    alice.expect_line("* Online (2): alice, bob");
}
