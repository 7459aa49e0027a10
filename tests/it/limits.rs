//! Every limit in the config crossed by a real client: line length, client counts,
//! the login timeout, flood control and the send queue. Small limits keep it fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::common::chatd;

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

// ---- send_queue_bytes ----

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
    let writing = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let pad = "x".repeat(pad_len);
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < MAX_LINES {
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
