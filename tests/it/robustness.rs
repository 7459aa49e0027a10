//! Faults, on the real `chatd` binary: running out of file descriptors, connection
//! churn, connections that end mid-line, SIGKILL and an immediate restart on the
//! same port, SIGTERM under heavy traffic, and SIGHUP storms. In each the server
//! keeps serving, and nothing it accepted is lost.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Client, Server, TIMEOUT, chatd, free_port, room};

const GOODBYE: &str = "* server shutting down now, goodbye";

/// Log lines at warning level or worse.
fn problems(log: &[String]) -> Vec<&String> {
    log.iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect()
}

// --- file descriptor exhaustion -----------------------------------------------

/// Milliseconds since midnight UTC of a log line's RFC 3339 timestamp
/// (`2026-01-02T03:04:05.678Z ...`).
fn log_time_ms(line: &str) -> i64 {
    let clock = line
        .get(11..23)
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    let field = |range: std::ops::Range<usize>| -> i64 {
        clock[range]
            .parse()
            .unwrap_or_else(|_| panic!("bad time in {line:?}"))
    };
    ((field(0..2) * 60 + field(3..5)) * 60 + field(6..8)) * 1000 + field(9..12)
}

#[test]
fn accept_backs_off_when_out_of_descriptors_and_recovers() {
    // A file limit far below what the clients below need; the per-address limit
    // must not be what turns them away.
    let mut server = chatd()
        .config("max_clients_per_ip = 1000")
        .wrapper(&["sh", "-c", "ulimit -n 40 && exec \"$0\" \"$@\""])
        .start();
    // Connect one at a time until a connection is not accepted: the log says
    // either that it was, or that accepting failed.
    let mut admitted: Vec<Client> = Vec::new();
    let mut waiting: Vec<Client> = Vec::new();
    while waiting.is_empty() {
        assert!(admitted.len() < 40, "accepted more connections than files");
        let mut client = server.connect();
        let connected = format!("connect {} ", client.stream.local_addr().unwrap());
        let mark = server.log_lines.len();
        let line = server.wait_log_since(mark, "about the new connection", |l| {
            l.contains(&connected) || l.contains("accept failed")
        });
        if line.contains("accept failed") {
            assert!(line.contains(" WARN "), "{line}");
            assert!(line.contains("pausing 100ms"), "{line}");
            waiting.push(client);
        } else {
            client.read_banner();
            admitted.push(client);
        }
    }
    assert!(admitted.len() >= 10, "only {} accepted", admitted.len());
    waiting.push(server.connect());
    waiting.push(server.connect());

    // Backing off, not spinning: the warnings come one pause apart.
    let mark = server.log_lines.len();
    let mut times = Vec::new();
    while times.len() < 5 {
        let from = server.log_lines.len();
        let line = server.wait_log_since(from, "about a failed accept", |l| {
            l.contains("accept failed")
        });
        times.push(log_time_ms(&line));
    }
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).rem_euclid(86_400_000);
        assert!(gap >= 90, "accept retried after {gap}ms: {times:?}");
    }
    let connects = server.log_lines[mark..]
        .iter()
        .filter(|l| l.contains(" connect "))
        .count();
    assert_eq!(connects, 0, "accepted while out of files");

    // Closing connections frees descriptors: every waiting client gets in.
    for client in admitted.drain(..4) {
        drop(client);
    }
    for client in &mut waiting {
        client.read_banner();
    }
    let mut carol = waiting.pop().unwrap();
    carol.send("carol#\n");
    carol.expect_prefix("* Welcome, carol! Online (1)");
    let mut dave = admitted.pop().unwrap();
    dave.send("dave#\n");
    dave.expect_prefix("* Welcome, dave! Online (2)");
    carol.expect_line("* dave joined (2 online: carol, dave)");
    dave.send("we made it\n");
    carol.expect_line("> dave: we made it");
}

// --- churn ----------------------------------------------------------------------

