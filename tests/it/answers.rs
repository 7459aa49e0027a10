//! Operators' answers tell the truth: durations that are not durations, a
//! `state_dir` that cannot be used, a ban that could not be saved, what
//! `--check-config` checks, banning someone who shares your address, what a
//! reload kept, `chatd ctl help` without a daemon, and `ctl who`'s columns.

use crate::common::{Client, TIMEOUT, chatd, ctl, ctl_ok, temp_dir, with_control, write_temp_file};

/// `chatd ctl ARGS` is refused (exit 1) with exactly `stderr`.
fn refused(path: &std::path::Path, args: &[&str], stderr: &str) {
    let done = ctl(path, args);
    assert_eq!(done.status.code(), Some(1), "{args:?}: {done:?}");
    assert_eq!(done.stderr, stderr, "{args:?}");
    assert_eq!(done.stdout, "", "{args:?}");
}

#[test]
fn a_duration_that_is_not_one_is_refused_with_a_hint() {
    let (server, path) = with_control("");
    let ban = "(usage: ban TARGET [DURATION] [REASON])";
    let mute = "(usage: mute TARGET [DURATION] [REASON])";
    refused(
        &path,
        &["ban", "127.0.0.1/32", "-1h"],
        &format!("bad duration \"-1h\": a duration has no sign (like 1h) {ban}\n"),
    );
    refused(
        &path,
        &["ban", "10.0.0.1", "0m", "spam"],
        &format!("bad duration \"0m\": must be more than zero {ban}\n"),
    );
    refused(
        &path,
        &["ban", "10.0.0.1", "1hr"],
        &format!("bad duration \"1hr\": did you mean 1h? {ban}\n"),
    );
    refused(
        &path,
        &["mute", "10.0.0.1", "30M", "flood"],
        &format!("bad duration \"30M\": did you mean 30m? {mute}\n"),
    );
    // Nothing was banned or muted for good on the way.
    assert_eq!(ctl_ok(&path, &["bans"]), "no bans\n");
    assert_eq!(ctl_ok(&path, &["mutes"]), "no mutes\n");
    // For good only when no duration is given.
    assert_eq!(
        ctl_ok(&path, &["ban", "10.0.0.1", "spam"]),
        "banned 10.0.0.1 for good (0 disconnected)\n"
    );
    // The same in the room.
    let mut alice = server.join("alice");
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_prefix("* you are now an operator");
    alice.send("/mute 10.0.0.2 -5m\n");
    alice.expect_line(
        "! bad duration \"-5m\": a duration has no sign (like 5m) (usage: /mute TARGET [DURATION] [REASON])",
    );
    alice.send("/ban 10.0.0.2 2days\n");
    alice.expect_line(
        "! bad duration \"2days\": did you mean 2d? (usage: /ban TARGET [DURATION] [REASON])",
    );
}

#[test]
fn state_dir_must_exist_and_be_writable_at_start() {
    let dir = temp_dir();
    let missing = dir.join("missing");
    let file = write_temp_file("not-a-dir", "");
    for (state, why) in [(&missing, "does not exist"), (&file, "not a directory")] {
        let mut server = chatd()
            .config(&format!("state_dir = \"{}\"\n", state.display()))
            .spawn();
        assert_eq!(server.wait_exit(TIMEOUT).code(), Some(78), "{why}");
        let log = server.drain_log().join("\n");
        let expected = format!("state_dir {}: {why}", state.display());
        assert!(log.contains(&expected), "{log}");
    }
}

#[test]
fn a_ban_that_cannot_be_saved_says_so() {
    let state = temp_dir();
    let (mut server, path) = with_control(&format!("state_dir = \"{}\"\n", state.display()));
    // The file's place taken by a directory: the rename over it fails.
    std::fs::create_dir(state.join("bans")).unwrap();
    let saving = format!("{}", state.join("bans").display());
    let done = ctl(&path, &["ban", "10.0.0.1", "spam"]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        format!(
            "banned 10.0.0.1 for good (0 disconnected)\n\
             the ban is in force, but not saved to {saving}: Is a directory (os error 21) \
             (tried again every 10s)\n"
        )
    );
    // In force all the same.
    assert!(ctl_ok(&path, &["bans"]).starts_with("10.0.0.1 until=never"));
    server.wait_log(&format!("cannot save {saving}"));
    // A mute's file is its own, and saved.
    assert_eq!(
        ctl_ok(&path, &["mute", "10.0.0.2"]),
        "10.0.0.2 is muted for good (0 connected)\n"
    );
}

