//! chatd under systemd: the unit files, notifications (`$NOTIFY_SOCKET`), socket
//! activation (`LISTEN_FDS`) and the journal's log format (`$JOURNAL_STREAM`).
//!
//! The tests play systemd's part themselves: they bind the notification socket,
//! pass listening sockets as fd 3, or run chatd under `systemd-socket-activate`.
//! Tests that need a systemd program skip themselves, with a note, when it is
//! not installed (`.ci/run` installs it).

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Server, TIMEOUT, chatd, free_port, require, temp_dir};

const SERVICE: &str = include_str!("../../systemd/chatd.service");
const SOCKET: &str = include_str!("../../systemd/chatd.socket");
const SHIPPED_CONFIG: &str = include_str!("../../config/chatd.conf");

/// Where the service unit expects the installed binary.
const INSTALLED_CHATD: &str = "/usr/local/bin/chatd";

/// A shell wrapper that sets `LISTEN_PID` to the pid chatd will have (the shell
/// execs it) and runs chatd with the remaining arguments.
const WITH_OWN_LISTEN_PID: &str = r#"export LISTEN_PID=$$; exec "$0" "$@""#;

/// Like [`WITH_OWN_LISTEN_PID`], and passes standard input on as fd 3, the way
/// systemd passes a socket: the test gives its listening socket as stdin.
const STDIN_AS_FD3: &str =
    r#"exec 3<&0 0</dev/null; export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@""#;

// --- The unit files -------------------------------------------------------------

/// Every `key=value` of `section` in a unit file, in order; comments skipped.
fn directives<'a>(unit: &'a str, section: &str) -> Vec<(&'a str, &'a str)> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut found = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && !line.is_empty() && !line.starts_with(['#', ';']) {
            let (key, value) = line.split_once('=').expect("key=value line");
            found.push((key.trim(), value.trim()));
        }
    }
    found
}

/// The values `key` is given in `section`, in order.
fn values<'a>(unit: &'a str, section: &str, key: &str) -> Vec<&'a str> {
    directives(unit, section)
        .into_iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .collect()
}

/// The one value of `key` in `section`; fails when it is missing or repeated.
fn value<'a>(unit: &'a str, section: &str, key: &str) -> &'a str {
    match values(unit, section, key).as_slice() {
        [one] => one,
        other => panic!("[{section}] {key}= should be set once, found {other:?}"),
    }
}

/// Seconds in a systemd time span written as `30s` or `30`.
fn seconds(span: &str) -> u64 {
    span.strip_suffix('s')
        .unwrap_or(span)
        .parse()
        .unwrap_or_else(|_| panic!("time span {span:?} is not whole seconds"))
}

fn shipped_config() -> chatd::config::Config {
    chatd::config::parse(SHIPPED_CONFIG, "config/chatd.conf").expect("shipped config parses")
}

/// Copies both units into a fresh directory with the installed binary's path
/// replaced by the one cargo built (`systemd-analyze` checks that it exists);
/// returns the paths of the service and the socket.
fn units_for_this_build(service_text: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir();
    let service = dir.join("chatd.service");
    let socket = dir.join("chatd.socket");
    let service_text = service_text.replace(INSTALLED_CHATD, env!("CARGO_BIN_EXE_chatd"));
    std::fs::write(&service, service_text).expect("write service unit");
    std::fs::write(&socket, SOCKET).expect("write socket unit");
    (service, socket)
}

/// Runs `systemd-analyze verify` on both units; returns what it printed on
/// stderr, which is empty when the units are clean. Warnings such as unknown
/// keys leave the exit status 0, so the output is what tells.
fn verify(service: &Path, socket: &Path) -> String {
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(service)
        .arg(socket)
        .stdin(Stdio::null())
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() && stderr.is_empty() {
        return format!("exit status {}: {stdout}", output.status);
    }
    stderr
}

#[test]
#[cfg_attr(not(has_systemd_analyze), ignore = "systemd-analyze is not installed")]
fn units_pass_systemd_analyze_verify() {
    require("systemd-analyze");
    let (service, socket) = units_for_this_build(SERVICE);
    let complaints = verify(&service, &socket);
    assert_eq!(complaints, "", "systemd-analyze verify complained");
}