/// One short-lived connection of kind `i % 4`: closed at once (usually with the
/// banner unread, so the close is a reset), registered then closed, closed in the
/// middle of a line, or half-closed in the middle of a line after registering.
fn churn_once(server: &Server, i: usize) {
    let mut client = server.connect();
    match i % 4 {
        0 => {}
        1 => {
            client.read_banner();
            client.send(&format!("u{i}#\n"));
            client.expect_prefix(&format!("* Welcome, u{i}! Online ("));
        }
        2 => client.send("half a li"),
        _ => {
            client.read_banner();
            client.send(&format!("h{i}#\nhello wor"));
            client.shutdown_write();
            let rest = client.read_to_close();
            let welcome = format!("* Welcome, h{i}! Online (");
            assert!(
                String::from_utf8_lossy(&rest).starts_with(&welcome),
                "{rest:?}"
            );
        }
    }
}

#[test]
fn connection_churn_leaks_no_descriptors_or_memory() {
    let mut server = chatd().config("max_clients_per_ip = 100000").start();
    let idle_fds = server.idle_fds();
    // Warm up, so that buffers and tables the server keeps are at their size.
    for i in 0..400 {
        churn_once(&server, i);
    }
    assert_eq!(server.wait_open_fds_at_most(idle_fds), idle_fds);
    let rss_before = server.memory_kib("VmRSS");

    for i in 400..3400 {
        churn_once(&server, i);
    }
    assert_eq!(
        server.wait_open_fds_at_most(idle_fds),
        idle_fds,
        "descriptors leaked"
    );
    let rss_after = server.memory_kib("VmRSS");
    // A leak of a socket buffer, a line or a task per connection would be megabytes.
    assert!(
        rss_after <= rss_before + 2048,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 3000 connections"
    );

    // The churn's half-closed lines were chat: alice's welcome replays some.
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    alice.read_until("* bob joined (2 online: alice, bob)");
    bob.send("still serving\n");
    alice.expect_line("> bob: still serving");
    assert_eq!(problems(server.log_so_far()), Vec::<&String>::new());
}

// --- connections that end mid-line ---------------------------------------------

#[test]
fn half_close_mid_line_delivers_the_partial_line() {
    let server = chatd().start();
    let mut bob = server.join("bob");
    // The stream may end anywhere: after a `\r`, inside a UTF-8 sequence, or
    // inside a telnet command. The unfinished line is still the user's line.
    let cases: [(&[u8], &str); 6] = [
        (b"plain", "plain"),
        (b"after cr\r", "after cr"),
        (b"caf\xc3", "caf\u{fffd}"),
        (b"dangling iac\xff", "dangling iac"),
        (b"half option\xff\xfb", "half option"),
        (b"open subneg\xff\xfa\x18\x01", "open subneg"),
    ];
    for (i, (sent, seen)) in cases.iter().enumerate() {
        let nick = format!("w{i}");
        let mut writer = server.join(&nick);
        bob.expect_line(&format!("* {nick} joined (2 online: bob, {nick})"));
        writer.send_bytes(sent);
        writer.shutdown_write();
        bob.expect_line(&format!("> {nick}: {seen}"));
        bob.expect_line(&format!("* {nick} left (connection closed; 1 online)"));
    }
}

#[test]
fn reset_mid_line_drops_that_line_and_nothing_else() {
    let (_server, [mut alice, mut bob, mut mallory]) = room(["alice", "bob", "mallory"]);
    mallory.send("an unfinished li");
    bob.send("before the reset\n");
    // Wait until bob's line sits unread in mallory's socket: closing a socket with
    // unread data makes the kernel send a reset instead of a FIN.
    let mut byte = [0u8; 1];
    assert_eq!(mallory.stream.peek(&mut byte).expect("peek"), 1);
    drop(mallory);
    alice.expect_line("> bob: before the reset");
    alice.expect_line("* mallory left (connection error; 2 online)");
    bob.send("after the reset\n");
    alice.expect_line("> bob: after the reset");
}

// --- SIGKILL, restart -------------------------------------------------------------

/// How many TCP sockets bound to 127.0.0.1:`port` are in TIME_WAIT.
fn time_wait_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"06"))
        .count()
}

