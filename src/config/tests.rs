//! The config file's parser and key table, tested on text (rendering, the shipped
//! file, loading and the reload policy are in `render_tests.rs`).

use super::toml::parse_decimal;
use super::*;
use std::error::Error as _;

fn ok(text: &str) -> Config {
    parse(text, "chatd.conf").unwrap()
}

fn err(text: &str) -> String {
    parse(text, "chatd.conf").unwrap_err().to_string()
}

#[test]
fn every_bad_line_is_reported_in_order() {
    let text = "port = 1\nprot = 2\nhistory = \"many\"\nport = 3\n[table]\ncolors = true\n";
    assert_eq!(
        err(text),
        "chatd.conf:2: unknown key \"prot\" (did you mean \"port\"?)\n\
         chatd.conf:3: bad value for \"history\": expected an integer from 0 to 1000, \
         got the string \"many\"\n\
         chatd.conf:4: duplicate key \"port\" (first set on line 1)\n\
         chatd.conf:5: table headers are not supported, got \"[table]\""
    );
}

#[test]
fn one_bad_line_is_one_error() {
    assert!(matches!(
        parse("prot = 2\n", "t.conf"),
        Err(ConfigError::UnknownKey { line: 1, .. })
    ));
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(ok(""), Config::default());
    assert_eq!(ok("\n\n  \n# only a comment\n"), Config::default());
}

#[test]
fn defaults_match_the_spec() {
    let c = Config::default();
    assert_eq!(c.address, "127.0.0.1");
    assert_eq!(c.port, 8194);
    assert_eq!(c.room_name, "chatd");
    assert_eq!(c.language, Language::En);
    assert!(c.colors);
    assert!(!c.timestamps);
    assert_eq!(c.utc_offset_minutes, 0);
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.max_nick_chars, 24);
    assert_eq!(c.max_line_bytes, 4096);
    assert_eq!(c.max_clients, 10_000);
    assert_eq!(c.threads, 0);
    assert_eq!(c.max_clients_per_ip, 32);
    assert_eq!(c.login_timeout_secs, 60);
    assert_eq!(c.flood_burst, 20);
    assert_eq!(c.flood_lines_per_sec, 5);
    assert_eq!(c.send_queue_bytes, 1_048_576);
    assert_eq!(c.send_queue_hard_bytes, None);
    assert_eq!(c.send_queue_hard_bound(), 4_194_304);
    assert_eq!(c.send_queue_grace_secs, 10);
    assert_eq!(c.history, 20);
    assert_eq!(c.presence_summary_above, 100);
    assert_eq!(c.presence_interval_secs, 10);
    assert_eq!(c.shutdown_grace_secs, 10);
    assert_eq!(c.stats_interval_secs, 60);
    assert!(c.flood_enabled());
}

