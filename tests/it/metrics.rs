//! The metrics, over real sockets with the real binary: `chatd ctl metrics`
//! and the HTTP endpoint pass `promtool check metrics`; after a known
//! sequence every counter has the value it should; counters never go down
//! across a reload; the endpoint's answers (404, 405, 400) and its bounds (a
//! huge request head, a silent client, too many connections at once, a client
//! that does not close); the
//! alert rules shipped in `contrib/` pass `promtool check rules`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Server, TIMEOUT, chatd, ctl, ctl_ok, require, temp_dir};

/// A server with a control socket and the metrics endpoint on an ephemeral
/// port, and `extra` settings.
struct Watched {
    server: Server,
    socket: PathBuf,
    metrics: SocketAddr,
}

fn start(extra: &str) -> Watched {
    let socket = temp_dir().join("control.sock");
    let mut server = chatd()
        .config(&format!(
            "control_socket = \"{}\"\nmetrics_address = \"127.0.0.1:0\"\n{extra}",
            socket.display()
        ))
        .start();
    let line = server.wait_log("metrics at http://");
    let metrics = line
        .rsplit("http://")
        .next()
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Watched {
        server,
        socket,
        metrics,
    }
}

/// An HTTP answer, as the test client read it.
struct Answer {
    status: String,
    headers: Vec<String>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| {
            let (key, value) = h.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Connects to the endpoint, with [`TIMEOUT`] on every read and write.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect to the endpoint");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Reads an answer to its end (the endpoint closes after one).
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    match stream.read_to_end(&mut bytes) {
        Ok(_) => {}
        // What came before a reset is still read (Linux keeps what was acknowledged).
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no complete answer within {TIMEOUT:?}: {e}; read {bytes:?}"),
    }
    let text = String::from_utf8(bytes).expect("the answer is UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {text:?}"));
    let mut lines = head.split("\r\n");
    Answer {
        status: lines.next().unwrap_or("").to_owned(),
        headers: lines.map(str::to_owned).collect(),
        body: body.to_owned(),
    }
}

/// Sends `request` and reads the answer.
fn http(addr: SocketAddr, request: &str) -> Answer {
    let mut stream = connect(addr);
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    read_answer(&mut stream)
}

fn get_metrics(addr: SocketAddr) -> Answer {
    http(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n",
    )
}

/// Runs `promtool check metrics` on `text`: it must find nothing to say.
/// Asks for the metrics until the endpoint answers 200 (a slot came free),
/// failing after [`TIMEOUT`].
fn wait_until_served(addr: SocketAddr) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let answer = get_metrics(addr);
        if answer.status == "HTTP/1.1 200 OK" {
            return;
        }
        assert!(Instant::now() < deadline, "still {}", answer.status);
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    }
}

fn assert_promtool_passes(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}\n--- the metrics:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The samples of a metrics text: `name{labels}` as written, and its value;
/// and each family's type.
struct Samples {
    values: HashMap<String, f64>,
    types: HashMap<String, String>,
}

impl Samples {
    fn parse(text: &str) -> Samples {
        let mut values = HashMap::new();
        let mut types = HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v
                        .parse()
                        .unwrap_or_else(|_| panic!("bad value in {line:?}")),
                };
                values.insert(series.to_owned(), value);
            }
        }
        Samples { values, types }
    }

    /// The value of `series`, which must be there.
    fn get(&self, series: &str) -> f64 {
        *self
            .values
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in the metrics"))
    }

    /// Whether `series` belongs to a counter or a histogram: a value that
    /// may only grow.
    fn only_grows(&self, series: &str) -> bool {
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| self.types.get(*f).is_some_and(|t| t == "histogram"))
            .unwrap_or(name);
        matches!(
            self.types.get(family).map(String::as_str),
            Some("counter" | "histogram")
        )
    }
}

/// `chatd ctl metrics`, parsed.
fn ctl_metrics(socket: &Path) -> Samples {
    Samples::parse(&ctl_ok(socket, &["metrics"]))
}

