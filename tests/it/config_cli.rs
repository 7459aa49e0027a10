//! The `chatd` command line, config file errors, the log format and the log events,
//! tested on the real binary.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::common::{Client, TIMEOUT, chatd, write_temp_file};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exit status for configuration errors.
const EXIT_CONFIG: i32 = 78;

/// `--check-config` output for the built-in defaults, every key in order.
const DEFAULTS: &str = "\
address = \"127.0.0.1\"
port = 8194
room_name = \"chatd\"
language = \"en\"
colors = true
timestamps = false
upgrade_notice = true
utc_offset = \"+00:00\"
log_level = \"info\"
max_nick_chars = 24
max_line_bytes = 4096
max_clients = 10000
threads = 0
max_clients_per_ip = 32
login_timeout_secs = 60
flood_burst = 20
flood_lines_per_sec = 5
send_queue_bytes = 1048576
# send_queue_hard_bytes is not set
send_queue_grace_secs = 10
history = 20
max_rooms = 100
presence_summary_above = 100
presence_interval_secs = 10
shutdown_grace_secs = 10
stats_interval_secs = 60
# control_socket is not set
# state_dir is not set
history_on_disk = true
# motd_file is not set
# metrics_address is not set
";

/// `path` as an argument.
fn arg(path: &std::path::Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

// --- --check-config ----------------------------------------------------------

#[test]
fn check_config_prints_every_effective_setting() {
    let path = write_temp_file(
        "chatd.conf",
        "# a comment\nroom_name = \"lobby\"\nport = 9000\nhistory = 5\ncolors = false\n",
    );
    let run = chatd()
        .no_config()
        .args(&["--check-config", "--config", arg(&path)])
        .run();
    assert_eq!(run.status.code(), Some(0), "stderr: {}", run.stderr);
    let expected = DEFAULTS
        .replace("room_name = \"chatd\"", "room_name = \"lobby\"")
        .replace("port = 8194", "port = 9000")
        .replace("history = 20", "history = 5")
        .replace("colors = true", "colors = false");
    assert_eq!(run.stdout, expected);
    assert_eq!(run.stderr, "");
}

#[test]
fn check_config_names_every_bad_line() {
    let path = write_temp_file(
        "chatd.conf",
        "prot = 1\nhistory = -1\nroom_name = \"ok\"\ncolour = true\n",
    );
    let run = chatd()
        .no_config()
        .args(&["--check-config", "--config", arg(&path)])
        .run();
    assert_eq!(run.status.code(), Some(78), "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, (number, key)) in lines
        .iter()
        .zip([(1, "prot"), (2, "history"), (4, "colour")])
    {
        let prefix = format!("chatd: {}:{number}: ", path.display());
        assert!(line.starts_with(&prefix) && line.contains(key), "{line:?}");
    }
    assert_eq!(run.stdout, "");
}

#[test]
fn check_config_without_a_file_prints_the_defaults() {
    let run = chatd().no_config().args(&["--check-config"]).run();
    assert_eq!(run.status.code(), Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, DEFAULTS);
}

#[test]
fn port_option_overrides_the_file() {
    let path = write_temp_file("chatd.conf", "port = 9000\n");
    let run = chatd()
        .no_config()
        .args(&["--check-config", "--config", arg(&path), "--port", "1234"])
        .run();
    assert_eq!(run.status.code(), Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, DEFAULTS.replace("port = 8194", "port = 1234"));
}

#[test]
fn shipped_config_passes_check_and_documents_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/chatd.conf");
    let run = chatd()
        .no_config()
        .args(&["--check-config", "--config", path])
        .run();
    assert_eq!(run.status.code(), Some(0), "stderr: {}", run.stderr);
    // The file says every key is at its default except the address, and sets
    // the paths the unit gives chatd.
    let expected = DEFAULTS
        .replace("address = \"127.0.0.1\"", "address = \"0.0.0.0\"")
        .replace(
            "# control_socket is not set",
            "control_socket = \"/run/chatd/control.sock\"",
        )
        .replace("# state_dir is not set", "state_dir = \"/var/lib/chatd\"");
    assert_eq!(run.stdout, expected);
}

// --- config errors -----------------------------------------------------------

/// A config file with `text` is refused with `message` (after `chatd: `, naming the
/// file) and exit status 78, both by `--check-config` and by a normal start.
fn assert_refused(path: &std::path::Path, message: &str) {
    for check in [true, false] {
        let mut args = vec!["--config", arg(path)];
        if check {
            args.push("--check-config");
        }
        let run = chatd().no_config().args(&args).run();
        assert_eq!(
            run.status.code(),
            Some(EXIT_CONFIG),
            "{args:?}: stderr: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(message),
            "{args:?}: stderr {:?} lacks {message:?}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{args:?}: nothing on stdout");
    }
}

#[test]
fn unknown_key_is_refused_with_a_suggestion() {
    // Port 0 everywhere, so a start that wrongly went ahead could not collide.
    let text = "# chatd\n\nport = 0\nroom_name = \"lobby\"\n\n# typo below\nprot = 8194\n";
    let path = write_temp_file("chatd.conf", text);
    let expected = format!(
        "{}:7: unknown key \"prot\" (did you mean \"port\"?)",
        path.display()
    );
    assert_refused(&path, &expected);
}

#[test]
fn bad_value_is_refused_naming_line_and_key() {
    let path = write_temp_file("chatd.conf", "port = 0\ncolors = yes\n");
    let expected = format!(
        "{}:2: bad value for \"colors\": expected true or false, got \"yes\"",
        path.display()
    );
    assert_refused(&path, &expected);
}

#[test]
fn duplicate_key_is_refused_naming_both_lines() {
    let path = write_temp_file("chatd.conf", "port = 0\nhistory = 5\nport = 0\n");
    let expected = format!(
        "{}:3: duplicate key \"port\" (first set on line 1)",
        path.display()
    );
    assert_refused(&path, &expected);
}

#[test]
fn missing_config_file_is_refused() {
    let path = crate::common::temp_dir().join("no-such.conf");
    assert_refused(&path, &format!("{}: cannot read: ", path.display()));
}

// --- command line ------------------------------------------------------------

#[test]
fn help_prints_usage() {
    let run = chatd().no_config().args(&["--help"]).run();
    assert_eq!(run.status.code(), Some(0));
    assert!(
        run.stdout.starts_with("Usage: chatd "),
        "stdout: {}",
        run.stdout
    );
    for option in [
        "--config PATH",
        "--port PORT",
        "--check-config",
        "--version",
    ] {
        assert!(run.stdout.contains(option), "usage lacks {option:?}");
    }
    assert_eq!(run.stderr, "");
}

#[test]
fn version_prints_name_and_version() {
    let run = chatd().no_config().args(&["--version"]).run();
    assert_eq!(run.status.code(), Some(0));
    // The second line is what a live upgrade checks before handing over.
    assert_eq!(
        run.stdout,
        format!("chatd {VERSION}\nhandover versions: 1\n")
    );
}

#[test]
fn unknown_option_is_refused() {
    let run = chatd().no_config().args(&["--bogus"]).run();
    assert_eq!(run.status.code(), Some(EXIT_CONFIG));
    assert!(
        run.stderr
            .starts_with("chatd: unknown option \"--bogus\"\n"),
        "stderr: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Usage: chatd "),
        "stderr: {}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

// --- log format --------------------------------------------------------------

/// Whether `line` starts with a UTC time like `2026-11-24T07:30:19.123Z`.
fn starts_with_utc_time(line: &str) -> bool {
    let Some(stamp) = line.get(..24) else {
        return false;
    };
    let b = stamp.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    let number = |range: std::ops::Range<usize>| stamp[range].parse::<u32>().unwrap_or(99);
    digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
        && (1..=12).contains(&number(5..7))
        && (1..=31).contains(&number(8..10))
        && number(11..13) < 24
        && number(14..16) < 60
        && number(17..19) < 61
}

#[test]
fn log_lines_start_with_utc_time_and_level() {
    let mut server = chatd().start();
    let client = server.join("alice");
    server.wait_log("registered \"alice\"");
    drop(client);
    server.wait_log("left \"alice\"");
    assert!(server.log_lines.len() >= 4, "{:?}", server.log_lines);
    for line in &server.log_lines {
        assert!(starts_with_utc_time(line), "no timestamp: {line:?}");
        let level = &line[24..];
        assert!(
            [" INFO  ", " WARN  ", " ERROR ", " DEBUG "]
                .iter()
                .any(|l| level.starts_with(l)),
            "no level after the time: {line:?}"
        );
    }
    let first = &server.log_lines[0];
    assert_eq!(
        &first[24..],
        format!(
            " INFO  chatd {VERSION} starting (config: {})",
            server.config_path.display()
        )
    );
}

#[test]
fn journal_lines_start_with_priority_and_no_time() {
    let mut server = chatd().journal().start();
    let mut client = server.connect();
    client.read_banner();
    assert_eq!(
        server.log_lines[0],
        format!(
            "<6>chatd {VERSION} starting (config: {})",
            server.config_path.display()
        )
    );
    assert_eq!(
        server.log_lines[1],
        format!("<6>listening on {}", server.addr)
    );
    server.wait_log("<6>connect ");
    // A warning carries its own priority: a reload of a broken file.
    server.rewrite_config("bogus = 1");
    server.signal("HUP");
    let refused = server.wait_log("config reload refused");
    assert!(refused.starts_with("<4>"), "{refused:?}");
    for line in &server.log_lines {
        let digit = line.as_bytes().get(1).copied().unwrap_or(0);
        assert!(
            line.starts_with('<') && (b'0'..=b'7').contains(&digit) && line[2..].starts_with('>'),
            "no priority prefix: {line:?}"
        );
        assert!(!starts_with_utc_time(&line[3..]), "timestamp: {line:?}");
    }
}

#[test]
fn journal_stream_naming_another_file_keeps_timestamps() {
    // Inherited from some service, but stderr is not that stream: a plain pipe here.
    let server = chatd().env("JOURNAL_STREAM", "1:1").start();
    for line in &server.log_lines {
        assert!(starts_with_utc_time(line), "no timestamp: {line:?}");
    }
}

/// Connects to `addr`, retrying while nothing listens there yet (for a server whose
/// log level hides the "listening" line).
fn connect_when_listening(addr: SocketAddr) -> Client {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(probe) => {
                drop(probe);
                return Client::connect(addr);
            }
            Err(err) => assert!(
                Instant::now() < deadline,
                "{addr} not listening after {TIMEOUT:?}: {err}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    }
}

#[test]
fn warn_level_hides_connection_lines() {
    // The port starts out taken, so the server logs a warning we can wait for: it
    // proves warnings still get through while info lines are filtered.
    let blocker = TcpListener::bind("127.0.0.1:0").expect("bind blocker");
    let addr = blocker.local_addr().unwrap();
    let port = addr.port();
    let mut server = chatd()
        .config(&format!(
            "port = {port}\nlog_level = \"warn\"\nshutdown_grace_secs = 0"
        ))
        .spawn();
    server.wait_log("in use, retrying");
    drop(blocker);
    server.addr = addr;
    let mut client = connect_when_listening(addr);
    client.read_banner();
    client.send("alice#\n");
    client.expect_prefix("* Welcome, alice! Online (");
    client.send("/quit\n");
    client.expect_line("* Bye, alice!");
    server.signal("TERM");
    let log = server.drain_log();
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(0));
    assert!(
        log.iter().all(|line| line.contains(" WARN ")),
        "only warnings expected: {log:#?}"
    );
    for hidden in ["connect ", "registered ", "left ", "listening on "] {
        assert!(
            !log.iter().any(|line| line.contains(hidden)),
            "{hidden:?} logged at warn level: {log:#?}"
        );
    }
}

#[test]
fn message_text_is_not_logged_at_info_level() {
    let mut server = chatd().config("shutdown_grace_secs = 0").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let marker = format!("xyzzy{}", std::process::id());
    alice.send(&format!(
        "public {marker}\n/me waves {marker}\n/msg bob private {marker}\n"
    ));
    bob.expect_line(&format!("> alice: public {marker}"));
    bob.expect_line(&format!("* alice waves {marker}"));
    bob.expect_line(&format!("\u{7}> alice (private): private {marker}"));
    server.signal("TERM");
    let log = server.drain_log();
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(0));
    assert!(log.iter().any(|line| line.contains("registered \"bob\"")));
    assert!(
        !log.iter().any(|line| line.contains(&marker)),
        "message text in the log: {log:#?}"
    );
}

// --- log events --------------------------------------------------------------

#[test]
fn start_up_logs_version_config_and_address() {
    let mut server = chatd().start();
    let started = server.wait_log("starting");
    assert!(
        started.ends_with(&format!(
            "chatd {VERSION} starting (config: {})",
            server.config_path.display()
        )),
        "{started:?}"
    );
    let listening = server.wait_log("listening on ");
    assert!(
        listening.ends_with(&format!("INFO  listening on {}", server.addr)),
        "{listening:?}"
    );
    assert_ne!(server.addr.port(), 0);
    assert!(server.addr.ip().is_loopback());
}

#[test]
fn connect_register_and_leave_are_logged() {
    let mut server = chatd().start();
    let mut alice = server.join("alice");
    let peer = alice.stream.local_addr().unwrap();
    server.wait_log(&format!("connect {peer} "));
    server.wait_log(&format!("registered \"alice\" from {peer}"));
    alice.send("/quit\n");
    alice.expect_line("* Bye, alice!");
    let left = server.wait_log("left \"alice\"");
    assert!(
        left.ends_with(&format!("left \"alice\" from {peer}: quit (0 online)")),
        "{left:?}"
    );
}

/// The number after `name=` in a health line.
fn health_field(line: &str, name: &str) -> u64 {
    let start = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        + name.len()
        + 2;
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("bad {name} in {line:?}"))
}

