//! Signals on the real `chatd` binary: graceful shutdown on SIGTERM/SIGINT and
//! config reload on SIGHUP.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{Client, Server, TIMEOUT, chatd};

const GOODBYE: &str = "* server shutting down now, goodbye";

/// Reads the final notice, then the end of the connection with nothing after it.
fn expect_goodbye_then_close(client: &mut Client) {
    client.expect_line(GOODBYE);
    client.expect_closed();
}

/// Waits for a clean exit and returns the whole log.
fn expect_clean_exit(server: &mut Server) -> Vec<String> {
    let log = server.drain_log();
    let status = server.wait_exit(Duration::ZERO);
    assert_eq!(status.code(), Some(0), "log: {log:#?}");
    log
}

// --- graceful shutdown -------------------------------------------------------

#[test]
fn sigterm_refuses_new_connections_at_once() {
    let mut server = chatd().config("shutdown_grace_secs = 3").start();
    let [_alice, _bob] = server.users(["alice", "bob"]);
    server.signal("TERM");
    server.wait_log("shutdown begun");
    let err = TcpStream::connect_timeout(&server.addr, TIMEOUT)
        .expect_err("a connection during the shutdown");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn sigterm_lets_clients_finish() {
    let mut server = chatd().config("shutdown_grace_secs = 3").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    server.signal("TERM");
    alice.expect_line("* server shutting down in 3 seconds");
    bob.expect_line("* server shutting down in 3 seconds");
    // The grace is for chatting.
    alice.send("still here\n");
    bob.expect_line("> alice: still here");
    bob.send("me too\n");
    alice.expect_line("> bob: me too");
    expect_goodbye_then_close(&mut alice);
    expect_goodbye_then_close(&mut bob);
    let log = expect_clean_exit(&mut server);
    let summary = log
        .iter()
        .find(|line| line.contains("shutdown finished: "))
        .unwrap_or_else(|| panic!("no summary: {log:#?}"));
    assert!(
        summary.contains("shutdown finished: 2 clients notified, 2 lines in, "),
        "{summary:?}"
    );
    assert!(summary.ends_with(", 0 slow drops"), "{summary:?}");
}

#[test]
fn shutdown_ends_when_every_user_has_left() {
    // The grace is far longer than TIMEOUT: only the early end lets the test pass.
    let mut server = chatd().config("shutdown_grace_secs = 30").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    server.signal("TERM");
    alice.expect_line("* server shutting down in 30 seconds");
    bob.expect_line("* server shutting down in 30 seconds");
    alice.send("/quit\n");
    alice.expect_line("* Bye, alice!");
    alice.expect_closed();
    bob.expect_line("* alice left (quit; 1 online)");
    bob.send("/quit\n");
    bob.expect_line("* Bye, bob!");
    bob.expect_closed();
    let log = expect_clean_exit(&mut server);
    assert!(
        log.iter()
            .any(|line| line.contains("shutdown finished: 0 clients notified")),
        "{log:#?}"
    );
}

#[test]
fn second_sigterm_skips_the_grace() {
    let mut server = chatd().config("shutdown_grace_secs = 60").start();
    let mut alice = server.join("alice");
    server.signal("TERM");
    alice.expect_line("* server shutting down in 60 seconds");
    server.signal("TERM");
    expect_goodbye_then_close(&mut alice);
    expect_clean_exit(&mut server);
}

#[test]
fn sigint_shuts_down_like_sigterm() {
    let mut server = chatd().config("shutdown_grace_secs = 2").start();
    let mut alice = server.join("alice");
    server.signal("INT");
    server.wait_log("SIGINT: graceful shutdown");
    server.wait_log("shutdown begun");
    alice.expect_line("* server shutting down in 2 seconds");
    alice.send("/who\n");
    alice.expect_line("* Online (1): alice");
    expect_goodbye_then_close(&mut alice);
    expect_clean_exit(&mut server);
}

#[test]
fn lines_sent_before_sigterm_are_all_delivered() {
    let mut server = chatd().config("shutdown_grace_secs = 1").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let lines: Vec<String> = (0..200).map(|n| format!("line {n}")).collect();
    alice.send(&(lines.join("\n") + "\n"));
    server.signal("TERM");
    let received = bob.read_until(GOODBYE);
    let chat: Vec<&str> = received
        .iter()
        .filter_map(|line| line.strip_prefix("> alice: "))
        .collect();
    assert_eq!(chat, lines, "everything bob got: {received:#?}");
    bob.expect_closed();
    expect_clean_exit(&mut server);
}

#[test]
fn unregistered_connection_gets_the_shutdown_notices() {
    let mut server = chatd().config("shutdown_grace_secs = 2").start();
    let mut guest = server.connect();
    guest.read_banner();
    server.signal("TERM");
    guest.expect_line("* server shutting down in 2 seconds");
    expect_goodbye_then_close(&mut guest);
    expect_clean_exit(&mut server);
}

// --- reload ------------------------------------------------------------------

/// Writes `extra` over the server's config, sends SIGHUP and waits for `pattern`
/// in a log line written after the signal.
fn reload(server: &mut Server, extra: &str, pattern: &str) -> String {
    server.rewrite_config(extra);
    let mark = server.log_lines.len();
    server.signal("HUP");
    server.wait_log_since(mark, &format!("containing {pattern:?}"), |line| {
        line.contains(pattern)
    })
}

#[test]
fn sighup_renames_the_room_for_new_connections() {
    let mut server = chatd().config("room_name = \"before\"").start();
    let mut first = server.connect();
    first.expect_line("> Welcome to before");
    reload(&mut server, "room_name = \"after\"", "config reloaded");
    let mut second = server.connect();
    second.expect_line("> Welcome to after");
}

#[test]
fn sighup_applies_max_line_bytes_to_open_connections() {
    let mut server = chatd().config("max_line_bytes = 4096").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let long = "x".repeat(100);
    alice.send(&format!("{long}\n"));
    bob.expect_line(&format!("> alice: {long}"));
    reload(&mut server, "max_line_bytes = 64", "config reloaded");
    alice.send(&format!("{long}\nshort\n"));
    alice.expect_line("! line too long (max 64 bytes), discarded");
    bob.expect_line("> alice: short");
}

#[test]
fn sighup_with_a_bad_file_keeps_the_old_settings() {
    let mut server = chatd().config("room_name = \"old\"").start();
    let mut first = server.connect();
    first.expect_line("> Welcome to old");
    // BASE_CONFIG has five lines, so the unknown key is on line 7.
    let refused = reload(
        &mut server,
        "room_name = \"new\"\nbogus = 1",
        "config reload refused",
    );
    let path = server.config_path.display().to_string();
    assert!(
        refused.contains(&format!("{path}:7: unknown key \"bogus\"")),
        "{refused:?}"
    );
    let mut second = server.connect();
    second.expect_line("> Welcome to old");
}

#[test]
fn sighup_port_change_needs_a_restart() {
    let mut server = chatd().config("room_name = \"old\"").start();
    let mut first = server.connect();
    first.read_banner();
    // The file said port 0; any other port is a change.
    let warning = reload(
        &mut server,
        "port = 8194\nroom_name = \"new\"",
        "needs a restart",
    );
    assert!(warning.contains(" WARN "), "{warning:?}");
    assert!(warning.contains("port"), "{warning:?}");
    // Everything else applies; the server keeps its address.
    server.wait_log("config reloaded");
    let mut second = server.connect();
    second.expect_line("> Welcome to new");
}

/// A reload by signal is logged as one by `chatd ctl reload` is ("control
/// socket: reload"): the log says what asked for it, before what it did.
#[test]
fn sighup_is_logged_as_a_reload_request() {
    let mut server = chatd().config("room_name = \"before\"").start();
    let asked = reload(&mut server, "room_name = \"after\"", "SIGHUP: reload");
    assert!(
        asked.contains(" INFO ") || asked.starts_with("<6>"),
        "{asked}"
    );
    let at = server
        .log_lines
        .iter()
        .position(|l| l.contains("SIGHUP: reload"));
    let mark = at.expect("logged");
    server.wait_log_since(mark, "containing \"config reloaded\"", |line| {
        line.contains("config reloaded")
    });
}