#[test]
fn every_key_parses() {
    let c = ok(concat!(
        "address = \"::1\"\n",
        "port = 0\n",
        "room_name = \"聊天室\"\n",
        "language = \"zh\"\n",
        "colors = false\n",
        "timestamps = true\n",
        "utc_offset = \"-09:30\"\n",
        "log_level = \"debug\"\n",
        "max_nick_chars = 64\n",
        "max_line_bytes = 64\n",
        "max_clients = 1_000_000\n",
        "threads = 1024\n",
        "max_clients_per_ip = 1\n",
        "login_timeout_secs = 86400\n",
        "flood_burst = 0\n",
        "flood_lines_per_sec = 0\n",
        "send_queue_bytes = 1088\n",
        "send_queue_hard_bytes = 4_294_967_296\n",
        "send_queue_grace_secs = 3600\n",
        "history = 1000\n",
        "max_rooms = 1000\n",
        "presence_summary_above = 0\n",
        "presence_interval_secs = 3600\n",
        "shutdown_grace_secs = 3600\n",
        "stats_interval_secs = 0\n",
        "control_socket = \"/run/chatd/control.sock\"\n",
        "state_dir = \"/var/lib/chatd\"\n",
        "history_on_disk = false\n",
        "motd_file = \"/etc/chatd/motd\"\n",
        "metrics_address = \"[::1]:9194\"\n",
    ));
    let expected = Config {
        address: "::1".into(),
        port: 0,
        room_name: "聊天室".into(),
        language: Language::Zh,
        colors: false,
        timestamps: true,
        upgrade_notice: true,
        utc_offset_minutes: -570,
        log_level: LogLevel::Debug,
        max_nick_chars: 64,
        max_line_bytes: 64,
        max_clients: 1_000_000,
        threads: 1024,
        max_clients_per_ip: 1,
        login_timeout_secs: 86_400,
        flood_burst: 0,
        flood_lines_per_sec: 0,
        send_queue_bytes: 1088,
        send_queue_hard_bytes: Some(4 << 30),
        send_queue_grace_secs: 3600,
        history: 1000,
        max_rooms: 1000,
        presence_summary_above: 0,
        presence_interval_secs: 3600,
        shutdown_grace_secs: 3600,
        stats_interval_secs: 0,
        control_socket: Some("/run/chatd/control.sock".into()),
        state_dir: Some("/var/lib/chatd".into()),
        history_on_disk: false,
        motd_file: Some("/etc/chatd/motd".into()),
        metrics_address: Some("[::1]:9194".parse().unwrap()),
    };
    assert_eq!(c, expected);
    assert!(!c.flood_enabled());
}

#[test]
fn utc_offsets_parse_show_and_refuse() {
    for (text, minutes) in [
        ("+00:00", 0),
        ("+08:00", 480),
        ("-05:30", -330),
        ("+14:00", 840),
    ] {
        assert_eq!(keys::parse_utc_offset(text), Some(minutes), "{text}");
        assert_eq!(keys::show_utc_offset(minutes), text);
    }
    for bad in [
        "",
        "8",
        "+8:00",
        "08:00",
        "+15:00",
        "+08:60",
        "+08",
        "+08:00:00",
        "+0a:00",
    ] {
        assert_eq!(keys::parse_utc_offset(bad), None, "{bad:?}");
    }
    assert!(err("utc_offset = \"UTC+8\"").contains("bad value for \"utc_offset\""));
}

#[test]
fn every_log_level_parses_and_orders() {
    for (text, level) in [
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
    ] {
        assert_eq!(ok(&format!("log_level = \"{text}\"")).log_level, level);
        assert_eq!(level.as_str(), text);
    }
    assert!(
        LogLevel::Error < LogLevel::Warn
            && LogLevel::Warn < LogLevel::Info
            && LogLevel::Info < LogLevel::Debug
    );
}

#[test]
fn flood_control_needs_both_keys() {
    assert!(!ok("flood_burst = 0").flood_enabled());
    assert!(!ok("flood_lines_per_sec = 0").flood_enabled());
    assert!(ok("flood_burst = 1\nflood_lines_per_sec = 1").flood_enabled());
}

#[test]
fn comments_and_whitespace() {
    let c = ok(
        "# header\n  port=9000   # trailing comment\n\tcolors = true#tight\nroom_name = \"a # b\" # real comment\n",
    );
    assert_eq!(c.port, 9000);
    assert!(c.colors);
    assert_eq!(c.room_name, "a # b");
}

#[test]
fn bom_and_crlf() {
    let c = ok("\u{feff}port = 1\r\nroom_name = \"x\"\r\n\r\n# c\r\ncolors = false\r\n");
    assert_eq!((c.port, c.room_name.as_str(), c.colors), (1, "x", false));
}