#[test]
fn sigkill_then_immediate_restart_takes_the_same_port() {
    let port = free_port();
    let config = format!("port = {port}");
    let mut server = chatd().config(&config).start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    server.signal("KILL");
    server.wait_exit(Duration::ZERO);
    // The kernel closes the dead server's connections; once the clients close
    // theirs, the server's side waits in TIME_WAIT on the port.
    alice.expect_closed();
    bob.expect_closed();
    drop((alice, bob));
    let deadline = Instant::now() + TIMEOUT;
    while time_wait_on(port) == 0 {
        assert!(Instant::now() < deadline, "no TIME_WAIT on port {port}");
        std::thread::sleep(Duration::from_millis(10)); // polling, not synchronizing
    }

    let again = chatd().config(&config).start();
    assert_eq!(again.addr.port(), port);
    let retries: Vec<&String> = again
        .log_lines
        .iter()
        .filter(|l| l.contains("in use"))
        .collect();
    assert!(retries.is_empty(), "{retries:?}");
    let [mut alice, mut bob] = again.users(["alice", "bob"]);
    bob.send("back again\n");
    alice.expect_line("> bob: back again");
}

// --- SIGTERM under heavy traffic ------------------------------------------------------

const SENDERS: usize = 4;
/// Lines a sender may have sent that some receiver has not read yet: keeps the
/// traffic heavy but the backlog at the signal small enough to drain in the grace.
const WINDOW: u64 = 200;
const BATCH: u64 = 20;

/// What the traffic threads of `sigterm_under_heavy_traffic_loses_nothing` share.
#[derive(Default)]
struct Traffic {
    /// `received[r][s]`: lines from client `s` that client `r` has read.
    received: [[u64; SENDERS]; SENDERS],
    /// Client `r` has read the shutdown notice; its sender stops.
    notified: [bool; SENDERS],
}

type Shared = Arc<(Mutex<Traffic>, Condvar)>;

/// Waits on `shared` until `done` holds, at most [`TIMEOUT`].
fn wait_until(shared: &Shared, what: &str, mut done: impl FnMut(&Traffic) -> bool) {
    let (lock, changed) = &**shared;
    let deadline = Instant::now() + TIMEOUT;
    let mut traffic = lock.lock().unwrap();
    while !done(&traffic) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        traffic = changed.wait_timeout(traffic, left).unwrap().0;
    }
}

/// Client `me` sends numbered lines as fast as the window allows until it has read
/// the shutdown notice; returns how many it sent.
fn send_until_notified(me: usize, mut stream: TcpStream, shared: Shared) -> u64 {
    let mut sent = 0;
    loop {
        let mut stop = false;
        wait_until(&shared, "the window to open", |t| {
            stop = t.notified[me];
            let slowest = (0..SENDERS)
                .filter(|&r| r != me)
                .map(|r| t.received[r][me])
                .min()
                .unwrap_or(0);
            stop || sent < slowest + WINDOW
        });
        // `stop` was set by the last call of the condition.
        if stop {
            return sent;
        }
        let batch: String = (sent..sent + BATCH).map(|n| format!("{n}\n")).collect();
        stream.write_all(batch.as_bytes()).expect("send");
        sent += BATCH;
    }
}

/// Client `me` reads until the goodbye, checking that every sender's lines arrive
/// in order without gaps; returns how many it read from each.
fn receive_until_goodbye(me: usize, mut client: Client, shared: Shared) -> [u64; SENDERS] {
    let (lock, changed) = &*shared;
    loop {
        let line = client.read_line();
        let mut traffic = lock.lock().unwrap();
        if line == GOODBYE {
            let counts = traffic.received[me];
            drop(traffic);
            client.expect_closed();
            return counts;
        }
        if line == "* server shutting down in 3 seconds" {
            traffic.notified[me] = true;
        } else {
            let (from, n) = line
                .strip_prefix("> c")
                .and_then(|rest| rest.split_once(": "))
                .and_then(|(s, n)| Some((s.parse::<usize>().ok()?, n.parse::<u64>().ok()?)))
                .unwrap_or_else(|| panic!("c{me} got {line:?}"));
            assert_ne!(from, me, "c{me} got its own line back");
            assert_eq!(
                n, traffic.received[me][from],
                "c{me}: c{from}'s lines out of order"
            );
            traffic.received[me][from] = n + 1;
        }
        changed.notify_all();
    }
}

