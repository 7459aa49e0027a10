//! Abuse, on the real `chatd` binary: a connection flood from one address,
//! impersonation through case and lookalike letters, escape sequences injected
//! through every path that shows user text, and one client flooding lines while
//! others chat.

use std::io::Write;
use std::net::Shutdown;
use std::process::Command;

use crate::common::{Client, chatd, join_in_color};

const PROMPT: &str = "> Please type your nickname followed by '#' and press Enter";
const TOO_MANY: &[u8] = b"! too many connections from your address\r\n";

#[test]
#[cfg_attr(not(has_ss), ignore = "ss (iproute2) is not installed")]
fn listens_with_the_kernels_largest_backlog() {
    crate::common::require("ss");
    let server = chatd().start();
    let filter = format!("sport = :{}", server.addr.port());
    let out = Command::new("ss")
        .args(["-Hltn", &filter])
        .output()
        .expect("run ss");
    let text = String::from_utf8_lossy(&out.stdout);
    // For a listening socket, ss shows the backlog as Send-Q (the third column).
    let backlog: u32 = text
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no backlog in {text:?}"));
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read somaxconn")
        .trim()
        .parse()
        .expect("somaxconn");
    assert_eq!(backlog, somaxconn.min(65535), "ss: {text}");
}

/// Connections in the flood below: far more than the standard library's listen
/// backlog of 128, which left clients half-open with no answer.
const FLOOD: usize = 600;