#[test]
fn string_escapes() {
    assert_eq!(
        ok(r#"room_name = "say \"hi\" \\ \u00e9\U0001F600""#).room_name,
        "say \"hi\" \\ é😀"
    );
    assert_eq!(
        ok("room_name = 'C:\\rooms\\a \"b\"' # literal").room_name,
        "C:\\rooms\\a \"b\""
    );
    // Escapes that produce control characters parse, then the room name rejects them.
    assert_eq!(
        err(r#"room_name = "a\tb""#),
        r#"chatd.conf:1: bad value for "room_name": control characters are not allowed, got "a\tb""#
    );
}

#[test]
fn integers_with_underscores() {
    assert_eq!(ok("max_clients = 10_000").max_clients, 10_000);
    assert_eq!(
        ok("send_queue_bytes = 1_073_741_824").send_queue_bytes,
        1 << 30
    );
    for bad in [
        "1__0", "_10", "10_", "010", "0x10", "1e3", "8194.0", "81 94", "",
    ] {
        assert_eq!(parse_decimal(bad), None, "{bad:?}");
    }
    assert_eq!(parse_decimal("0"), Some(0));
    assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_decimal("18446744073709551616"), None);
}

#[test]
fn unknown_key_with_suggestion() {
    let text = "# chatd\n\naddress = \"0.0.0.0\"\n\n\n\nprot = 8194\n";
    assert_eq!(
        err(text),
        r#"chatd.conf:7: unknown key "prot" (did you mean "port"?)"#
    );
    let e = parse(text, "chatd.conf").unwrap_err();
    assert!(matches!(
        e,
        ConfigError::UnknownKey {
            line: 7,
            suggestion: Some("port"),
            ..
        }
    ));
}

#[test]
fn unknown_key_suggestions() {
    assert_eq!(suggest("Port"), Some("port"));
    assert_eq!(suggest("max_client"), Some("max_clients"));
    assert_eq!(suggest("max-clients-per-ip"), Some("max_clients_per_ip"));
    assert_eq!(suggest("history_size"), Some("history"));
    assert_eq!(suggest("log"), Some("log_level"));
    assert_eq!(suggest("colours"), Some("colors"));
    assert_eq!(suggest("bind"), None);
    assert_eq!(err("listen = 1"), r#"chatd.conf:1: unknown key "listen""#);
}

#[test]
fn duplicate_key() {
    assert_eq!(
        err("port = 1\ncolors = true\nport = 2\n"),
        r#"chatd.conf:3: duplicate key "port" (first set on line 1)"#
    );
}

#[test]
fn bad_values_name_the_range_or_choices() {
    let cases = [
        (
            "port = 80000",
            r#"bad value for "port": expected an integer from 0 to 65535, got "80000""#,
        ),
        (
            "port = -1",
            r#"bad value for "port": expected an integer from 0 to 65535 without a sign, got "-1""#,
        ),
        (
            "port = +1",
            r#"bad value for "port": expected an integer from 0 to 65535 without a sign, got "+1""#,
        ),
        (
            "port = \"8194\"",
            r#"bad value for "port": expected an integer from 0 to 65535, got the string "8194""#,
        ),
        (
            "port = 99999999999999999999",
            r#"bad value for "port": expected an integer from 0 to 65535, got "99999999999999999999""#,
        ),
        (
            "port = true",
            r#"bad value for "port": expected an integer from 0 to 65535, got "true""#,
        ),
        (
            "language = \"fr\"",
            r#"bad value for "language": expected "en" or "zh", got "fr""#,
        ),
        (
            "language = en",
            r#"bad value for "language": expected a string in double quotes, got "en" without quotes"#,
        ),
        (
            "log_level = \"trace\"",
            r#"bad value for "log_level": expected "error", "warn", "info" or "debug", got "trace""#,
        ),
        (
            "colors = yes",
            r#"bad value for "colors": expected true or false, got "yes""#,
        ),
        (
            "colors = \"true\"",
            r#"bad value for "colors": expected true or false, got the string "true""#,
        ),
        (
            "address = \"localhost\"",
            r#"bad value for "address": expected an IP address such as "127.0.0.1" or "::", got "localhost""#,
        ),
        (
            "address = 0.0.0.0",
            r#"bad value for "address": expected a string in double quotes, got "0.0.0.0" without quotes"#,
        ),
        (
            "metrics_address = \"127.0.0.1\"",
            r#"bad value for "metrics_address": expected an IP address and port such as "127.0.0.1:9194" or "[::1]:9194", got "127.0.0.1""#,
        ),
        (
            "metrics_address = \"localhost:9194\"",
            r#"bad value for "metrics_address": expected an IP address and port such as "127.0.0.1:9194" or "[::1]:9194", got "localhost:9194""#,
        ),
        (
            "room_name = \"\"",
            r#"bad value for "room_name": expected 1 to 64 characters, got """#,
        ),
        (
            "max_nick_chars = 0",
            r#"bad value for "max_nick_chars": expected an integer from 1 to 64, got "0""#,
        ),
        (
            "max_line_bytes = 63",
            r#"bad value for "max_line_bytes": expected an integer from 64 to 1048576, got "63""#,
        ),
        (
            "max_clients = 0",
            r#"bad value for "max_clients": expected an integer from 1 to 1000000, got "0""#,
        ),
        (
            "max_clients_per_ip = 1000001",
            r#"bad value for "max_clients_per_ip": expected an integer from 1 to 1000000, got "1000001""#,
        ),
        (
            "login_timeout_secs = 0",
            r#"bad value for "login_timeout_secs": expected an integer from 1 to 86400, got "0""#,
        ),
        (
            "flood_burst = 1000001",
            r#"bad value for "flood_burst": expected an integer from 0 to 1000000, got "1000001""#,
        ),
        (
            "flood_lines_per_sec = 1e3",
            r#"bad value for "flood_lines_per_sec": expected an integer from 0 to 1000000, got "1e3""#,
        ),
        (
            "send_queue_bytes = 1073741825",
            r#"bad value for "send_queue_bytes": expected an integer from 1088 to 1073741824, got "1073741825""#,
        ),
        (
            "history = 1001",
            r#"bad value for "history": expected an integer from 0 to 1000, got "1001""#,
        ),
        (
            "shutdown_grace_secs = 3601",
            r#"bad value for "shutdown_grace_secs": expected an integer from 0 to 3600, got "3601""#,
        ),
        (
            "stats_interval_secs = 86401",
            r#"bad value for "stats_interval_secs": expected an integer from 0 to 86400, got "86401""#,
        ),
    ];
    for (text, message) in cases {
        assert_eq!(
            err(&format!("# line 1\n{text}\n")),
            format!("chatd.conf:2: {message}")
        );
    }
    let long = "x".repeat(65);
    assert_eq!(
        err(&format!("room_name = \"{long}\"")),
        format!(
            r#"chatd.conf:1: bad value for "room_name": expected 1 to 64 characters, got "{long}""#
        )
    );
    assert_eq!(
        ok(&format!("room_name = \"{}\"", "é".repeat(64)))
            .room_name
            .chars()
            .count(),
        64
    );
}

#[test]
fn bad_value_variant_carries_the_key() {
    let e = parse("\n\nport = 80000", "chatd.conf").unwrap_err();
    assert!(matches!(
        e,
        ConfigError::BadValue {
            line: 3,
            key: "port",
            ..
        }
    ));
    assert!(e.source().is_none());
}

#[test]
fn syntax_errors() {
    let cases = [
        ("port 8194", r#"expected "key = value", got "port 8194""#),
        ("= 8194", r#"expected "key = value", got "= 8194""#),
        (
            "\"port\" = 8194",
            r#"expected "key = value", got "\"port\" = 8194""#,
        ),
        (
            "server.port = 8194",
            r#"expected "key = value", got "server.port = 8194""#,
        ),
        ("room_name = \"chat", "unterminated string"),
        ("room_name = \"chat\\\"", "unterminated string"),
        ("room_name = 'chat", "unterminated string"),
        (
            "room_name = \"\"\"chat\"\"\"",
            "multi-line strings are not supported",
        ),
        (
            "room_name = \"a\" \"b\"",
            r#"unexpected text after the string: "\"b\"""#,
        ),
        ("room_name = \"a\\q\"", r#"unknown escape "\q" in string"#),
        ("room_name = \"\\u12\"", r#"bad unicode escape "\u12""#),
        ("room_name = \"\\uD800\"", r#"bad unicode escape "\uD800""#),
        ("port =", r#"missing value for "port""#),
        ("port = # none", r#"missing value for "port""#),
        (
            "[server]",
            r#"table headers are not supported, got "[server]""#,
        ),
    ];
    for (text, message) in cases {
        assert_eq!(
            err(&format!("\n\n\n\n{text}\n")),
            format!("chatd.conf:5: {message}"),
            "{text}"
        );
    }
    assert_eq!(
        err("\n\n\n\n\n\nroom_name = \"chat\n"),
        "chatd.conf:7: unterminated string"
    );
}

#[test]
fn send_queue_must_hold_a_whole_line() {
    let message = |line, got| {
        format!(
            "chatd.conf:{line}: \"send_queue_bytes\" must be at least \"max_line_bytes\" + 1024 = 1049600 \
             so a whole line fits, got \"{got}\""
        )
    };
    // Reported at the later of the two keys, whichever order they come in.
    assert_eq!(err("max_line_bytes = 1048576\n"), message(1, 1_048_576));
    assert_eq!(
        err("send_queue_bytes = 1048576\n\nmax_line_bytes = 1048576\n"),
        message(3, 1_048_576)
    );
    assert_eq!(
        err("max_line_bytes = 1048576\nsend_queue_bytes = 2000\n"),
        message(2, 2000)
    );
    assert!(matches!(
        parse("max_line_bytes = 1048576", "p").unwrap_err(),
        ConfigError::Invalid { line: 1, .. }
    ));
    assert_eq!(
        ok("max_line_bytes = 1048576\nsend_queue_bytes = 1049600").send_queue_bytes,
        1_049_600
    );
    assert_eq!(
        ok("max_line_bytes = 64\nsend_queue_bytes = 1088").send_queue_bytes,
        1088
    );
}

#[test]
fn hard_queue_bound_follows_the_soft_one_unless_set() {
    assert_eq!(
        ok("send_queue_bytes = 65536").send_queue_hard_bound(),
        262_144
    );
    let both = ok("send_queue_bytes = 65536\nsend_queue_hard_bytes = 100000");
    assert_eq!(both.send_queue_hard_bound(), 100_000);
    // Equal bounds are allowed: then only the hard one ever drops anyone.
    let equal = ok("send_queue_hard_bytes = 1048576");
    assert_eq!(equal.send_queue_hard_bound(), 1_048_576);
}

#[test]
fn hard_queue_bound_must_not_be_below_the_soft_one() {
    let message = |line, soft, got| {
        format!(
            "chatd.conf:{line}: \"send_queue_hard_bytes\" must be at least \"send_queue_bytes\" = {soft}, got \"{got}\""
        )
    };
    // Against the default soft bound, and reported at the later of the two keys.
    assert_eq!(
        err("\nsend_queue_hard_bytes = 1048575\n"),
        message(2, 1_048_576, 1_048_575)
    );
    assert_eq!(
        err("send_queue_hard_bytes = 70000\nsend_queue_bytes = 80000\n"),
        message(2, 80_000, 70_000)
    );
    assert_eq!(
        err("send_queue_bytes = 80000\n\n\nsend_queue_hard_bytes = 70000\n"),
        message(4, 80_000, 70_000)
    );
    assert!(matches!(
        parse("send_queue_hard_bytes = 2000", "p").unwrap_err(),
        ConfigError::Invalid { line: 1, .. }
    ));
}

#[test]
fn queue_grace_range() {
    assert_eq!(ok("send_queue_grace_secs = 1").send_queue_grace_secs, 1);
    assert_eq!(
        err("send_queue_grace_secs = 0"),
        r#"chatd.conf:1: bad value for "send_queue_grace_secs": expected an integer from 1 to 3600, got "0""#
    );
}
