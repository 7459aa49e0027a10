//! The conversation on disk (`state_dir`): histories that come back after a
//! graceful stop and after a SIGKILL, with the times they were said; kept
//! rooms with their topics; what leaves the disk (an unkept room, a purge,
//! `history_on_disk = false`); damaged files, a full disk, and the refusals
//! of `keep` and `unkeep`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Server, TIMEOUT, chatd, ctl, ctl_ok, temp_dir, with_control};

/// Config lines for a server keeping its state in `state`, which stops at
/// once on SIGTERM once nobody is left.
fn keeping(state: &Path) -> String {
    format!(
        "state_dir = \"{}\"\nshutdown_grace_secs = 0\n",
        state.display()
    )
}

/// A graceful stop, waited for.
fn stop(mut server: Server) {
    server.signal("TERM");
    assert_eq!(server.wait_exit(TIMEOUT).code(), Some(0));
}

/// The history file of the lobby.
fn lobby_file(state: &Path) -> PathBuf {
    state.join("history").join("lobby")
}

/// Waits (polling the file, at most [`TIMEOUT`]) until the file at `path`
/// holds `text`, or, with `present = false`, until it no longer exists or
/// holds it.
fn wait_file(path: &Path, text: &str, present: bool) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let holds = std::fs::read_to_string(path).is_ok_and(|t| t.contains(text));
        if holds == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {text:?} still {}",
            path.display(),
            if present { "missing" } else { "there" }
        );
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    }
}

/// Signs in `nick` and returns the replay it is given: the header and the
/// lines, each with when it was said.
fn replay_of(server: &Server, nick: &str) -> Vec<String> {
    let mut client = server.join(nick);
    // Something to read up to after the replay: a line only this client is told.
    client.send("/topic\n");
    let mut lines = client.read_until("opic");
    lines.pop();
    lines
        .retain(|line| line.starts_with("* Last ") || crate::common::replayed_text(line).is_some());
    lines
}

/// A history record as chatd writes it, for files made by hand.
fn record(at: u64, kind: &str, nick: &str, text: &str) -> String {
    let body = format!("{at} {kind} {nick} {text}");
    let sum = body.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{sum:08x} {body}\n")
}

#[test]
fn history_comes_back_after_a_graceful_stop_with_the_times_it_was_said() {
    let state = temp_dir();
    let server = chatd().config(&keeping(&state)).start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("first words\n/me waves\n");
    bob.expect_line("> alice: first words");
    bob.expect_line("* alice waves");
    let before = replay_of(&server, "carol");
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(before[0], "* Last 2 messages:");
    drop((alice, bob));
    stop(server);
    let file = std::fs::read_to_string(lobby_file(&state)).unwrap();
    assert_eq!(
        file.lines().filter(|l| !l.starts_with('#')).count(),
        2,
        "{file}"
    );
    let mut server = chatd().config(&keeping(&state)).start();
    assert_eq!(replay_of(&server, "dave"), before);
    server.wait_log("0 kept rooms besides the lobby, in ");
    server.wait_log("; 2 lines of history restored, kept in ");
}

#[test]
fn replayed_lines_from_disk_show_when_they_were_said() {
    let state = temp_dir();
    std::fs::create_dir(state.join("history")).unwrap();
    // 2026-01-02 03:04:05 UTC: another day, so the replay shows the date.
    let text = record(1_767_323_045, "say", "alice", "old news")
        + &record(1_767_323_100, "me", "bob", "nods \\\\ slowly");
    std::fs::write(lobby_file(&state), text).unwrap();
    let server = chatd().config(&keeping(&state)).start();
    assert_eq!(
        replay_of(&server, "carol"),
        [
            "* Last 2 messages:",
            "[2026-01-02 03:04] > alice: old news",
            "[2026-01-02 03:05] * bob nods \\ slowly",
        ]
    );
}

#[test]
fn lines_on_disk_before_a_sigkill_come_back() {
    let state = temp_dir();
    let mut server = chatd().config(&keeping(&state)).start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    for i in 0..3 {
        alice.send(&format!("line {i}\n"));
        bob.expect_line(&format!("> alice: line {i}"));
    }
    // The saver writes within a second, with no stop to make it: wait for
    // the file, then kill.
    wait_file(&lobby_file(&state), "line 2", true);
    server.signal("KILL");
    server.wait_exit(TIMEOUT);
    let server = chatd().config(&keeping(&state)).start();
    let replay = replay_of(&server, "carol");
    let texts: Vec<_> = replay
        .iter()
        .skip(1)
        .filter_map(|l| crate::common::replayed_text(l))
        .collect();
    assert_eq!(
        texts,
        ["> alice: line 0", "> alice: line 1", "> alice: line 2"]
    );
}