#[test]
fn sigterm_under_heavy_traffic_loses_nothing() {
    let mut server = chatd().config("shutdown_grace_secs = 3").start();
    let mut clients: Vec<Client> = (0..SENDERS)
        .map(|i| server.join(&format!("c{i}")))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        // Everyone reads up to the last join, so only chat follows.
        if i + 1 < SENDERS {
            client.read_until(&format!("c{} joined", SENDERS - 1));
        }
    }
    let shared: Shared = Arc::default();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let stream = client.stream.try_clone().unwrap();
        let shared_out = Arc::clone(&shared);
        senders.push(std::thread::spawn(move || {
            send_until_notified(i, stream, shared_out)
        }));
        let shared_in = Arc::clone(&shared);
        receivers.push(std::thread::spawn(move || {
            receive_until_goodbye(i, client, shared_in)
        }));
    }
    // Signal in the middle of the stream: when every receiver has read plenty.
    wait_until(&shared, "traffic", |t| {
        (0..SENDERS).all(|r| (0..SENDERS).all(|s| r == s || t.received[r][s] >= 1000))
    });
    server.signal("TERM");

    let sent: Vec<u64> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    let received: Vec<[u64; SENDERS]> = receivers.into_iter().map(|t| t.join().unwrap()).collect();
    for (r, counts) in received.iter().enumerate() {
        for (s, &count) in counts.iter().enumerate() {
            if r != s {
                assert_eq!(
                    count, sent[s],
                    "c{r} got {count} of c{s}'s {} lines",
                    sent[s]
                );
            }
        }
    }
    let log = server.drain_log();
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(0), "{log:#?}");
    let total: u64 = sent.iter().sum();
    let summary = log
        .iter()
        .find(|l| l.contains("shutdown finished: "))
        .unwrap_or_else(|| panic!("no summary: {log:#?}"));
    assert!(
        summary.contains(&format!(": {SENDERS} clients notified, {total} lines in, ")),
        "sent {total}: {summary}"
    );
    assert_eq!(problems(&log), Vec::<&String>::new());
}

// --- SIGHUP storm ----------------------------------------------------------------

#[test]
fn sighup_storm_keeps_the_server_serving() {
    let config = "room_name = \"before\"\nshutdown_grace_secs = 1";
    let mut server = chatd().config(config).start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);

    // 200 signals back to back from a shell loop, while alice and bob chat. Each
    // comes from its own kill(1) process, so that they spread over a while rather
    // than all merging into one pending signal.
    let mut storm = Command::new("sh")
        .arg("-c")
        .arg("i=0; while [ $i -lt 200 ]; do env kill -HUP $0 || exit 1; i=$((i+1)); done")
        .arg(server.child.id().to_string())
        .spawn()
        .expect("start the storm");
    let mut said = 0;
    let storm_status = loop {
        alice.send(&format!("during the storm {said}\n"));
        bob.expect_line(&format!("> alice: during the storm {said}"));
        said += 1;
        if let Some(status) = storm.try_wait().unwrap() {
            break status;
        }
    };
    assert!(storm_status.success(), "kill failed: the server is gone");

    // Reloads still work: a new room name reaches new connections. The file is
    // replaced by a rename, so a reload still running from the storm never reads
    // half a file.
    let staged = server.config_path.with_extension("new");
    std::fs::write(
        &staged,
        crate::common::merge_config(
            crate::common::BASE_CONFIG,
            "room_name = \"after\"\nshutdown_grace_secs = 1",
        ),
    )
    .unwrap();
    std::fs::rename(&staged, &server.config_path).unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut probe = server.connect();
        if probe.read_line() == "> Welcome to after" {
            break;
        }
        assert!(Instant::now() < deadline, "the last reload was not applied");
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    }
    bob.send("after the storm\n");
    alice.expect_line("> bob: after the storm");

    server.signal("TERM");
    for client in [&mut alice, &mut bob] {
        client.read_until(GOODBYE);
        client.expect_closed();
    }
    let log = server.drain_log();
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(0), "{log:#?}");
    assert_eq!(problems(&log), Vec::<&String>::new());
    let reloads = log.iter().filter(|l| l.contains("config reloaded")).count();
    assert!((2..=201).contains(&reloads), "{reloads} reloads");
}
