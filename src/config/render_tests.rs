//! The config's rendering, the shipped file, loading from disk and the reload
//! policy, tested (the parser's own tests are in `tests.rs`).

use super::toml::{quote, unescape};
use super::*;
use std::error::Error as _;

fn ok(text: &str) -> Config {
    parse(text, "chatd.conf").unwrap()
}

fn err(text: &str) -> String {
    parse(text, "chatd.conf").unwrap_err().to_string()
}

#[test]
fn render_parse_round_trip() {
    let default = Config::default();
    assert_eq!(ok(&default.render()), default);

    let odd = Config {
        address: "::".into(),
        room_name: "he said \"hi\" \\ 你好 #1".into(),
        language: Language::Zh,
        colors: false,
        log_level: LogLevel::Warn,
        port: 0,
        history: 0,
        send_queue_hard_bytes: Some(2 << 20),
        ..Config::default()
    };
    assert_eq!(ok(&odd.render()), odd);
}

#[test]
fn render_writes_every_key_in_order() {
    let rendered = Config::default().render();
    let names: Vec<&str> = rendered
        .lines()
        .map(|line| line.split(" = ").next().unwrap())
        .collect();
    let expected = [
        "address",
        "port",
        "room_name",
        "language",
        "colors",
        "timestamps",
        "upgrade_notice",
        "utc_offset",
        "log_level",
        "max_nick_chars",
        "max_line_bytes",
        "max_clients",
        "threads",
        "max_clients_per_ip",
        "login_timeout_secs",
        "flood_burst",
        "flood_lines_per_sec",
        "send_queue_bytes",
        "# send_queue_hard_bytes is not set",
        "send_queue_grace_secs",
        "history",
        "max_rooms",
        "presence_summary_above",
        "presence_interval_secs",
        "shutdown_grace_secs",
        "stats_interval_secs",
        "# control_socket is not set",
        "# state_dir is not set",
        "history_on_disk",
        "# motd_file is not set",
        "# metrics_address is not set",
    ];
    assert_eq!(names, expected);
    assert!(rendered.starts_with("address = \"127.0.0.1\"\nport = 8194\nroom_name = \"chatd\"\nlanguage = \"en\"\ncolors = true\ntimestamps = false\nupgrade_notice = true\nutc_offset = \"+00:00\"\n"));
}

#[test]
fn quote_escapes_what_unescape_reads() {
    assert_eq!(quote("a\"b\\c\nd\te\u{1b}"), r#""a\"b\\c\nd\te\u001B""#);
    let text = "a\"b\\c\nd\te\u{1b}\u{7f}";
    let (back, _) = unescape(&quote(text)[1..]).unwrap();
    assert_eq!(back, text);
}

#[test]
fn restart_only_changes_lists_socket_and_table_keys() {
    let old = Config::default();
    assert!(old.restart_only_changes(&old.clone()).is_empty());
    let runtime_only = Config {
        history: 5,
        log_level: LogLevel::Debug,
        room_name: "x".into(),
        ..old.clone()
    };
    assert!(old.restart_only_changes(&runtime_only).is_empty());
    let all = Config {
        address: "0.0.0.0".into(),
        port: 1,
        max_clients: 5,
        threads: 3,
        ..old.clone()
    };
    assert_eq!(
        old.restart_only_changes(&all),
        ["address", "port", "max_clients", "threads"]
    );
    assert_eq!(
        old.restart_only_changes(&Config {
            port: 1,
            ..old.clone()
        }),
        ["port"]
    );
}

#[test]
fn shipped_config_is_defaults_on_all_addresses() {
    let shipped = parse(include_str!("../../config/chatd.conf"), "config/chatd.conf").unwrap();
    assert_eq!(
        shipped,
        Config {
            address: "0.0.0.0".into(),
            control_socket: Some("/run/chatd/control.sock".into()),
            state_dir: Some("/var/lib/chatd".into()),
            ..Default::default()
        }
    );
}

#[test]
fn shipped_config_sets_every_key() {
    // "Every other key is set explicitly": a key missing from the shipped file would
    // silently take its default and go undocumented.
    let text = include_str!("../../config/chatd.conf");
    for key in &KEYS {
        // A key with no default is shown commented out.
        let set = text.lines().any(|line| {
            line.split('=').next().is_some_and(|name| {
                let name = name.trim();
                name == key.name
                    || ((key.show)(&Config::default()).is_none()
                        && name.strip_prefix("# ") == Some(key.name))
            })
        });
        assert!(set, "config/chatd.conf does not set {}", key.name);
    }
}

#[test]
fn load_reports_io_and_encoding_errors() {
    let missing = Path::new("/nonexistent/chatd.conf");
    let e = load(missing).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/chatd.conf: cannot read: "),
        "{e}"
    );
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

    let dir = std::env::temp_dir().join(format!("chatd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chatd.conf");
    std::fs::write(&file, b"port = 1\nroom_name = \"\xff\"\n").unwrap();
    let e = load(&file).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2: invalid UTF-8", file.display())
    );
    std::fs::write(&file, b"port = 1\n").unwrap();
    assert_eq!(load(&file).unwrap().port, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn paths_must_be_absolute_and_fit() {
    assert_eq!(
        err("state_dir = \"var/lib/chatd\"\n"),
        "chatd.conf:1: bad value for \"state_dir\": expected an absolute path, got \"var/lib/chatd\""
    );
    let long = format!("control_socket = \"/{}\"\n", "s".repeat(107));
    assert!(err(&long).contains("at most 107 bytes"), "{}", err(&long));
    assert!(err("motd_file = 5\n").starts_with("chatd.conf:1: bad value for \"motd_file\""));
}

/// The table's restart column is what a reload keeps: every key it marks, and
/// no other, is reported by `restart_only_changes` and put back by
/// `keep_restart_only`.
#[test]
fn restart_column_and_reload_policy_agree() {
    let current = Config::default();
    let mut new = parse(
        "address = \"::\"\nport = 1\nmax_clients = 5\nthreads = 3\ncontrol_socket = \"/x\"\nstate_dir = \"/y\"\nhistory_on_disk = false\nmotd_file = \"/z\"\nhistory = 3\nmetrics_address = \"127.0.0.1:1\"\n",
        "new.conf",
    )
    .unwrap();
    let restart: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.restart.is_some())
        .map(|k| k.name)
        .collect();
    assert_eq!(current.restart_only_changes(&new), restart);
    new.keep_restart_only(&current);
    assert!(current.restart_only_changes(&new).is_empty());
    assert_eq!(new.history, 3);
    assert_eq!(new.motd_file.as_deref(), Some("/z"));
}