#[test]
fn check_config_checks_what_the_start_checks() {
    let dir = temp_dir();
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("bans"), "10.0.0.1 since=yesterday\n").unwrap();
    let control = |p: &std::path::Path| format!("control_socket = \"{}\"\n", p.display());
    let socket_in_missing = dir.join("no such dir").join("control.sock");
    let not_a_socket = write_temp_file("control.sock", "precious");
    for (extra, message) in [
        (
            "motd_file = \"/nonexistent/motd\"\n".to_owned(),
            "motd_file /nonexistent/motd: cannot read".to_owned(),
        ),
        (
            format!("state_dir = \"{}\"\n", state.display()),
            format!("{}:1: bad since= time", state.join("bans").display()),
        ),
        (
            control(&not_a_socket),
            format!(
                "control_socket {}: it exists and is not a socket",
                not_a_socket.display()
            ),
        ),
    ] {
        let check = chatd().config(&extra).args(&["--check-config"]).run();
        assert_eq!(check.status.code(), Some(78), "{extra}: {check:?}");
        assert!(check.stderr.contains(&message), "{extra}: {}", check.stderr);
        assert_eq!(check.stdout, "", "{extra}");
        let start = chatd().config(&extra).run();
        assert_eq!(start.status.code(), Some(78), "{extra}: {start:?}");
        assert!(start.stderr.contains(&message), "{extra}: {}", start.stderr);
    }
    // A directory not there yet is a warning for the check (a service manager
    // may make it as the unit starts), and stops a start without it.
    let extra = control(&socket_in_missing);
    let message = format!(
        "control_socket {}: its directory {} does not exist",
        socket_in_missing.display(),
        dir.join("no such dir").display()
    );
    let check = chatd().config(&extra).args(&["--check-config"]).run();
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    assert!(
        check
            .stderr
            .starts_with(&format!("chatd: warning: {message} (yet: ")),
        "{}",
        check.stderr
    );
    assert!(
        check.stdout.contains("control_socket = "),
        "{}",
        check.stdout
    );
    let start = chatd().config(&extra).run();
    assert_eq!(start.status.code(), Some(78), "{start:?}");
    assert!(start.stderr.contains(&message), "{}", start.stderr);
}

#[test]
fn banning_someone_who_shares_your_address_says_so() {
    let (server, path) = with_control("");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_prefix("* you are now an operator");
    alice.send("/ban bob spam\n");
    alice.expect_line("! bob shares your address 127.0.0.1: a ban on it would shut you out too");
    alice.send("/mute bob\n");
    alice.expect_line("! bob shares your address 127.0.0.1: a mute on it would silence you too");
    alice.send("/ban 127.0.0.0/8\n");
    alice.expect_line("! 127.0.0.0/8 covers your own address 127.0.0.1");
    alice.send("/ban alice\n");
    alice.expect_line("! you cannot do that to yourself");
    // bob is still here, and unmuted.
    bob.send("still here\n");
    alice.expect_line("> bob: still here");
}

#[test]
fn reload_lists_the_restart_only_keys_it_kept() {
    let (mut server, path) = with_control("room_name = \"Before\"\n");
    let socket = format!("control_socket = \"{}\"\n", path.display());
    server.rewrite_config(&format!(
        "{socket}room_name = \"After\"\nport = 1\nthreads = 3\n"
    ));
    assert_eq!(
        ctl_ok(&path, &["reload"]),
        "config reloaded, except what needs a restart (kept as it was): port, threads\n"
    );
    server.wait_log("config reload: port changed, which needs a restart");
    let mut client = server.connect();
    client.expect_line("> Welcome to After");
    server.rewrite_config(&format!("{socket}room_name = \"Again\"\n"));
    assert_eq!(ctl_ok(&path, &["reload"]), "config reloaded\n");
}

#[test]
fn ctl_help_needs_no_daemon_and_lists_every_command() {
    let nowhere = temp_dir().join("no.sock");
    let socket = nowhere.to_str().unwrap();
    for args in [
        &["ctl", "--help"][..],
        &["ctl", "help"],
        &["ctl", "--socket", socket, "help"],
    ] {
        let run = chatd().no_config().args(args).run();
        assert_eq!(run.status.code(), Some(0), "{args:?}: {run:?}");
        for command in [
            "help", "who", "rooms", "kick", "ban", "unban", "mute", "unmute", "bans", "mutes",
            "purge", "op", "deop", "say", "stats", "reload",
        ] {
            assert!(
                run.stdout.contains(&format!("\n  {command} ")),
                "{args:?} lacks {command}: {}",
                run.stdout
            );
        }
    }
}

#[test]
fn ctl_who_pads_cjk_names_by_display_width() {
    let (server, path) = with_control("");
    let _wang = server.join("王伟");
    let _bob = server.join("bob");
    let who = ctl_ok(&path, &["who"]);
    let lines: Vec<&str> = who.lines().collect();
    assert_eq!(lines.len(), 3, "{who}");
    // Each address starts at the same column on a terminal, where 王 and 伟
    // take two columns each.
    let column = |line: &str| {
        let at = line
            .find("127.0.0.1")
            .unwrap_or_else(|| line.find("ADDRESS").unwrap());
        line[..at]
            .chars()
            .map(|c| {
                if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum::<usize>()
    };
    assert_eq!(column(lines[1]), column(lines[0]), "{who}");
    assert_eq!(column(lines[2]), column(lines[0]), "{who}");
    assert!(lines[1].starts_with("王伟  127.0.0.1:"), "{who}");
}

#[test]
fn a_muted_operators_reasons_are_not_said() {
    let (server, path) = with_control("");
    let mut alice = server.join("alice");
    let mut bob = Client::connect_from(server.addr, "127.0.0.2");
    bob.read_banner();
    bob.send("bob#\n");
    bob.expect_prefix("* Welcome, bob!");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_prefix("* you are now an operator");
    ctl_ok(&path, &["mute", "127.0.0.1"]);
    alice.expect_line("! you are muted: nobody sees what you say");
    alice.send("/kick bob visit spam.example\n");
    bob.expect_line("! you were kicked by alice");
    bob.expect_closed();
}