#[test]
fn a_kept_room_keeps_its_topic_and_history_through_an_empty_spell_and_a_restart() {
    let state = temp_dir();
    let (server, path) = with_control(&keeping(&state));
    let [mut alice] = server.users(["alice"]);
    alice.send("/join rust\n");
    alice.expect_prefix("* You are now in #rust, a new room");
    alice.send("/topic all about borrowing\n");
    alice.expect_line("* alice set the topic: all about borrowing");
    alice.send("said in rust\n/me leaves\n");
    assert_eq!(
        ctl_ok(&path, &["keep", "#Rust"]),
        "#rust is kept: it stays when empty and outlives a restart\n"
    );
    // An operator in the room may keep a room too; and one made empty.
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_line("* you are now an operator: /help lists your commands");
    alice.send("/keep help\n");
    alice.expect_line("* #help made and kept: it stays when empty and outlives a restart");
    alice.send("/part\n");
    alice.read_until("You are back in the lobby");
    // The lobby is always kept: its topic too.
    alice.send("/topic be nice\n");
    alice.expect_line("* alice set the topic: be nice");
    alice.send("/rooms\n");
    alice.expect_line("* Rooms (3):");
    alice.expect_line("*   chatd, the lobby (1): be nice");
    alice.expect_line("*   #help (0, kept)");
    alice.expect_line("*   #rust (0, kept): all about borrowing");
    drop(alice);
    stop(server);
    let (server, _path) = with_control(&keeping(&state));
    let mut bob = server.join("bob");
    bob.expect_line("* Topic: be nice");
    bob.expect_line("* 2 more rooms: /rooms lists them, /join NAME goes to one");
    bob.send("/rooms\n");
    bob.expect_line("* Rooms (3):");
    bob.expect_line("*   chatd, the lobby (1): be nice");
    bob.expect_line("*   #help (0, kept)");
    bob.expect_line("*   #rust (0, kept): all about borrowing");
    bob.send("/join rust\n");
    bob.expect_line("* You are now in #rust (1): bob");
    bob.expect_line("* Last 2 messages:");
    bob.expect_replayed("> alice: said in rust");
    bob.expect_replayed("* alice leaves");
    bob.expect_line("* Topic of #rust: all about borrowing");
}

