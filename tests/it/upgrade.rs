//! Live upgrade (`chatd ctl upgrade [PATH]`, SIGUSR2), over real sockets with
//! the real binary: the running chatd checks the new binary, then hands every
//! connection and all of its state to it by exec in the same PID. Users see one
//! line, `* server upgraded`; nothing typed or queued is lost, doubled or
//! reordered; a refused or failed upgrade changes nothing.
//!
//! The new binaries are the real one (`chatd ctl upgrade` with no PATH: the
//! binary chatd was started from), a copy of it, and small `sh` scripts in a
//! temporary directory that stand in for a binary that is not chatd, rejects the
//! config, reads another state version, vanishes before the exec, or damages
//! the state on its way to the real binary.

use std::collections::HashMap;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    Client, Finished, Server, TIMEOUT, chatd, ctl, ctl_ok, replayed_text, temp_dir, with_control,
};
use crate::limits::{BATCH, LINE_BYTES, send_batch, send_until_over_soft};

/// The version every binary here reports (the copy and the scripts too).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The binary cargo built, which every test server is started from.
const CHATD: &str = env!("CARGO_BIN_EXE_chatd");

/// The one line users see after an upgrade (`colors = false`).
const NOTICE: &str = "* server upgraded";

/// What each client gets when the new image could not read the state.
const RECONNECT: &str = "* the server restarted and could not keep your session; please reconnect";

/// The answer to a command that does not exist: a client that gets it has
/// nothing else waiting before it (see `rooms.rs`).
const QUIET: &str = "! unknown command \"/sync\", type /help for the list";

// ---- helpers ----------------------------------------------------------------

/// What a successful upgrade answered: `upgraded to chatd X.Y.Z: N connections
/// kept, paused S.SS s`, then `state: B bytes`.
#[derive(Debug, Clone, PartialEq)]
struct Upgraded {
    kept: usize,
    /// The pause as printed, two decimals.
    paused: String,
    state_bytes: u64,
}