#[test]
fn health_line_counts_traffic() {
    let mut server = chatd().config("stats_interval_secs = 1").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("hello\n");
    bob.expect_line("> alice: hello");
    let health = server.wait_log_since(0, "with registered=2 and lines_in>=1", |line| {
        line.contains("health: ")
            && health_field(line, "registered") == 2
            && health_field(line, "lines_in") >= 1
    });
    let fields = [
        "clients",
        "registered",
        "rooms",
        "lines_in",
        "deliveries",
        "slow_drops",
        "rejections",
        "peak_queue_bytes",
        "uptime",
    ];
    let at = health.find("health: ").unwrap();
    let names: Vec<&str> = health[at + 8..]
        .split(' ')
        .map(|field| field.split('=').next().unwrap())
        .collect();
    assert_eq!(names, fields, "{health:?}");
    assert!(health.ends_with('s'), "uptime in seconds: {health:?}");
    assert_eq!(health_field(&health, "clients"), 2, "{health:?}");
    assert_eq!(health_field(&health, "lines_in"), 1, "{health:?}");
    // Two banners, two welcomes, "bob joined" to alice, and alice's line to bob.
    assert_eq!(health_field(&health, "deliveries"), 6, "{health:?}");
    assert_eq!(health_field(&health, "slow_drops"), 0, "{health:?}");
    assert_eq!(health_field(&health, "rejections"), 0, "{health:?}");
    assert!(health_field(&health, "peak_queue_bytes") > 0, "{health:?}");
}