#[test]
fn an_unkept_room_leaves_nothing_on_disk() {
    let state = temp_dir();
    let (server, path) = with_control(&keeping(&state));
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("/join tmp\n");
    alice.read_until("You are now in #tmp");
    bob.send("/join never\n");
    bob.read_until("You are now in #never");
    ctl_ok(&path, &["keep", "tmp"]);
    alice.send("kept for a while\n");
    bob.send("never kept\n");
    let tmp = state.join("history").join("room.tmp");
    wait_file(&tmp, "kept for a while", true);
    assert_eq!(
        ctl_ok(&path, &["unkeep", "tmp"]),
        "#tmp is no longer kept: it goes with its last member, its history with it\n"
    );
    wait_file(&tmp, "kept for a while", false);
    alice.send("/part\n");
    alice.read_until("You are back in the lobby");
    drop((alice, bob));
    stop(server);
    // Nothing was said in the lobby either: no file at all.
    let files: Vec<_> = std::fs::read_dir(state.join("history"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(files.is_empty(), "{files:?}");
    let rooms = std::fs::read_to_string(state.join("rooms")).unwrap();
    assert!(
        !rooms.contains("tmp") && !rooms.contains("never"),
        "{rooms}"
    );
    // Unkept while empty: gone at once.
    let (server, path) = with_control(&keeping(&state));
    ctl_ok(&path, &["keep", "empty"]);
    assert_eq!(
        ctl_ok(&path, &["unkeep", "empty"]),
        "#empty is no longer kept; it was empty and is gone\n"
    );
    assert!(!ctl_ok(&path, &["rooms"]).contains("#empty"));
    drop(server);
}

#[test]
fn purge_reaches_the_disk() {
    let state = temp_dir();
    let (server, path) = with_control(&keeping(&state));
    let [mut troll, mut alice] = server.users(["troll", "alice"]);
    troll.send("something awful\n");
    alice.expect_line("> troll: something awful");
    alice.send("something fine\n");
    troll.expect_line("> alice: something fine");
    wait_file(&lobby_file(&state), "something fine", true);
    assert_eq!(
        ctl_ok(&path, &["purge", "troll"]),
        "removed 1 line by troll from the history\n"
    );
    wait_file(&lobby_file(&state), "awful", false);
    drop((troll, alice));
    stop(server);
    let server = chatd().config(&keeping(&state)).start();
    let replay = replay_of(&server, "carol");
    assert_eq!(replay.len(), 2, "{replay:?}");
    assert_eq!(
        crate::common::replayed_text(&replay[1]),
        Some("> alice: something fine")
    );
}

#[test]
fn a_damaged_history_loads_the_rest_and_the_log_says_where() {
    let state = temp_dir();
    std::fs::create_dir(state.join("history")).unwrap();
    let good = record(1_767_323_045, "say", "alice", "one");
    let mut text = good.clone();
    text += "this line is garbage\n";
    text += &record(1_767_323_046, "say", "alice", "two");
    // Torn by a crash in the middle of an append: no newline.
    text += &record(1_767_323_047, "say", "alice", "three")[..20];
    let file = lobby_file(&state);
    std::fs::write(&file, text).unwrap();
    let mut server = chatd().config(&keeping(&state)).start();
    server.wait_log(&format!("{}:2: not a history record", file.display()));
    server.wait_log(&format!(
        "{}:4: the last line is incomplete (a write cut short); dropped",
        file.display()
    ));
    let replay = replay_of(&server, "carol");
    let texts: Vec<_> = replay
        .iter()
        .filter_map(|l| crate::common::replayed_text(l))
        .collect();
    assert_eq!(texts, ["> alice: one", "> alice: two"]);
    // Rewritten clean: appends go on from a whole line.
    let now = std::fs::read_to_string(&file).unwrap();
    assert!(now.ends_with('\n') && !now.contains("garbage"), "{now}");
}

#[test]
fn a_full_disk_is_logged_and_chat_goes_on() {
    let state = temp_dir();
    // Files of at most 2 blocks (1 KiB for dash's 512-byte blocks, 2 for bash).
    let mut server = chatd()
        .config(&keeping(&state))
        .wrapper(&["sh", "-c", "ulimit -f 2; exec \"$0\" \"$@\""])
        .start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let long = "x".repeat(200);
    for i in 0..30 {
        alice.send(&format!("{i} {long}\n"));
        bob.expect_line(&format!("> alice: {i} {long}"));
    }
    // The history file cannot grow past the limit: the log says so.
    server.wait_log(&format!(
        "cannot write history {}: File too large",
        lobby_file(&state).display()
    ));
    // And the room goes on, the history in memory too.
    alice.send("still here\n");
    bob.expect_line("> alice: still here");
    let replay = replay_of(&server, "carol");
    let last = replay.last().and_then(|l| crate::common::replayed_text(l));
    assert_eq!(last, Some("> alice: still here"));
}

#[test]
fn history_on_disk_false_keeps_the_conversation_off_disk() {
    let state = temp_dir();
    std::fs::create_dir(state.join("history")).unwrap();
    std::fs::write(lobby_file(&state), record(1, "say", "alice", "old")).unwrap();
    let extra = keeping(&state) + "history_on_disk = false\n";
    let (mut server, path) = with_control(&extra);
    server.wait_log("history_on_disk = false: removed 1 history files");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("/join help\n");
    alice.read_until("You are now in #help");
    alice.send("/topic ask here\nin memory only\n");
    bob.send("lobby line\n");
    ctl_ok(&path, &["keep", "help"]);
    drop((alice, bob));
    stop(server);
    assert!(!state.join("history").exists());
    // The kept room and its topic are saved all the same.
    let rooms = std::fs::read_to_string(state.join("rooms")).unwrap();
    assert!(rooms.contains("#help topic=ask here"), "{rooms}");
    let (server, path) = with_control(&extra);
    assert!(ctl_ok(&path, &["rooms"]).contains("#help (0, kept): ask here"));
    assert_eq!(replay_of(&server, "carol"), Vec::<String>::new());
}

#[test]
fn without_state_dir_the_log_says_it_all_lasts_until_exit() {
    let (mut server, path) = with_control("");
    server.wait_log("no state_dir: history, kept rooms and topics last until chatd exits");
    // Kept all the same, while chatd runs.
    ctl_ok(&path, &["keep", "help"]);
    assert!(ctl_ok(&path, &["rooms"]).contains("#help (0, kept)"));
}

#[test]
fn keep_and_unkeep_refuse_bad_input_in_one_line() {
    let state = temp_dir();
    let (server, path) = with_control(&(keeping(&state) + "max_rooms = 1\n"));
    let refused = |args: &[&str], expected: &str| {
        let done = ctl(&path, args);
        assert_eq!(done.status.code(), Some(1), "{args:?}: {done:?}");
        assert_eq!(done.stderr, expected, "{args:?}");
    };
    refused(&["keep", "a b"], "bad room name: no spaces\n");
    refused(
        &["keep", "#/x"],
        "bad room name: it must not start with '/'\n",
    );
    refused(
        &["unkeep", "chatd"],
        "the lobby is always kept: it cannot be unkept\n",
    );
    refused(&["unkeep", "nowhere"], "there is no room #nowhere\n");
    assert_eq!(
        ctl_ok(&path, &["keep", "chatd"]),
        "the lobby is always kept\n"
    );
    // max_rooms counts kept rooms.
    ctl_ok(&path, &["keep", "help"]);
    assert_eq!(ctl_ok(&path, &["keep", "HELP"]), "#help is kept already\n");
    refused(
        &["keep", "more"],
        "too many rooms (at most 1 besides the lobby): /rooms lists those there are\n",
    );
    let mut alice = server.join("alice");
    alice.expect_line("* 1 more room: /rooms lists it, /join NAME goes there");
    alice.send("/join other\n");
    alice.expect_line(
        "! too many rooms (at most 1 besides the lobby): /rooms lists those there are",
    );
    alice.send("/keep help\n");
    alice.expect_prefix("! ");
    ctl_ok(&path, &["unkeep", "help"]);
    alice.send("/join other\n");
    alice.expect_prefix("* You are now in #other, a new room");
    refused(&["unkeep", "other"], "#other is not kept\n");
    // A history directory that cannot be used stops the start.
    let broken = temp_dir();
    std::fs::write(broken.join("history"), "").unwrap();
    let mut server = chatd().config(&keeping(&broken)).spawn();
    assert_eq!(server.wait_exit(TIMEOUT).code(), Some(78));
    let log = server.drain_log().join("\n");
    assert!(
        log.contains(&format!(
            "history directory {}: ",
            broken.join("history").display()
        )),
        "{log}"
    );
    // And --check-config says so first.
    let checked = chatd()
        .config(&keeping(&broken))
        .args(&["--check-config"])
        .run();
    assert_eq!(checked.status.code(), Some(78));
    assert_eq!(
        checked.stderr,
        format!(
            "chatd: history directory {}: not a directory\n",
            broken.join("history").display()
        )
    );
}

/// A live upgrade keeps a kept room and its history, and the disk goes on
/// after it: what was said before and after the upgrade both come back after
/// a restart, once each, in order.
#[test]
fn a_kept_room_and_its_history_on_disk_go_on_through_a_live_upgrade() {
    let state = temp_dir();
    let (server, path) = with_control(&keeping(&state));
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("/join rust\n");
    alice.expect_prefix("* You are now in #rust, a new room");
    bob.expect_line("* alice left for #rust (1 here, 2 online)");
    ctl_ok(&path, &["keep", "rust"]);
    alice.send("/topic all about borrowing\nbefore the upgrade\n");
    alice.expect_line("* alice set the topic: all about borrowing");
    bob.send("in the lobby before\n");
    let answer = ctl_ok(&path, &["upgrade"]);
    assert!(answer.starts_with("upgraded to chatd "), "{answer}");
    alice.expect_line("* server upgraded");
    bob.expect_line("* server upgraded");
    alice.send("after the upgrade\n");
    bob.send("in the lobby after\n");
    let room_file = state.join("history").join("room.rust");
    wait_file(&room_file, "after the upgrade", true);
    wait_file(&lobby_file(&state), "in the lobby after", true);
    drop(alice);
    drop(bob);
    stop(server);
    let server = chatd().config(&keeping(&state)).start();
    let lobby = replay_of(&server, "carol");
    let said: Vec<&str> = lobby
        .iter()
        .filter_map(|line| crate::common::replayed_text(line))
        .collect();
    assert_eq!(
        said,
        ["> bob: in the lobby before", "> bob: in the lobby after"]
    );
    let mut dave = server.join("dave");
    dave.send("/join rust\n");
    let lines = dave.read_until("> alice: after the upgrade");
    let joined = lines
        .iter()
        .position(|l| l.starts_with("* You are now in #rust"))
        .expect("dave joins #rust");
    let lines = &lines[joined..];
    let said: Vec<&str> = lines
        .iter()
        .filter_map(|line| crate::common::replayed_text(line))
        .collect();
    assert_eq!(
        said,
        ["> alice: before the upgrade", "> alice: after the upgrade"]
    );
    dave.expect_line("* Topic of #rust: all about borrowing");
}