impl Upgraded {
    /// Parses the answer, checking every fixed part of it exactly.
    fn parse(answer: &str) -> Upgraded {
        let lines: Vec<&str> = answer.lines().collect();
        let [first, second] = lines.as_slice() else {
            panic!("an upgrade answers two lines, not {answer:?}");
        };
        let rest = first
            .strip_prefix(&format!("upgraded to chatd {VERSION}: "))
            .unwrap_or_else(|| panic!("first line {first:?}"));
        let (kept, rest) = rest
            .split_once(" connections kept, paused ")
            .unwrap_or_else(|| panic!("first line {first:?}"));
        let paused = rest
            .strip_suffix(" s")
            .unwrap_or_else(|| panic!("first line {first:?}"));
        assert!(two_decimals(paused), "pause {paused:?} in {first:?}");
        let state_bytes = second
            .strip_prefix("state: ")
            .and_then(|rest| rest.strip_suffix(" bytes"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("second line {second:?}"));
        assert!(state_bytes > 0, "{answer:?}");
        Upgraded {
            kept: kept
                .parse()
                .unwrap_or_else(|_| panic!("first line {first:?}")),
            paused: paused.to_owned(),
            state_bytes,
        }
    }

    /// The log line the new process writes for this upgrade (after the level).
    fn log_line(&self) -> String {
        format!(
            "upgraded to chatd {VERSION}: {} connections kept, paused {} s, state {} bytes",
            self.kept, self.paused, self.state_bytes
        )
    }
}

/// `S.SS`: digits, a point, two digits.
fn two_decimals(text: &str) -> bool {
    text.split_once('.').is_some_and(|(whole, part)| {
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && part.len() == 2
            && part.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `chatd ctl upgrade [PATH]`, which must succeed; its parsed answer.
fn upgrade(control: &Path, to: Option<&Path>) -> Upgraded {
    let mut args = vec!["upgrade"];
    if let Some(to) = to {
        args.push(to.to_str().expect("UTF-8 path"));
    }
    Upgraded::parse(&ctl_ok(control, &args))
}

/// `chatd ctl upgrade PATH`, which must be refused (exit 1, nothing on stdout);
/// the first line of the reason.
fn refused(control: &Path, to: &Path) -> String {
    let done = ctl(control, &["upgrade", to.to_str().expect("UTF-8 path")]);
    first_refusal_line(&done)
}

/// The first line of a refusal `chatd ctl` printed, checking it is one.
fn first_refusal_line(done: &Finished) -> String {
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert_eq!(done.stdout, "", "{done:?}");
    done.stderr.lines().next().unwrap_or_default().to_owned()
}

/// A shell script `name` in a fresh directory, mode 755.
fn script(name: &str, body: &str) -> PathBuf {
    let path = temp_dir().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A copy of the real binary in a fresh directory, mode 755.
fn copy_of_chatd() -> PathBuf {
    let path = temp_dir().join("chatd-copy");
    std::fs::copy(CHATD, &path).expect("copy chatd");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Which binary the process `pid` runs now.
fn running_binary(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).expect("read /proc/PID/exe")
}

/// The server is the same process, still running, running `binary`.
fn same_process_running(server: &mut Server, pid: u32, binary: &Path) {
    assert_eq!(server.child.id(), pid);
    assert!(
        server.child.try_wait().expect("try_wait").is_none(),
        "chatd exited; log:\n{}",
        server.log_so_far().join("\n")
    );
    let binary = binary.canonicalize().expect("canonical path");
    assert_eq!(running_binary(pid), binary, "the binary in /proc/PID/exe");
}

/// `from` says `text`; each of `to` reads it next, exactly: nothing else was
/// waiting for them.
fn says(from: (&str, &mut Client), to: &mut [&mut Client], text: &str) {
    let (nick, client) = from;
    client.send(&format!("{text}\n"));
    for other in to {
        other.expect_line(&format!("> {nick}: {text}"));
    }
}

/// `client` has nothing waiting: the next thing it reads is the answer to an
/// unknown command sent now.
fn expect_quiet(client: &mut Client) {
    client.send("/sync\n");
    client.expect_line(QUIET);
}

/// `client` sends `command` and reads its answer, up to the quiet line.
fn answer(client: &mut Client, command: &str) -> Vec<String> {
    client.send(&format!("{command}\n/sync\n"));
    let mut lines = client.read_until(QUIET);
    lines.pop();
    lines
}

/// alice and bob chat both ways, each reading the other's line next: neither
/// was sent anything else.
fn still_chatting(alice: &mut Client, bob: &mut Client, text: &str) {
    says(("alice", alice), &mut [bob], &format!("{text} (alice)"));
    says(("bob", bob), &mut [alice], &format!("{text} (bob)"));
}

/// The log line at `level` ("INFO ", "WARN ", "ERROR") that contains `text`,
/// among the lines from `from` on.
fn wait_log_at(server: &mut Server, from: usize, level: &str, text: &str) -> String {
    let line = server.wait_log_since(from, &format!("containing {text:?}"), |l| l.contains(text));
    assert!(line.contains(level), "not at {level:?}: {line}");
    line
}

// ---- success ------------------------------------------------------------------

/// The answer: exactly its two lines, sent by the new process (by the time
/// `chatd ctl` returns, the PID runs the new binary), counting every
/// connection, signed in or not, but not the ctl's own; the log line says the
/// same; everyone signed in sees the notice once and chats on.
#[test]
fn the_answer_comes_from_the_new_binary_and_counts_every_connection() {
    let (mut server, control) = with_control("");
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let mut carol = server.connect();
    carol.read_banner();
    let copy = copy_of_chatd();
    let mark = server.log_lines.len();
    let upgraded = upgrade(&control, Some(&copy));
    same_process_running(&mut server, pid, &copy);
    assert_eq!(upgraded.kept, 3, "{upgraded:?}");
    let logged = wait_log_at(&mut server, mark, "INFO ", "upgraded to chatd ");
    assert!(
        logged.ends_with(&upgraded.log_line()),
        "log {logged:?}, answer {upgraded:?}"
    );
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    still_chatting(&mut alice, &mut bob, "after");
    // Back to the binary it was started from: the default is now the copy.
    let again = upgrade(&control, Some(Path::new(CHATD)));
    same_process_running(&mut server, pid, Path::new(CHATD));
    assert_eq!(again.kept, 3, "{again:?}");
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    still_chatting(&mut alice, &mut bob, "again");
}

/// 50 clients in 5 rooms, every one of them sending numbered lines without a
/// break, through 10 upgrades in a row (to itself, to a copy, back to the
/// original): every line reaches every other member of its room exactly once
/// and in order, each member sees the notice 10 times and nothing else, nobody
/// is disconnected, the PID stays, and the process ends with as many
/// descriptors open as it had before the first upgrade.
#[test]
fn fifty_clients_in_five_rooms_chat_through_ten_upgrades() {
    const ROOMS: usize = 5;
    const PER_ROOM: usize = 10;
    const UPGRADES: usize = 10;
    /// Each sender's pace: about 50 lines a second each, 22,500 deliveries a
    /// second in all (pacing, not synchronizing).
    const PACE: Duration = Duration::from_millis(20);
    let (mut server, control) = with_control("max_clients_per_ip = 64");
    let pid = server.child.id();
    let copy = copy_of_chatd();
    let mut seated = Vec::new();
    for room in 0..ROOMS {
        for seat in 0..PER_ROOM {
            let nick = format!("u{room}{seat}");
            let mut client = server.join(&nick);
            client.send(&format!("/join r{room}\n"));
            client.read_until(&format!("* You are now in #r{room}"));
            seated.push((nick, room, client));
        }
    }
    // Everyone has read every join notice: what they read from now on is chat.
    for (_, _, client) in &mut seated {
        client.send("/sync\n");
        client.read_until(QUIET);
    }
    let fds_before = server.open_fds();
    let stop = Arc::new(AtomicBool::new(false));
    let heard = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for (nick, room, client) in seated {
        let mut stream = client.stream.try_clone().expect("clone stream");
        let stop_sending = Arc::clone(&stop);
        senders.push((
            nick.clone(),
            thread::spawn(move || {
                use std::io::Write;
                let mut sent = 0u64;
                while !stop_sending.load(Ordering::Relaxed) {
                    stream
                        .write_all(format!("n={sent}\n").as_bytes())
                        .expect("send a numbered line");
                    sent += 1;
                    thread::sleep(PACE);
                }
                stream.write_all(b"end\n").expect("send end");
                (sent, stream)
            }),
        ));
        let mates: Vec<String> = (0..PER_ROOM)
            .map(|seat| format!("u{room}{seat}"))
            .filter(|mate| *mate != nick)
            .collect();
        let heard = Arc::clone(&heard);
        readers.push((
            nick,
            thread::spawn(move || read_room(client, mates, &heard)),
        ));
    }
    let mut answers = Vec::new();
    let mut expected_binary = PathBuf::from(CHATD);
    for round in 0..UPGRADES {
        // Chat flows before each upgrade (and so after the one before).
        let deadline = Instant::now() + TIMEOUT;
        let base = heard.load(Ordering::Relaxed);
        while heard.load(Ordering::Relaxed) < base + 500 {
            assert!(
                Instant::now() < deadline,
                "chat stalled before upgrade {round}"
            );
            thread::sleep(Duration::from_millis(5)); // polling, not synchronizing
        }
        let to = match round % 3 {
            0 => None,
            1 => Some(copy.as_path()),
            _ => Some(Path::new(CHATD)),
        };
        if let Some(to) = to {
            expected_binary = to.to_path_buf();
        }
        let upgraded = upgrade(&control, to);
        assert_eq!(upgraded.kept, ROOMS * PER_ROOM, "upgrade {round}");
        same_process_running(&mut server, pid, &expected_binary);
        answers.push(upgraded);
    }
    stop.store(true, Ordering::Relaxed);
    let sent: HashMap<String, (u64, TcpStream)> = senders
        .into_iter()
        .map(|(nick, sender)| (nick, sender.join().expect("sender")))
        .collect();
    let mut problems = Vec::new();
    let mut kept_open = Vec::new();
    for (nick, reader) in readers {
        let heard = reader.join().expect("reader");
        for (mate, count) in &heard.counts {
            let due = sent[mate].0;
            if *count != due {
                problems.push(format!("{nick} got {count} of {mate}'s {due} lines"));
            }
        }
        if heard.notices != UPGRADES {
            problems.push(format!("{nick} saw {} notices", heard.notices));
        }
        problems.extend(heard.problems.iter().map(|p| format!("{nick}: {p}")));
        kept_open.push(heard.client);
    }
    assert!(problems.is_empty(), "{problems:#?}\nanswers: {answers:#?}");
    // Every client is still connected: each gets its own quiet answer.
    for client in &mut kept_open {
        expect_quiet(client);
    }
    let deadline = Instant::now() + TIMEOUT;
    let mut fds = server.open_fds();
    while fds != fds_before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
        fds = server.open_fds();
    }
    assert_eq!(
        fds, fds_before,
        "descriptors before the first upgrade and after the last ({pid}: ls -l /proc/{pid}/fd)"
    );
    same_process_running(&mut server, pid, &expected_binary);
    drop(sent);
}

/// What one member of a room heard.
struct Heard {
    /// Lines heard from each room mate.
    counts: HashMap<String, u64>,
    notices: usize,
    /// Lines out of order, doubled, or not expected at all.
    problems: Vec<String>,
    client: Client,
}

/// Reads until every mate has said `end`, checking that each mate's numbered
/// lines come in order, once each.
fn read_room(mut client: Client, mates: Vec<String>, heard: &AtomicU64) -> Heard {
    let mut counts: HashMap<String, u64> = mates.iter().map(|m| (m.clone(), 0)).collect();
    let mut ended = 0;
    let mut notices = 0;
    let mut problems = Vec::new();
    while ended < mates.len() {
        let line = client.read_line();
        if line == NOTICE {
            notices += 1;
            continue;
        }
        let Some((nick, text)) = line.strip_prefix("> ").and_then(|l| l.split_once(": ")) else {
            problems.push(format!("unexpected line {line:?}"));
            continue;
        };
        let Some(count) = counts.get_mut(nick) else {
            problems.push(format!("a line from outside the room: {line:?}"));
            continue;
        };
        if text == "end" {
            ended += 1;
        } else if text == format!("n={count}") {
            *count += 1;
            heard.fetch_add(1, Ordering::Relaxed);
        } else if problems.len() < 20 {
            problems.push(format!("{line:?} where n={count} was due"));
        }
    }
    Heard {
        counts,
        notices,
        problems,
        client,
    }
}

/// A line cut somewhere: who types it, the bytes before the upgrade, the
/// bytes after it, and the chat lines it makes.
struct Cut {
    nick: &'static str,
    before: &'static [u8],
    after: &'static [u8],
    lines: &'static [&'static str],
}

/// Plain bytes, the first byte of a UTF-8 character, a telnet IAC alone (then
/// NOP), IAC WILL without its option, a subnegotiation half-way, a `\r`
/// waiting for its `\n`.
const CUTS: [Cut; 6] = [
    Cut {
        nick: "plain",
        before: b"no newline ",
        after: b"yet\n",
        lines: &["no newline yet"],
    },
    Cut {
        nick: "utf",
        before: b"hel\xC3",
        after: b"\xA9lo\n",
        lines: &["hel\u{e9}lo"],
    },
    Cut {
        nick: "iac",
        before: b"ab\xFF",
        after: b"\xF1cd\n",
        lines: &["abcd"],
    },
    Cut {
        nick: "opt",
        before: b"x\xFF\xFB",
        after: b"Ay\n",
        lines: &["xy"],
    },
    Cut {
        nick: "sub",
        before: b"p\xFF\xFAzz",
        after: b"zz\xFF\xF0q\n",
        lines: &["pq"],
    },
    Cut {
        nick: "cr",
        before: b"cr\r",
        after: b"\nnext\n",
        lines: &["cr", "next"],
    },
];

/// Each of [`CUTS`] ends after the upgrade as if nothing had happened.
#[test]
fn half_typed_input_is_completed_after_the_upgrade() {
    let (server, control) = with_control("");
    let [mut listener, mut typists @ ..] =
        server.users(["listener", "plain", "utf", "iac", "opt", "sub", "cr"]);
    for (typist, cut) in typists.iter_mut().zip(&CUTS) {
        // One write: once the command is answered, the server has read the
        // half line that came with it.
        let mut bytes = b"/sync\n".to_vec();
        bytes.extend_from_slice(cut.before);
        typist.send_bytes(&bytes);
        typist.expect_line(QUIET);
    }
    upgrade(&control, None);
    listener.expect_line(NOTICE);
    for (typist, cut) in typists.iter_mut().zip(&CUTS) {
        typist.expect_line(NOTICE);
        typist.send_bytes(cut.after);
        for line in cut.lines {
            listener.expect_line(&format!("> {}: {line}", cut.nick));
        }
    }
    expect_quiet(&mut listener);
}

/// A client that stopped reading, with more queued than the soft bound, reads
/// after the upgrade every line queued for it, in order, then the notice.
#[test]
fn a_stopped_readers_queue_is_kept_whole() {
    let (mut server, control) = with_control(
        "send_queue_bytes = 65536\nsend_queue_hard_bytes = 16777216\n\
         send_queue_grace_secs = 3600\nlog_level = \"debug\"",
    );
    let [mut stopped, mut watcher, mut sender] = server.users(["stopped", "watcher", "sender"]);
    let sent = send_until_over_soft(&mut server, &mut sender, &mut watcher, "stopped", 65_536);
    let upgraded = upgrade(&control, None);
    assert_eq!(upgraded.kept, 3, "{upgraded:?}");
    // The queue is part of the state (with some room for everything else).
    assert!(
        upgraded.state_bytes > 65_536,
        "{upgraded:?}: a queue of more than 64 KiB is not in it"
    );
    watcher.expect_line(NOTICE);
    sender.expect_line(NOTICE);
    sender.send("end\n");
    watcher.expect_line("> sender: end");
    for n in 0..sent {
        let line = stopped.read_line();
        assert!(
            line.starts_with(&format!("> sender: {n:06} x")) && line.len() == 10 + LINE_BYTES,
            "line {n} of {sent}: {:?}",
            &line[..line.len().min(40)]
        );
    }
    stopped.expect_line(NOTICE);
    stopped.expect_line("> sender: end");
    expect_quiet(&mut stopped);
    let drops: Vec<String> = (server.log_so_far().iter())
        .filter(|l| l.contains("slow client dropped"))
        .cloned()
        .collect();
    assert!(drops.is_empty(), "{drops:?}");
}

/// A client that stopped reading is still held to the hard bound after the
/// upgrade: pushed on past it, it is dropped as too slow, with the log line
/// that names the bound, and the room is told.
#[test]
fn a_stopped_reader_keeps_its_place_against_the_hard_bound() {
    const SOFT: usize = 65_536;
    const HARD: usize = 262_144;
    let (mut server, control) = with_control(&format!(
        "send_queue_bytes = {SOFT}\nsend_queue_hard_bytes = {HARD}\n\
         send_queue_grace_secs = 3600\nlog_level = \"debug\""
    ));
    let [_stopped, mut watcher, mut sender] = server.users(["stopped", "watcher", "sender"]);
    let mut sent = send_until_over_soft(&mut server, &mut sender, &mut watcher, "stopped", SOFT);
    upgrade(&control, None);
    watcher.expect_line(NOTICE);
    sender.expect_line(NOTICE);
    let mut batches = 0;
    let left = loop {
        assert!(batches < 100, "never dropped");
        let others = send_batch(&mut sender, &mut watcher, sent);
        sent += BATCH;
        batches += 1;
        if let Some(line) = others.into_iter().next() {
            break line;
        }
    };
    assert_eq!(left, "* stopped left (too slow; 2 online)");
    let dropped = server.wait_log("slow client dropped");
    assert!(
        dropped.ends_with(&format!(
            " \"stopped\" (more than {HARD} bytes queued: send_queue_hard_bytes)"
        )),
        "{dropped}"
    );
    // How many bytes it took is not asserted: a fresh writer's first write
    // into a full socket takes whatever space the kernel has (it wakes a
    // waiting writer only once a third of the buffer is free), so the
    // kernel's share differs across an upgrade. That the outbox's count is
    // carried over exactly is `outbox::tests::a_restored_outbox_counts_what_it_holds`
    // and the hub's round trip (`hub::tests`).
}

// ---- what is kept -----------------------------------------------------------------

/// A client at the nickname prompt, even with half a nickname typed, signs in
/// after the upgrade as it would have before.
#[test]
fn a_client_at_the_nickname_prompt_signs_in_after_the_upgrade() {
    let (server, control) = with_control("");
    let mut alice = server.join("alice");
    let mut bob = server.connect();
    bob.read_banner();
    bob.send("bo");
    // Signed in or not, it is a connection kept.
    assert_eq!(upgrade(&control, None).kept, 2);
    alice.expect_line(NOTICE);
    bob.send("b#\n");
    let before = bob.read_until("* Welcome, bob!");
    assert_eq!(
        before.last().map(String::as_str),
        Some("* Welcome, bob! Online (2): alice, bob")
    );
    // Whether the prompt's user is told too is the daemon's choice; nothing
    // else may come before the welcome.
    assert!(
        before.len() == 1 || before[..before.len() - 1] == [NOTICE],
        "{before:?}"
    );
    alice.expect_line("* bob joined (2 online: alice, bob)");
    still_chatting(&mut alice, &mut bob, "signed in");
}

/// An operator is still one (can /kick), a muted user still muted, a banned
/// address still banned, and `chatd ctl` lists the same bans and operators.
#[test]
fn operators_mutes_and_bans_outlast_the_upgrade() {
    let (server, control) = with_control("");
    let mut alice = server.join("alice");
    let mut bob = server.join_from("127.0.0.2", "bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    let mut mallory = server.join_from("127.0.0.3", "mallory");
    for user in [&mut alice, &mut bob] {
        user.expect_line("* mallory joined (3 online: alice, bob, mallory)");
    }
    ctl_ok(&control, &["op", "alice"]);
    alice.expect_line("* you are now an operator: /help lists your commands");
    ctl_ok(&control, &["mute", "mallory", "10m"]);
    mallory.expect_line("! you are muted for 10m: nobody sees what you say");
    ctl_ok(&control, &["ban", "127.0.0.4", "spam"]);
    let bans = ctl_ok(&control, &["bans"]);
    upgrade(&control, None);
    // (Whether bob and mallory were told that alice became an operator is
    // not what this test is about.)
    for user in [&mut alice, &mut bob, &mut mallory] {
        user.read_until(NOTICE);
    }
    assert_eq!(ctl_ok(&control, &["bans"]), bans);
    let who = ctl_ok(&control, &["who"]);
    let line_of = |nick: &str| {
        who.lines()
            .find(|l| l.contains(nick))
            .unwrap_or_else(|| panic!("{nick} not in {who}"))
            .to_owned()
    };
    assert!(line_of("alice").contains(" op"), "{who}");
    assert!(line_of("mallory").contains("muted"), "{who}");
    mallory.send("I am free\n");
    mallory.expect_prefix("! you are muted for ");
    let mut banned = server.connect_from("127.0.0.4");
    assert_eq!(
        banned.read_line(),
        "! your address is banned for good: spam"
    );
    bob.send("/kick alice\n");
    bob.expect_line("! only operators may use /kick");
    alice.send("/kick mallory enough\n");
    mallory.expect_line("! you were kicked by alice: enough");
    mallory.expect_closed();
    alice.expect_line("* mallory was kicked by alice (enough)");
    bob.expect_line("* mallory was kicked by alice (enough)");
    still_chatting(&mut alice, &mut bob, "moderated");
}

/// Each user's own settings: /ignore, /away, the /reply partner, /bell,
/// /timestamps; each setting's own command answers as before the upgrade and
/// each still does what it did.
#[test]
fn personal_settings_outlast_the_upgrade() {
    let (server, control) = with_control("");
    let [mut alice, mut bob, mut troll, mut dave] = server.users(["alice", "bob", "troll", "dave"]);
    alice.send("/ignore troll\n");
    alice.expect_line("* ignoring troll (they are not told)");
    bob.send("/msg dave psst\n");
    bob.expect_line("-> dave: psst");
    dave.expect_line("\u{7}> bob (private): psst");
    bob.send("/away lunch\n");
    for user in [&mut alice, &mut bob, &mut troll, &mut dave] {
        user.expect_line("* bob is away: lunch");
    }
    dave.send("/bell off\n");
    dave.expect_line("* bell off");
    troll.send("/timestamps on\n");
    troll.read_line(); // "[HH:MM] * timestamps on"
    // Each answer without the time troll's lines now start with.
    let ask = |alice: &mut Client, dave: &mut Client, troll: &mut Client| {
        let mut answers = vec![
            answer(alice, "/ignore"),
            answer(alice, "/who"),
            answer(dave, "/bell"),
        ];
        let stamped = answer(troll, "/timestamps");
        answers.push(
            (stamped.iter())
                .map(|line| replayed_text(line).unwrap_or(line).to_owned())
                .collect(),
        );
        answers
    };
    let before = ask(&mut alice, &mut dave, &mut troll);
    assert_eq!(before[1], ["* Online (4): alice, bob (away), dave, troll"]);
    upgrade(&control, None);
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    dave.expect_line(NOTICE);
    troll.read_until(NOTICE);
    let after = ask(&mut alice, &mut dave, &mut troll);
    assert_eq!(after, before);
    // The ignored is still not heard; the others are.
    troll.send("spam\n");
    dave.expect_line("> troll: spam");
    bob.expect_line("> troll: spam");
    says(("dave", &mut dave), &mut [&mut alice, &mut bob], "hi");
    // dave's partner is still bob, who is still away.
    dave.send("/reply thanks\n");
    dave.expect_line("-> bob: thanks");
    dave.expect_line("* bob is away: lunch");
    bob.expect_line("\u{7}> dave (private): thanks");
    // And dave's bell is still off.
    bob.send("/msg dave ping\n");
    bob.expect_line("-> dave: ping");
    let got = dave.read_until("(private): ping");
    assert_eq!(
        got.last().map(String::as_str),
        Some("> bob (private): ping")
    );
}

/// Rooms, their topics and their histories: what a newcomer is shown when
/// signing in and when joining a room is the same after the upgrade.
#[test]
fn rooms_topics_and_history_outlast_the_upgrade() {
    let (server, control) = with_control("history = 3");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("lobby 1\nlobby 2\n");
    bob.expect_line("> alice: lobby 1");
    bob.expect_line("> alice: lobby 2");
    alice.send("/join a\n");
    alice.read_until("* You are now in #a");
    bob.read_until("* alice left for #a");
    alice.send("/topic upgrades\n");
    alice.expect_line("* alice set the topic: upgrades");
    alice.send("a 1\n/me a 2\na 3\na 4\n");
    expect_quiet(&mut alice);
    // carol signs in, looks around, joins #a, looks, and quits.
    let newcomer = || -> Vec<String> {
        let mut carol = server.connect();
        carol.read_banner();
        carol.send("carol#\n/rooms\n/sync\n");
        let mut seen = carol.read_until(QUIET);
        carol.send("/join a\n/topic\n/who\n/sync\n");
        seen.extend(carol.read_until(QUIET));
        carol.send("/quit\n");
        carol.read_to_close();
        seen
    };
    let before = newcomer();
    assert!(
        before.iter().any(|l| l.contains("upgrades")),
        "no topic shown: {before:?}"
    );
    assert!(
        before
            .iter()
            .any(|l| replayed_text(l) == Some("> alice: a 4")),
        "no history replayed: {before:?}"
    );
    // What carol's coming and going told alice and bob.
    alice.read_until("* carol left #a");
    bob.read_until("* carol left");
    expect_quiet(&mut alice);
    expect_quiet(&mut bob);
    upgrade(&control, None);
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    assert_eq!(newcomer(), before);
    alice.read_until("* carol left #a");
    expect_quiet(&mut alice);
}

/// Lines held back by flood control when the upgrade comes follow after it,
/// all of them, in order, once each.
#[test]
fn lines_held_back_by_flood_control_follow_after_the_upgrade() {
    let (server, control) = with_control("flood_burst = 2\nflood_lines_per_sec = 5");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let paste: String = (0..10).map(|i| format!("line {i}\n")).collect();
    alice.send(&paste);
    alice.expect_prefix("! slow down: ");
    bob.expect_line("> alice: line 0");
    upgrade(&control, None);
    let heard = bob.read_until("> alice: line 9");
    let lines: Vec<&str> = (heard.iter())
        .filter(|l| *l != NOTICE)
        .map(String::as_str)
        .collect();
    let expected: Vec<String> = (1..10).map(|i| format!("> alice: line {i}")).collect();
    assert_eq!(lines, expected, "{heard:?}");
    match heard.len() - lines.len() {
        // Only if the paste was all out before the upgrade (it takes 1.6 s).
        0 => bob.expect_line(NOTICE),
        notices => assert_eq!(notices, 1, "{heard:?}"),
    }
    alice.read_until(NOTICE);
    expect_quiet(&mut bob);
}

// ---- refusals -------------------------------------------------------------------

/// A server with alice and bob signed in, an upgrade to `to` refused; the
/// first line of the refusal. Nothing changed for the users or the process.
fn refusal_changes_nothing(to: &Path) -> String {
    let (mut server, control) = with_control("");
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    alice.send("half a ");
    let reason = refused(&control, to);
    assert!(reason.starts_with("upgrade refused: "), "{reason:?}");
    alice.send("line\n");
    bob.expect_line("> alice: half a line");
    still_chatting(&mut alice, &mut bob, "as ever");
    same_process_running(&mut server, pid, Path::new(CHATD));
    reason
}

/// The version lines a chatd that reads state version 1 prints.
const GOOD_VERSION: &str = "echo \"chatd 9.9.9\"\necho \"handover versions: 1\"\n";

#[test]
fn a_binary_that_is_not_chatd_is_refused() {
    let hello = script("hello", "echo hello\n");
    let reason = refusal_changes_nothing(&hello);
    let expected = format!("upgrade refused: {} is not chatd (", hello.display());
    assert!(reason.starts_with(&expected), "{reason:?}");
}

#[test]
fn a_binary_that_rejects_the_config_is_refused_with_its_error() {
    let picky = script(
        "picky",
        &format!(
            "for arg in \"$@\"; do\n\
             if [ \"$arg\" = --check-config ]; then\n\
             echo 'chatd: chatd.conf:3: unknown key \"frobnicate\"' >&2; exit 78\n\
             fi\n\
             done\n\
             {GOOD_VERSION}"
        ),
    );
    let reason = refusal_changes_nothing(&picky);
    assert!(reason.contains("unknown key \"frobnicate\""), "{reason:?}");
}

/// The real binary, with the running chatd's own config file now broken: the
/// check runs the new binary on the daemon's config, and refuses.
#[test]
fn a_config_file_broken_since_the_start_refuses_the_upgrade() {
    let (mut server, control) = with_control("");
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let text = std::fs::read_to_string(&server.config_path).expect("read config");
    std::fs::write(&server.config_path, format!("{text}prot = 1\n")).expect("write config");
    let reason = refused(&control, Path::new(CHATD));
    assert!(reason.starts_with("upgrade refused: "), "{reason:?}");
    assert!(reason.contains("unknown key \"prot\""), "{reason:?}");
    still_chatting(&mut alice, &mut bob, "as ever");
    same_process_running(&mut server, pid, Path::new(CHATD));
}

#[test]
fn a_binary_that_reads_another_state_version_is_refused() {
    let newer = script(
        "newer",
        "echo \"chatd 2.0.0\"\necho \"handover versions: 2\"\n",
    );
    let reason = refusal_changes_nothing(&newer);
    assert_eq!(
        reason,
        format!(
            "upgrade refused: {} reads handover versions 2, this chatd writes 1",
            newer.display()
        )
    );
}

#[test]
fn a_path_that_does_not_exist_is_refused() {
    let missing = temp_dir().join("no-such-chatd");
    let reason = refusal_changes_nothing(&missing);
    let expected = format!("upgrade refused: {}: ", missing.display());
    assert!(reason.starts_with(&expected), "{reason:?}");
}

#[test]
fn a_file_that_is_not_executable_is_refused() {
    let plain = copy_of_chatd();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let reason = refusal_changes_nothing(&plain);
    let expected = format!("upgrade refused: {}: ", plain.display());
    assert!(reason.starts_with(&expected), "{reason:?}");
}

/// Runs `chatd ctl upgrade` to a binary whose `--version` waits for a file,
/// calls `during` while that check runs, then lets the check go on; returns
/// what the first upgrade's `chatd ctl` got.
fn while_an_upgrade_checks(control: &Path, during: impl FnOnce()) -> Finished {
    let gate = temp_dir();
    let (started, release) = (gate.join("started"), gate.join("release"));
    // The wait is bounded (20 s), so that a failed test leaves nothing behind.
    let slow = script(
        "slow",
        &format!(
            "if [ \"$1\" = --version ] && [ ! -e {release} ]; then\n\
             touch {started}\n\
             i=0\n\
             while [ ! -e {release} ] && [ $i -lt 1000 ]; do sleep 0.02; i=$((i + 1)); done\n\
             fi\n\
             exec {CHATD} \"$@\"\n",
            release = release.display(),
            started = started.display(),
        ),
    );
    let first = {
        let (control, slow) = (control.to_owned(), slow.clone());
        thread::spawn(move || ctl(&control, &["upgrade", slow.to_str().unwrap()]))
    };
    let deadline = Instant::now() + TIMEOUT;
    while !started.exists() {
        assert!(Instant::now() < deadline, "the check never ran {slow:?}");
        thread::sleep(Duration::from_millis(10)); // polling, not synchronizing
    }
    // The gate opens whatever `during` does, so that a failure there shows
    // as itself and not as a hang.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(during));
    std::fs::write(&release, "").expect("open the gate");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    first.join().expect("first ctl")
}

/// A second upgrade asked for while the first is still checking its binary is
/// refused at once; the first then goes ahead.
#[test]
fn an_upgrade_while_one_runs_is_refused() {
    let (server, control) = with_control("");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let first = while_an_upgrade_checks(&control, || {
        // On a thread, so that a hang shows as a failure rather than as a
        // deadlock with the gate.
        let second = {
            let control = control.clone();
            thread::spawn(move || ctl(&control, &["upgrade"]))
        };
        let deadline = Instant::now() + TIMEOUT;
        while !second.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10)); // polling, not synchronizing
        }
        assert!(
            second.is_finished(),
            "a second upgrade was not answered while the first checked its binary"
        );
        let second = second.join().expect("second ctl");
        assert_eq!(
            first_refusal_line(&second),
            "upgrade refused: already upgrading"
        );
    });
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert_eq!(Upgraded::parse(&first.stdout).kept, 2);
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    still_chatting(&mut alice, &mut bob, "one upgrade");
}

/// SIGUSR2 while an upgrade checks its binary: refused, and since nobody asked
/// over the control socket, the refusal is logged at warn.
#[test]
fn a_sigusr2_while_one_runs_is_refused_at_warn() {
    let (mut server, control) = with_control("");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let mark = server.log_lines.len();
    let first = while_an_upgrade_checks(&control, || {
        server.signal("USR2");
        wait_log_at(
            &mut server,
            mark,
            "WARN ",
            "upgrade refused: already upgrading",
        );
    });
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    still_chatting(&mut alice, &mut bob, "one upgrade");
}

// ---- failures after the checks ------------------------------------------------------

/// The binary vanishes between the checks and the exec: the old process goes
/// on as if nothing happened, and a later upgrade works.
#[test]
fn an_exec_that_fails_resumes_the_old_process() {
    let (mut server, control) = with_control("");
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    // Deleted once the last check has run.
    let vanishing = script(
        "vanishing",
        &format!(
            "for arg in \"$@\"; do\n\
             if [ \"$arg\" = --check-config ]; then\n\
             {CHATD} \"$@\"; status=$?; rm -f \"$0\"; exit $status\n\
             fi\n\
             done\n\
             exec {CHATD} \"$@\"\n"
        ),
    );
    alice.send("typed before ");
    let done = ctl(&control, &["upgrade", vanishing.to_str().unwrap()]);
    let reason = first_refusal_line(&done);
    let expected = format!("upgrade failed: exec {}: ", vanishing.display());
    assert!(reason.starts_with(&expected), "{reason:?}");
    assert!(!vanishing.exists(), "the script did not remove itself");
    alice.send("and after\n");
    bob.expect_line("> alice: typed before and after");
    still_chatting(&mut alice, &mut bob, "resumed");
    let mut carol = server.join("carol");
    alice.expect_line("* carol joined (3 online: alice, bob, carol)");
    bob.expect_line("* carol joined (3 online: alice, bob, carol)");
    same_process_running(&mut server, pid, Path::new(CHATD));
    assert_eq!(upgrade(&control, None).kept, 3);
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    // carol has the history she was shown on signing in to read first.
    let shown = carol.read_until(NOTICE);
    assert_eq!(
        shown.first().map(String::as_str),
        Some("* Last 3 messages:")
    );
    assert_eq!(shown.len(), 5, "{shown:?}");
    still_chatting(&mut alice, &mut bob, "upgraded after all");
}

/// The new image cannot read the state (the memory file cut to 10 bytes on the
/// way): every client is told to reconnect and closed, the log says why, and
/// the new process serves new connections on the same socket.
#[test]
fn unreadable_state_tells_everyone_to_reconnect_and_serves_on() {
    let (mut server, control) = with_control("");
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let mut carol = server.connect();
    carol.read_banner();
    let damaging = script(
        "damaging",
        &format!(
            "if [ -n \"$CHATD_HANDOVER_FD\" ]; then\n\
             truncate -s 10 /proc/self/fd/$CHATD_HANDOVER_FD\n\
             fi\n\
             exec {CHATD} \"$@\"\n"
        ),
    );
    let mark = server.log_lines.len();
    // What chatd ctl gets here is not part of the contract, only that it ends.
    let asked = {
        let (control, damaging) = (control.clone(), damaging.clone());
        thread::spawn(move || ctl(&control, &["upgrade", damaging.to_str().unwrap()]))
    };
    for client in [&mut alice, &mut bob, &mut carol] {
        client.expect_line(RECONNECT);
        client.expect_closed();
    }
    let why = wait_log_at(&mut server, mark, "ERROR", "handover");
    eprintln!("logged: {why}");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    still_chatting(&mut alice, &mut bob, "anew");
    same_process_running(&mut server, pid, Path::new(CHATD));
    let done = asked
        .join()
        .expect("chatd ctl upgrade never ended: is the control connection left open?");
    eprintln!("ctl upgrade with damaged state: {done:?}");
}

/// A new image that cannot start after all (here: it is given an option it
/// refuses, as a config changed since the checks would be) does not drop
/// the clients in silence: each is told to reconnect before it exits.
#[test]
fn a_new_image_that_cannot_start_tells_everyone_before_it_exits() {
    let (mut server, control) = with_control("");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let failing = script(
        "failing",
        &format!(
            "if [ -n \"$CHATD_HANDOVER_FD\" ]; then\n\
             exec {CHATD} \"$@\" --bogus\n\
             fi\n\
             exec {CHATD} \"$@\"\n"
        ),
    );
    let asked = {
        let (control, failing) = (control.clone(), failing.clone());
        thread::spawn(move || ctl(&control, &["upgrade", failing.to_str().unwrap()]))
    };
    for client in [&mut alice, &mut bob] {
        client.expect_line(RECONNECT);
        client.expect_closed();
    }
    assert_eq!(server.wait_exit(TIMEOUT).code(), Some(78));
    server.wait_log("handover: this chatd cannot start; 2 clients told to reconnect");
    // The control connection closes with the process: chatd ctl ends.
    let done = asked.join().expect("chatd ctl upgrade never ended");
    assert_ne!(done.status.code(), Some(0), "{done:?}");
}

// ---- SIGUSR2 and the notice ---------------------------------------------------------

#[test]
fn sigusr2_upgrades_to_the_binary_chatd_was_started_from() {
    let mut server = chatd().start();
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    let mark = server.log_lines.len();
    server.signal("USR2");
    let logged = wait_log_at(&mut server, mark, "INFO ", "upgraded to chatd ");
    let expected = format!("upgraded to chatd {VERSION}: 2 connections kept, paused ");
    assert!(logged.contains(&expected), "{logged}");
    alice.expect_line(NOTICE);
    bob.expect_line(NOTICE);
    still_chatting(&mut alice, &mut bob, "signalled");
    same_process_running(&mut server, pid, Path::new(CHATD));
}

/// chatd started from a file that has since been replaced by something that
/// is not chatd: SIGUSR2 is refused, at warn, and nothing changes.
#[test]
fn a_refused_sigusr2_is_logged_at_warn() {
    let copy = copy_of_chatd();
    let exec_copy = format!("exec {} \"$@\"", copy.display());
    let mut server = chatd().wrapper(&["sh", "-c", &exec_copy]).start();
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    std::fs::remove_file(&copy).expect("remove the copy");
    std::fs::write(&copy, "#!/bin/sh\necho hello\n").expect("write script");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mark = server.log_lines.len();
    server.signal("USR2");
    let refused = wait_log_at(&mut server, mark, "WARN ", "upgrade refused: ");
    let expected = format!("upgrade refused: {} is not chatd (", copy.display());
    assert!(refused.contains(&expected), "{refused}");
    still_chatting(&mut alice, &mut bob, "as ever");
    assert_eq!(server.child.id(), pid);
    assert!(server.child.try_wait().expect("try_wait").is_none());
}

#[test]
fn upgrade_notice_false_sends_no_line() {
    let (mut server, control) = with_control("upgrade_notice = false");
    let pid = server.child.id();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    assert_eq!(upgrade(&control, None).kept, 2);
    // Their next lines are each other's: no notice came before.
    still_chatting(&mut alice, &mut bob, "unannounced");
    same_process_running(&mut server, pid, Path::new(CHATD));
}