#[test]
#[cfg_attr(not(has_promtool), ignore = "promtool is not installed")]
fn ctl_metrics_pass_promtool() {
    require("promtool");
    let watched = start("");
    let mut alice = watched.server.join("alice");
    alice.send("hello\n");
    let text = ctl_ok(&watched.socket, &["metrics"]);
    assert!(text.ends_with('\n'));
    assert_promtool_passes(&text);
}

#[test]
#[cfg_attr(not(has_promtool), ignore = "promtool is not installed")]
fn the_endpoint_serves_what_promtool_passes() {
    require("promtool");
    let watched = start("");
    let _alice = watched.server.join("alice");
    let answer = get_metrics(watched.metrics);
    assert_eq!(answer.status, "HTTP/1.1 200 OK");
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        answer.header("Content-Length"),
        Some(answer.body.len().to_string().as_str())
    );
    assert_eq!(answer.header("Connection"), Some("close"));
    assert_promtool_passes(&answer.body);
    let samples = Samples::parse(&answer.body);
    assert_eq!(samples.get("chatd_connections{state=\"signed_in\"}"), 1.0);
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(samples.get(family) >= 0.0);
    }
    assert_eq!(
        samples.get(&format!(
            "chatd_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
}

#[test]
fn head_answers_the_headers_without_the_body() {
    let watched = start("");
    let answer = http(
        watched.metrics,
        "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(answer.status, "HTTP/1.1 200 OK");
    assert!(answer.header("Content-Length").is_some_and(|n| n != "0"));
    assert_eq!(answer.body, "");
}

/// connect, sign in, chat, a refused connection, a kick: each counter has
/// exactly the value that sequence gives it.
#[test]
fn counters_after_a_known_sequence() {
    let watched = start("max_clients_per_ip = 2\n");
    let server = &watched.server;
    // Every byte the hub queued for alice and bob, as they read it.
    let mut received = 0;
    let mut alice = server.connect();
    received += alice.read_raw_lines(3).len(); // the banner
    alice.send("alice#\n");
    received += alice.read_raw_line().len(); // welcome
    let mut bob = server.connect();
    received += bob.read_raw_lines(3).len();
    bob.send("bob#\n");
    received += bob.read_raw_line().len();
    received += alice.read_raw_line().len(); // bob joined
    // A third connection from the same address is turned away.
    let mut third = server.connect();
    third.expect_prefix("! ");
    third.expect_closed();
    alice.send("hi\n");
    let hi = bob.read_raw_line();
    assert_eq!(hi, b"> alice: hi\r\n");
    received += hi.len();
    ctl_ok(&watched.socket, &["kick", "bob"]);
    received += bob.read_to_close().len(); // "you were kicked"
    received += alice
        .read_until("kicked")
        .iter()
        .map(|line| line.len() + 2)
        .sum::<usize>();

    // The sampled line ("hi") is counted once its last write is seen, and a
    // writer counts what it wrote just after the client may have read it.
    let deadline = Instant::now() + TIMEOUT;
    let m = loop {
        let m = ctl_metrics(&watched.socket);
        let settled = m.get("chatd_line_latency_seconds_count") == 1.0
            && m.get("chatd_send_queue_bytes") == 0.0;
        if settled || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    };
    let expected = [
        ("chatd_connections{state=\"prompt\"}", 0.0),
        ("chatd_connections{state=\"signed_in\"}", 1.0),
        ("chatd_connections_accepted_total", 2.0),
        ("chatd_connections_rejected_total{reason=\"full\"}", 0.0),
        (
            "chatd_connections_rejected_total{reason=\"per_address\"}",
            1.0,
        ),
        ("chatd_connections_rejected_total{reason=\"banned\"}", 0.0),
        (
            "chatd_connections_rejected_total{reason=\"login_timeout\"}",
            0.0,
        ),
        ("chatd_sign_ins_total", 2.0),
        ("chatd_lines_in_total", 1.0),
        // Two banners, two welcomes, bob's join to alice, "hi" to bob, the
        // kick to bob and the room's line about it to alice.
        ("chatd_deliveries_total", 8.0),
        ("chatd_delivered_bytes_total", received as f64),
        ("chatd_slow_clients_dropped_total{bound=\"hard\"}", 0.0),
        (
            "chatd_slow_clients_dropped_total{bound=\"soft_grace\"}",
            0.0,
        ),
        ("chatd_slow_clients", 0.0),
        ("chatd_flood_holds_total", 0.0),
        ("chatd_moderation_actions_total{action=\"kick\"}", 1.0),
        ("chatd_moderation_actions_total{action=\"ban\"}", 0.0),
        ("chatd_moderation_actions_total{action=\"mute\"}", 0.0),
        ("chatd_moderation_actions_total{action=\"say\"}", 0.0),
        ("chatd_bans", 0.0),
        ("chatd_mutes", 0.0),
        ("chatd_rooms", 0.0),
        ("chatd_room_members_max", 1.0),
        ("chatd_send_queue_bytes", 0.0),
        ("chatd_reloads_total{result=\"applied\"}", 0.0),
        ("chatd_reloads_total{result=\"refused\"}", 0.0),
        ("chatd_line_latency_seconds_count", 1.0),
        ("chatd_line_latency_seconds_bucket{le=\"+Inf\"}", 1.0),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(series, value)| m.get(series) != *value)
        .map(|(series, value)| format!("{series} is {}, expected {value}", m.get(series)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(m.get("chatd_round_duration_seconds_count") > 0.0);
    assert!(m.get("chatd_send_queue_peak_bytes") > 0.0);
    // The health line says the same.
    let stats = ctl_ok(&watched.socket, &["stats"]);
    assert!(
        stats.contains(" lines_in=1 deliveries=8 slow_drops=0 rejections=1 "),
        "{stats}"
    );
}

#[test]
fn counters_never_go_down_across_a_reload() {
    let watched = start("");
    let mut alice = watched.server.join("alice");
    let mut bob = watched.server.join("bob");
    alice.read_line(); // bob joined
    alice.send("one\n");
    bob.expect_line("> alice: one");
    let before = ctl_metrics(&watched.socket);
    // A reload that applies, and one that is refused.
    watched.server.rewrite_config(&format!(
        "control_socket = \"{}\"\nmetrics_address = \"127.0.0.1:0\"\nroom_name = \"Renamed\"\n",
        watched.socket.display()
    ));
    ctl_ok(&watched.socket, &["reload"]);
    std::fs::write(&watched.server.config_path, "port = \"x\"\n").unwrap();
    assert_eq!(ctl(&watched.socket, &["reload"]).status.code(), Some(1));
    alice.send("two\n");
    bob.expect_line("> alice: two");
    let after = ctl_metrics(&watched.socket);
    let mut compared = 0;
    for (series, &old) in &before.values {
        if before.only_grows(series) {
            let new = after.get(series);
            assert!(
                new >= old,
                "{series} went down across a reload: {old} -> {new}"
            );
            compared += 1;
        }
    }
    assert!(compared > 40, "only {compared} counter samples compared");
    assert_eq!(after.get("chatd_reloads_total{result=\"applied\"}"), 1.0);
    assert_eq!(after.get("chatd_reloads_total{result=\"refused\"}"), 1.0);
    assert_eq!(after.get("chatd_lines_in_total"), 2.0);
}

#[test]
fn lines_held_by_flood_control_are_counted() {
    let watched = start("flood_burst = 1\nflood_lines_per_sec = 5\n");
    let mut bob = watched.server.join("bob");
    // A fresh connection's bucket holds one token: the sign-in line takes
    // it, and the line right behind it waits 200 ms for the next.
    let mut alice = watched.server.connect();
    alice.read_banner();
    alice.send("alice#\none\n");
    bob.expect_prefix("* alice joined");
    bob.expect_line("> alice: one");
    let m = ctl_metrics(&watched.socket);
    assert_eq!(m.get("chatd_flood_holds_total"), 1.0);
}

#[test]
fn other_paths_are_404_other_methods_405_and_garbage_400() {
    let watched = start("");
    let addr = watched.metrics;
    let answer = http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(answer.status, "HTTP/1.1 404 Not Found");
    assert_eq!(answer.body, "404 Not Found: only /metrics is served here\n");
    for method in ["POST", "PUT", "DELETE", "BREW"] {
        let answer = http(
            addr,
            &format!("{method} /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(answer.status, "HTTP/1.1 405 Method Not Allowed", "{method}");
        assert_eq!(answer.header("Allow"), Some("GET, HEAD"));
    }
    let answer = http(addr, "hello there\r\n\r\n");
    assert_eq!(answer.status, "HTTP/1.1 400 Bad Request");
    let answer = http(addr, "GET /metrics HTTP/2.0\r\n\r\n");
    assert_eq!(answer.status, "HTTP/1.1 505 HTTP Version Not Supported");
    // The endpoint still serves.
    assert_eq!(get_metrics(addr).status, "HTTP/1.1 200 OK");
}

#[test]
fn a_request_head_over_8_kib_is_cut_off() {
    let watched = start("");
    let mut stream = connect(watched.metrics);
    let mut writer = stream.try_clone().unwrap();
    // A megabyte of head without its end; chatd stops reading long before.
    let sender = std::thread::spawn(move || {
        let mut head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        head.resize(1 << 20, b'a');
        // Fails once chatd has closed, if the kernel's buffers are full by then.
        let _ = writer.write_all(&head);
    });
    // The answer comes, and the connection closes, as soon as the bound is
    // crossed (the rest of the megabyte fits in the kernel's buffers, so the
    // sender may well not notice).
    let answer = read_answer(&mut stream);
    assert_eq!(
        answer.status,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(
        answer.body,
        "431 Request Header Fields Too Large: the request head is over 8192 bytes\n"
    );
    let _ = sender.join();
    assert_eq!(get_metrics(watched.metrics).status, "HTTP/1.1 200 OK");
}

#[test]
fn a_silent_client_is_cut_off_after_5_seconds() {
    let watched = start("");
    let began = Instant::now();
    let mut stream = connect(watched.metrics);
    // Half a request line, then nothing.
    stream.write_all(b"GET /met").unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, "HTTP/1.1 408 Request Timeout");
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(4500),
        "cut off after {waited:?}, before the 5 s bound"
    );
}

#[test]
fn connections_over_the_cap_are_answered_503() {
    let watched = start("");
    // Four silent connections hold every slot (accepted in the order made).
    let silent: Vec<TcpStream> = (0..4).map(|_| connect(watched.metrics)).collect();
    let answer = get_metrics(watched.metrics);
    assert_eq!(answer.status, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(
        answer.body,
        "503 Service Unavailable: too many connections at once\n"
    );
    drop(silent);
    // Their slots come back as chatd sees them close.
    wait_until_served(watched.metrics);
}

#[test]
fn an_answered_client_that_stays_connected_holds_its_slot_at_most_5_seconds() {
    let watched = start("");
    let began = Instant::now();
    // Four scrapers that take their answer and never close: chatd waits for
    // them to close (so that its close cannot reset the answer away), but
    // only so long.
    let lingering: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = connect(watched.metrics);
            stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut head = [0u8; 15];
            stream.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200 OK");
            stream
        })
        .collect();
    assert_eq!(
        get_metrics(watched.metrics).status,
        "HTTP/1.1 503 Service Unavailable"
    );
    wait_until_served(watched.metrics);
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(4500),
        "slots came back after {waited:?}, before the 5 s bound"
    );
    drop(lingering);
}

#[test]
fn a_metrics_address_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let done = chatd()
        .config(&format!("metrics_address = \"{addr}\"\n"))
        .run();
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr
            .contains(&format!("cannot listen for metrics on {addr}: ")),
        "{}",
        done.stderr
    );
}

#[test]
fn ctl_metrics_takes_no_arguments() {
    let watched = start("");
    let done = ctl(&watched.socket, &["metrics", "now"]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr.contains("metrics takes no arguments"),
        "{done:?}"
    );
}

#[test]
#[cfg_attr(not(has_promtool), ignore = "promtool is not installed")]
fn the_shipped_alert_rules_pass_promtool() {
    require("promtool");
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/chatd-alerts.yml");
    let out = Command::new("promtool")
        .args(["check", "rules", rules])
        .output()
        .expect("run promtool");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool check rules: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SUCCESS: 3 rules found"), "{said}");
}