#[test]
#[cfg_attr(not(has_systemd_analyze), ignore = "systemd-analyze is not installed")]
fn verify_check_catches_a_misspelled_directive() {
    // The test above must be able to fail: a typo only warns, with exit status 0.
    require("systemd-analyze");
    let broken = SERVICE.replace("KillMode=mixed", "KillMod=mixed");
    assert_ne!(broken, SERVICE);
    let (service, socket) = units_for_this_build(&broken);
    let complaints = verify(&service, &socket);
    assert!(
        complaints.contains("Unknown key 'KillMod'"),
        "{complaints:?}"
    );
}

#[test]
#[cfg_attr(not(has_systemd_analyze), ignore = "systemd-analyze is not installed")]
fn service_exposure_level_is_ok() {
    require("systemd-analyze");
    let (service, _) = units_for_this_build(SERVICE);
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&service)
        .stdin(Stdio::null())
        .output()
        .expect("run systemd-analyze security");
    let report = String::from_utf8_lossy(&output.stdout);
    let overall = report
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for chatd.service: "))
        .map(|(_, level)| level.to_owned())
        .unwrap_or_else(|| panic!("no overall level in:\n{report}"));
    let level: f64 = overall
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {overall:?}"));
    eprintln!("systemd-analyze security: {overall}");
    // docs/operating.md (Hardening) quotes 1.1; "OK" in systemd's words is below 2.0 (the best a
    // service with network access can reach is about 1.0).
    assert!(level < 2.0, "exposure level {overall}:\n{report}");
}

#[test]
fn service_runs_chatd_as_a_notify_service() {
    assert_eq!(value(SERVICE, "Service", "Type"), "notify");
    assert_eq!(
        value(SERVICE, "Service", "ExecStart"),
        "/usr/local/bin/chatd --config /etc/chatd/chatd.conf"
    );
    // The reload waits for its answer and needs no kill(1) (procps).
    assert_eq!(
        values(SERVICE, "Service", "ExecReload"),
        ["/usr/local/bin/chatd ctl --config /etc/chatd/chatd.conf reload"]
    );
    assert_eq!(value(SERVICE, "Service", "RuntimeDirectory"), "chatd");
    assert_eq!(value(SERVICE, "Service", "StateDirectory"), "chatd");
    assert_eq!(value(SERVICE, "Service", "Restart"), "on-failure");
    assert_eq!(value(SERVICE, "Service", "RestartPreventExitStatus"), "78");
    assert_eq!(value(SERVICE, "Service", "KillMode"), "mixed");
    // The log is stderr; it must reach the journal whatever happens to stdout.
    assert_eq!(value(SERVICE, "Service", "StandardError"), "journal");
    // The room pings at half the interval from a once-a-second tick.
    assert!(seconds(value(SERVICE, "Service", "WatchdogSec")) >= 4);
}

#[test]
fn service_stop_timeout_covers_grace_and_flush() {
    let grace = shipped_config().shutdown_grace_secs;
    let flush = chatd::server::FLUSH_TIMEOUT.as_secs();
    let timeout = seconds(value(SERVICE, "Service", "TimeoutStopSec"));
    assert!(
        timeout > grace + flush,
        "TimeoutStopSec={timeout}s must exceed grace {grace}s + flush {flush}s"
    );
}

#[test]
fn service_file_limit_exceeds_max_clients() {
    let limit: usize = value(SERVICE, "Service", "LimitNOFILE")
        .parse()
        .expect("LimitNOFILE is a number");
    assert!(limit > shipped_config().max_clients + 1024, "{limit}");
}

#[test]
fn service_is_hardened() {
    for (key, expected) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ] {
        assert_eq!(value(SERVICE, "Service", key), expected, "{key}=");
    }
    assert_eq!(
        values(SERVICE, "Service", "SystemCallFilter").first(),
        Some(&"@system-service")
    );
}

#[test]
fn socket_listens_where_the_shipped_config_does() {
    let config = shipped_config();
    assert_eq!(
        value(SOCKET, "Socket", "ListenStream"),
        format!("{}:{}", config.address, config.port)
    );
    // One socket for one chatd, not a chatd per connection.
    assert_eq!(value(SOCKET, "Socket", "Accept"), "no");
}