// --- address in use ----------------------------------------------------------

#[test]
fn address_in_use_gives_up_after_retries() {
    let blocker = TcpListener::bind("127.0.0.1:0").expect("bind blocker");
    let addr = blocker.local_addr().unwrap();
    let mut server = chatd().config(&format!("port = {}", addr.port())).spawn();
    let log = server.drain_log();
    let status = server.wait_exit(Duration::ZERO);
    assert_eq!(status.code(), Some(1), "log: {log:#?}");
    let retries = log
        .iter()
        .filter(|line| line.contains(&format!("address {addr} in use, retrying")))
        .count();
    assert_eq!(retries, 5, "log: {log:#?}");
    let last = log.last().expect("a final error");
    assert!(
        last.contains(" ERROR ") && last.contains(&format!("cannot listen on {addr}")),
        "{last:?}"
    );
    // And it says what to do about it.
    assert!(
        last.contains("pick another port with --port N or `port = N` in the config"),
        "{last:?}"
    );
    assert!(!log.iter().any(|line| line.contains("listening on")));
    drop(blocker);
}

#[test]
fn address_freed_during_retries_is_taken() {
    let blocker = TcpListener::bind("127.0.0.1:0").expect("bind blocker");
    let addr = blocker.local_addr().unwrap();
    let mut server = chatd().config(&format!("port = {}", addr.port())).spawn();
    server.wait_log(&format!("address {addr} in use, retrying"));
    drop(blocker);
    let listening = server.wait_log("listening on ");
    assert!(
        listening.ends_with(&format!("listening on {addr}")),
        "{listening:?}"
    );
    server.addr = addr;
    let mut client = server.connect();
    client.read_banner();
}

#[test]
fn stats_interval_zero_means_no_health_line_at_all() {
    let mut server = chatd()
        .config("stats_interval_secs = 0\nshutdown_grace_secs = 0\n")
        .start();
    let _alice = server.join("alice");
    server.signal("TERM");
    let log = server.drain_log();
    assert!(
        log.iter().any(|l| l.contains("shutdown finished")),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("health:")), "{log:?}");
}