#[test]
fn connection_flood_from_one_address_admits_exactly_the_limit() {
    let mut server = chatd().config("max_clients_per_ip = 32").start();
    let idle_fds = server.idle_fds();
    let flood: Vec<Client> = (0..FLOOD).map(|_| server.connect()).collect();
    let mut admitted = Vec::new();
    let mut told = 0;
    // Connections are accepted in the order they were made.
    for (i, mut client) in flood.into_iter().enumerate() {
        if i < 32 {
            client.read_banner();
            admitted.push(client);
            continue;
        }
        // Told why and closed (read_to_close fails after TIMEOUT): never
        // admitted, never left hanging, never closed without a word.
        match client.read_to_close().as_slice() {
            TOO_MANY => told += 1,
            other => panic!("connection {i} got {:?}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!(told, FLOOD - 32);
    // Every rejection is logged, once.
    let is_rejection = |l: &str| l.ends_with(": too many connections from 127.0.0.1 (max 32)");
    let mut rejections = server
        .log_so_far()
        .iter()
        .filter(|l| is_rejection(l))
        .count();
    while rejections < FLOOD - 32 {
        let from = server.log_lines.len();
        server.wait_log_since(from, "about another rejection", is_rejection);
        rejections += 1;
    }
    let logged = server
        .log_so_far()
        .iter()
        .filter(|l| is_rejection(l))
        .count();
    assert_eq!(logged, FLOOD - 32);
    // The server holds no socket for a rejected connection once it is closed.
    assert_eq!(server.wait_open_fds_at_most(idle_fds + 32), idle_fds + 32);
    // And it still serves the admitted ones.
    let mut first = admitted.remove(0);
    first.send("bob#\n");
    first.expect_line("* Welcome, bob! Online (1): bob");
    first.send("/who\n");
    first.expect_line("* Online (1): bob");
    // Once the flood is gone, a newcomer from the same address is served.
    drop(first);
    drop(admitted);
    let mut newcomer = server.connect_admitted();
    newcomer.send("carol#\n");
    // (bob's leave may still be on its way, so the count is not asserted.)
    newcomer.expect_prefix("* Welcome, carol! Online (");
}

#[test]
fn lookalike_nicknames_are_refused_while_the_original_is_online() {
    let server = chatd().start();
    let mut bob = server.join("bob");
    let mut impostor = server.connect();
    impostor.read_banner();
    let lookalikes = [
        "Bob",
        "BOB",
        "Ｂｏｂ",                // fullwidth
        "\u{412}\u{43e}b",       // Cyrillic capital Ve and small o, Latin b
        "\u{392}\u{39f}\u{392}", // Greek capitals Beta, Omicron, Beta
        "b\u{43e}b",             // Cyrillic small o
    ];
    for name in lookalikes {
        impostor.send(&format!("{name}#\n"));
        impostor.expect_line(&format!("! nickname \"{name}\" is taken, try another"));
        impostor.expect_line(PROMPT);
    }
    // Renaming to a lookalike is refused the same way.
    let mut carol = server.join("carol");
    bob.expect_line("* carol joined (2 online: bob, carol)");
    carol.send("/nick \u{412}\u{43e}b\n");
    carol.expect_line("! nickname \"\u{412}\u{43e}b\" is taken, try another");
    // Uniqueness, not a ban: once bob has left, the name is free.
    bob.send("/quit\n");
    carol.expect_line("* bob left (quit; 1 online)");
    impostor.send("\u{412}\u{43e}b#\n");
    impostor.expect_line("* Welcome, \u{412}\u{43e}b! Online (2): \u{412}\u{43e}b, carol");
}

/// Reads lines until `expected`, checking that the lines before it are the
/// flooder's next ones, numbered from `seen` on; counts them in `seen`.
fn read_through_flood(client: &mut Client, seen: &mut usize, expected: &str) {
    loop {
        let line = client.read_line();
        if line == expected {
            return;
        }
        assert_eq!(line, format!("> flooder: flood {seen}"));
        *seen += 1;
    }
}

/// The server's own color codes (and the bold of a line that names its reader),
/// the only escapes allowed in what users receive.
const SERVER_COLORS: [&str; 5] = ["\x1b[33m", "\x1b[39m", "\x1b[92m", "\x1b[1m", "\x1b[22m"];

/// Checks that `raw` (lines ending in CRLF) holds no terminal control except the
/// server's own colors: no C0 or C1 control, DEL or bidi override.
fn assert_no_injected_controls(who: &str, raw: &[u8]) {
    let mut text = String::from_utf8(raw.to_vec()).expect("invalid UTF-8 from the server");
    for color in SERVER_COLORS {
        text = text.replace(color, "");
    }
    for line in text.split_terminator("\r\n") {
        // The server's own bell, first on a line that names its reader or a
        // private message; a bell anywhere else was injected.
        let line = line.strip_prefix('\u{7}').unwrap_or(line);
        let bad = line.chars().find(|&c| {
            c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        });
        assert_eq!(bad, None, "{who} got {line:?}");
    }
}

/// Reads raw lines until one contains `pattern`; returns them all.
fn read_raw_until(client: &mut Client, pattern: &str) -> Vec<u8> {
    let mut raw = Vec::new();
    loop {
        let line = client.read_raw_line();
        raw.extend_from_slice(&line);
        if String::from_utf8_lossy(&line).contains(pattern) {
            return raw;
        }
    }
}

#[test]
fn escapes_injected_anywhere_reach_no_terminal_and_no_log() {
    let mut server = chatd().config("colors = true").start();
    let payloads: [&[u8]; 10] = [
        b"\x1b[2J\x1b[H",              // clear the screen, cursor home
        b"\x1b]0;pwned\x07",           // set the window title
        b"\x1bP+q\x1b\\",              // device control string
        "\u{9b}31m".as_bytes(),        // C1 CSI, as UTF-8
        b"\x9b31m",                    // C1 CSI, as a raw byte
        b"\x1b\xff\xff[31m",           // ESC hidden behind a telnet IAC IAC
        b"back\x08\x08\x08\x08",       // backspaces over the nick
        b"a\rb\x7f\x00\x07",           // lone CR, DEL, NUL, bell
        "\u{202e}desrever".as_bytes(), // bidi override
        b"\x1b[31m",                   // color
    ];
    let mut victim = join_in_color(&server, "victim");
    let mut attacker = server.connect();
    attacker.read_banner();
    for payload in payloads {
        // As a nickname: refused.
        let mut line = b"ev".to_vec();
        line.extend_from_slice(payload);
        line.extend_from_slice(b"il#\n");
        attacker.send_bytes(&line);
        attacker.read_raw_lines(2);
    }
    attacker.send("mallory#\n");
    attacker.expect_prefix("* Welcome, \x1b[33mmallory\x1b[39m! Online (2)");
    victim.read_raw_line();
    for payload in payloads {
        for command in ["", "/me ", "/msg victim ", "/msg x", "/", "/nick "] {
            let mut line = command.as_bytes().to_vec();
            line.extend_from_slice(payload);
            line.extend_from_slice(b" tail\n");
            attacker.send_bytes(&line);
        }
    }
    let mut quit = b"/quit ".to_vec();
    quit.extend_from_slice(payloads[0]);
    quit.extend_from_slice(b" bye\n");
    attacker.send_bytes(&quit);

    let attacker_got = read_raw_until(&mut attacker, "* Bye, ");
    let victim_got = read_raw_until(&mut victim, " left (quit: ");
    assert_no_injected_controls("the attacker", &attacker_got);
    assert_no_injected_controls("the victim", &victim_got);
    // Each payload came through as chat, action and private message.
    let lines = String::from_utf8_lossy(&victim_got)
        .matches(" tail\r\n")
        .count();
    assert_eq!(lines, 3 * payloads.len(), "{victim_got:?}");
    let log = server.log_so_far();
    let bad: Vec<&String> = log
        .iter()
        .filter(|l| l.chars().any(char::is_control))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn flooder_does_not_slow_down_the_others() {
    // The default flood control.
    let server = chatd()
        .config("flood_burst = 20\nflood_lines_per_sec = 5")
        .start();
    let [flooder, mut alice, mut bob] = server.users(["flooder", "alice", "bob"]);
    let mut stream = flooder.stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        // As fast as the socket takes lines, until the test shuts it down.
        let mut n = 0;
        loop {
            let batch: String = (n..n + 100).map(|i| format!("flood {i}\n")).collect();
            if stream.write_all(batch.as_bytes()).is_err() {
                return;
            }
            n += 100;
        }
    });

    // Alice and bob play ten rounds of ping-pong through the flood. Each reads the
    // flood lines that arrive meanwhile: in order, none lost.
    let mut flood_seen = [0usize; 2];
    for round in 0..10 {
        alice.send(&format!("ping {round}\n"));
        read_through_flood(
            &mut bob,
            &mut flood_seen[1],
            &format!("> alice: ping {round}"),
        );
        bob.send(&format!("pong {round}\n"));
        read_through_flood(
            &mut alice,
            &mut flood_seen[0],
            &format!("> bob: pong {round}"),
        );
    }
    // The burst passes at once; after it, the flooder gets 5 lines a second, so its
    // 40th line comes 4 seconds later. All ten rounds were over long before.
    assert!(flood_seen.iter().all(|&n| n < 40), "{flood_seen:?}");
    flooder.stream.shutdown(Shutdown::Both).unwrap();
    flood.join().unwrap();
}