// --- Notifications ----------------------------------------------------------------

/// The test's stand-in for systemd's notification socket.
struct NotifySocket {
    socket: UnixDatagram,
    /// The value for `NOTIFY_SOCKET`.
    env: String,
}

impl NotifySocket {
    /// Binds a socket at a file path.
    fn at_path() -> NotifySocket {
        let path = temp_dir().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        NotifySocket::new(socket, path.display().to_string())
    }

    /// Binds a socket in the abstract namespace, which `NOTIFY_SOCKET` writes `@name`.
    fn abstract_name() -> NotifySocket {
        // The temp dir's path is unique to this process and test.
        let name = format!("{}/notify", temp_dir().display());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
        let socket = UnixDatagram::bind_addr(&addr).expect("bind abstract notify socket");
        NotifySocket::new(socket, format!("@{name}"))
    }

    fn new(socket: UnixDatagram, env: String) -> NotifySocket {
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        NotifySocket { socket, env }
    }

    /// The next datagram.
    fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => String::from_utf8(buf[..n].to_vec()).expect("notification is UTF-8"),
            Err(e) => panic!("no notification within {TIMEOUT:?}: {e}"),
        }
    }

    /// The next state change (`READY=1`, `RELOADING=1`, `STOPPING=1`, ...),
    /// skipping the room's periodic `STATUS=` and `WATCHDOG=1` lines.
    fn next_state(&self) -> String {
        loop {
            let datagram = self.recv();
            let state: Vec<&str> = datagram
                .lines()
                .filter(|l| !l.starts_with("STATUS=") && !l.starts_with("WATCHDOG="))
                .collect();
            if !state.is_empty() {
                return state.join("\n");
            }
        }
    }

    /// Reads datagrams until one has a line equal to `line`; returns that datagram.
    fn wait_for(&self, line: &str) -> String {
        loop {
            let datagram = self.recv();
            if datagram.lines().any(|l| l == line) {
                return datagram;
            }
        }
    }

    fn start_chatd(&self, extra_env: &[(&str, &str)]) -> Server {
        let mut chatd = chatd().env("NOTIFY_SOCKET", &self.env);
        for (key, value) in extra_env {
            chatd = chatd.env(key, value);
        }
        chatd.start()
    }
}

#[test]
fn notifies_ready_reloading_and_stopping_in_order() {
    let notify = NotifySocket::at_path();
    let mut server = notify.start_chatd(&[]);
    assert_eq!(notify.next_state(), "READY=1");

    server.signal("HUP");
    assert_eq!(notify.next_state(), "RELOADING=1");
    assert_eq!(notify.next_state(), "READY=1");
    server.wait_log("config reloaded");

    server.signal("TERM");
    assert_eq!(notify.next_state(), "STOPPING=1");
    assert!(server.wait_exit(Duration::ZERO).success());
}

#[test]
fn reload_during_shutdown_does_not_claim_ready() {
    let notify = NotifySocket::at_path();
    let mut server = notify.start_chatd(&[]);
    let mut alice = server.join("alice"); // Holds the grace period open.
    assert_eq!(notify.next_state(), "READY=1");
    server.signal("TERM");
    assert_eq!(notify.next_state(), "STOPPING=1");
    alice.expect_line("* server shutting down in 10 seconds");

    server.signal("HUP");
    // Logged after the signal thread would have notified anything.
    server.wait_log("config reloaded");
    server.signal("TERM");
    assert!(server.wait_exit(Duration::ZERO).success());
    notify.socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = notify.socket.recv(&mut buf) {
        let datagram = String::from_utf8_lossy(&buf[..n]);
        assert!(
            datagram.lines().all(|l| l.starts_with("STATUS=")),
            "after STOPPING=1: {datagram:?}"
        );
    }
}

#[test]
fn notifies_an_abstract_socket() {
    let notify = NotifySocket::abstract_name();
    let mut server = notify.start_chatd(&[]);
    assert_eq!(notify.next_state(), "READY=1");
    server.signal("TERM");
    assert_eq!(notify.next_state(), "STOPPING=1");
    assert!(server.wait_exit(Duration::ZERO).success());
}

#[test]
fn ready_comes_with_a_status() {
    let notify = NotifySocket::at_path();
    let _server = notify.start_chatd(&[]);
    assert_eq!(notify.recv(), "READY=1\nSTATUS=accepting connections");
}

#[test]
fn status_tells_the_client_count() {
    let notify = NotifySocket::at_path();
    let server = notify.start_chatd(&[]);
    notify.wait_for("STATUS=0 connected, 0 registered");
    let _alice = server.join("alice");
    let _bob = server.connect();
    notify.wait_for("STATUS=2 connected, 1 registered");
}

#[test]
fn status_counts_the_rooms() {
    let notify = NotifySocket::at_path();
    let server = notify.start_chatd(&[]);
    let mut alice = server.join("alice");
    alice.send("/join rust\n");
    notify.wait_for("STATUS=1 connected, 1 registered, 1 room");
    let mut bob = server.join("bob");
    bob.send("/join go\n");
    notify.wait_for("STATUS=2 connected, 2 registered, 2 rooms");
    alice.send("/part\n");
    notify.wait_for("STATUS=2 connected, 2 registered, 1 room");
}

#[test]
fn status_tells_of_a_shutdown() {
    let notify = NotifySocket::at_path();
    let server = notify.start_chatd(&[]);
    let mut alice = server.join("alice");
    notify.wait_for("STATUS=1 connected, 1 registered");
    server.signal("TERM");
    alice.expect_line("* server shutting down in 10 seconds");
    notify.wait_for("STATUS=shutting down: 1 connected, 1 registered");
}

#[test]
fn watchdog_is_pinged_at_half_its_interval() {
    let notify = NotifySocket::at_path();
    // Two seconds: a ping at every one-second tick.
    let _server = notify.start_chatd(&[("WATCHDOG_USEC", "2000000")]);
    assert_eq!(notify.next_state(), "READY=1");
    assert_eq!(
        notify.recv(),
        "WATCHDOG=1\nSTATUS=0 connected, 0 registered"
    );
    assert_eq!(notify.recv(), "WATCHDOG=1");
}

#[test]
fn watchdog_for_another_process_is_ignored() {
    let notify = NotifySocket::at_path();
    let test_pid = std::process::id().to_string();
    let _server = notify.start_chatd(&[
        ("WATCHDOG_USEC", "2000000"),
        ("WATCHDOG_PID", test_pid.as_str()),
    ]);
    assert_eq!(notify.next_state(), "READY=1");
    // The first tick sends the status, with the ping in the same datagram if due.
    assert_eq!(notify.recv(), "STATUS=0 connected, 0 registered");
}

#[test]
fn unusable_notify_socket_is_logged_not_fatal() {
    let mut server = chatd().env("NOTIFY_SOCKET", "relative/notify").start();
    server.wait_log(r#"sd_notify "READY=1\nSTATUS=accepting connections" failed: NOTIFY_SOCKET="relative/notify" is neither an absolute path nor an @abstract name"#);
    let _alice = server.join("alice");
}

// --- Socket activation ----------------------------------------------------------

/// A port that was free a moment ago (`systemd-socket-activate` cannot take port 0).
#[test]
#[cfg_attr(
    not(has_systemd_socket_activate),
    ignore = "systemd-socket-activate is not installed"
)]
fn chats_through_the_socket_from_systemd_socket_activate() {
    require("systemd-socket-activate");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = chatd()
        .wrapper(&["systemd-socket-activate", "-l", &listen])
        .spawn();
    server.wait_log(&format!("Listening on {listen} as 3."));
    server.addr = listen.parse().unwrap();

    // The first connection makes systemd-socket-activate start chatd; it waits
    // in the socket's backlog meanwhile.
    let mut alice = server.join("alice");
    server.wait_log("using the socket passed by systemd");
    let listening = server.wait_log("listening on ");
    assert!(
        listening.ends_with(&format!("listening on {listen}")),
        "{listening}"
    );
    let mut bob = server.join("bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    bob.send("hello through fd 3\n");
    alice.expect_line("> bob: hello through fd 3");
}

#[test]
fn passed_socket_keeps_listening_after_chatd_exits() {
    // The test plays systemd: it keeps its copy of the listening socket, which must
    // still accept connections after chatd has stopped (dropped, not shut down).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let passed = OwnedFd::from(listener.try_clone().expect("dup listener"));
    let mut server = chatd()
        .config("shutdown_grace_secs = 0")
        .wrapper(&["sh", "-c", STDIN_AS_FD3])
        .stdin(passed)
        .spawn();
    server.wait_log("using the socket passed by systemd");
    server.wait_log(&format!("listening on {addr}"));
    server.addr = addr;
    let mut alice = server.join("alice");

    server.signal("TERM");
    alice.read_until("* server shutting down now, goodbye");
    assert!(server.wait_exit(Duration::ZERO).success());

    let _next = TcpStream::connect_timeout(&addr, TIMEOUT)
        .expect("the socket systemd holds must still listen after chatd exits");
    listener.set_nonblocking(true).unwrap();
    // The connection completed, so it is waiting in the accept queue.
    listener
        .accept()
        .expect("the connection is queued for the next chatd");
}

#[test]
fn listen_fds_for_another_process_are_ignored() {
    let mut server = chatd()
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .start();
    let _alice = server.join("alice");
    let log = server.log_so_far();
    assert!(
        !log.iter()
            .any(|l| l.contains("using the socket passed by systemd")),
        "{log:?}"
    );
}

#[test]
fn more_than_one_passed_socket_is_refused() {
    let mut server = chatd()
        .wrapper(&["sh", "-c", WITH_OWN_LISTEN_PID])
        .env("LISTEN_FDS", "2")
        .spawn();
    server
        .wait_log(r#"socket activation: LISTEN_FDS="2": chatd takes exactly one listening socket"#);
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(1));
}

#[test]
fn passed_fd_that_is_not_a_socket_is_refused() {
    let script = format!("exec 3</dev/null; {WITH_OWN_LISTEN_PID}");
    let mut server = chatd()
        .wrapper(&["sh", "-c", &script])
        .env("LISTEN_FDS", "1")
        .spawn();
    server.wait_log("socket activation: fd 3 is not a socket");
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(1));
}

#[test]
fn passed_datagram_socket_is_refused() {
    // A unit with ListenDatagram= instead of ListenStream=: chatd must say so at
    // start rather than fail to accept forever.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let mut server = chatd()
        .wrapper(&["sh", "-c", STDIN_AS_FD3])
        .stdin(OwnedFd::from(socket))
        .spawn();
    server.wait_log(
        "socket activation: fd 3 is a datagram socket; chatd needs a stream socket (ListenStream=)",
    );
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(1));
}

// --- The journal ----------------------------------------------------------------

#[test]
fn journal_stream_on_stderr_gets_priority_prefixes() {
    // As journald does, the test names its own stream's device and inode.
    let server = chatd().journal().start();
    assert_eq!(
        server.log_lines[0],
        format!(
            "<6>chatd {} starting (config: {})",
            env!("CARGO_PKG_VERSION"),
            server.config_path.display()
        )
    );
}

#[test]
fn journal_stream_naming_another_file_keeps_timestamps() {
    // A program started from a service inherits JOURNAL_STREAM even when its
    // stderr goes elsewhere, as in a terminal opened from a desktop session.
    let server = chatd().env("JOURNAL_STREAM", "8:12345").start();
    let first = &server.log_lines[0];
    assert!(!first.starts_with('<'), "{first}");
    let (time, rest) = first.split_once(' ').expect("timestamp");
    assert!(time.ends_with('Z') && time.contains('T'), "{first}");
    assert!(rest.starts_with("INFO  chatd "), "{first}");
}

/// A config error printed before logging starts carries the error priority
/// under journald, so `journalctl -p err` shows the reason.
#[test]
fn config_error_under_journald_has_the_error_priority() {
    for args in [&[][..], &["--check-config"]] {
        let run = chatd().config_text("prot = 1\n").journal().args(args).run();
        assert_eq!(run.status.code(), Some(78));
        let config = run.config_path.expect("a config file");
        assert_eq!(
            run.stderr,
            format!(
                "<3>chatd: {}:1: unknown key \"prot\" (did you mean \"port\"?)\n",
                config.display()
            )
        );
    }
}
