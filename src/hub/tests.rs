//! The room driven directly: events in, outboxes read back, no sockets.

use super::*;
use crate::test_rng::Rng;
use std::net::{Ipv4Addr, SocketAddr};

pub(super) const CLIENTS: usize = 6;
const NICKS: [&str; 4] = ["ann", "Bob", "carl", "ANN"];

/// A room and its clients' outboxes, fed events directly (no sockets).
pub(super) struct Harness {
    pub(super) room: Hub,
    pub(super) outboxes: Vec<Arc<Outbox>>,
}

impl Harness {
    pub(super) fn new() -> Self {
        // The room logs every join; thousands of them would bury the test output.
        crate::log::set_level(crate::config::LogLevel::Error);
        let config = Config {
            history: 3,
            // Exact bytes are easier to assert without the colors.
            colors: false,
            ..Config::default()
        };
        let mut harness = Harness {
            room: Hub::new(
                Arc::new(config),
                Arc::default(),
                Bans::in_memory(),
                Disk::in_memory(),
            ),
            outboxes: Vec::new(),
        };
        for i in 0..CLIENTS {
            let outbox = Arc::new(Outbox::new());
            harness.outboxes.push(Arc::clone(&outbox));
            let id = i as ClientId;
            // Each from an address of its own, so that a ban hits one client.
            let peer = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1 + i as u8), 40000));
            harness.room.handle(Event::Connected { id, peer, outbox });
            harness.room.end_round();
        }
        harness
    }

    /// A room of [`CLIENTS`] connections in which the first ones have signed in
    /// as `nicks`, in order, with everything they were sent so far read.
    fn with_users(nicks: &[&str]) -> Self {
        let mut harness = Harness::new();
        for (i, nick) in nicks.iter().enumerate() {
            harness.say(i, &format!("{nick}#"));
        }
        harness.output();
        harness
    }

    /// Client `i` sends `text`; the round ends.
    pub(super) fn say(&mut self, i: usize, text: &str) {
        let id = i as ClientId;
        let text = text.to_owned();
        self.room.handle(Event::Line {
            id,
            text,
            at: Instant::now(),
        });
        self.room.end_round();
    }

    /// A control-socket request and the room's answer.
    pub(super) fn ctl(&mut self, line: &str) -> crate::reply::Reply {
        let (reply, answer) = async_channel::bounded(1);
        let line = line.to_owned();
        self.room.handle(Event::ControlRequest { line, reply });
        self.room.end_round();
        answer.try_recv().expect("the room answers at once")
    }

    /// Connects client `i` again (after it was closed), from its own address.
    fn reconnect(&mut self, i: usize) {
        let outbox = Arc::new(Outbox::new());
        self.outboxes[i] = Arc::clone(&outbox);
        let id = 100 + i as ClientId;
        let peer = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1 + i as u8), 40001));
        self.room.handle(Event::Connected { id, peer, outbox });
        self.room.end_round();
    }

    /// Everything queued for each client so far.
    fn output(&self) -> Vec<String> {
        (0..self.outboxes.len()).map(|i| self.read(i)).collect()
    }

    /// Everything queued for client `i` so far, taken and written as its writer would.
    pub(super) fn read(&self, i: usize) -> String {
        let outbox = &self.outboxes[i];
        let mut got = Vec::new();
        while let Some(Some(blocks)) = smol::block_on(smol::future::poll_once(outbox.next_blocks()))
        {
            for block in blocks {
                got.extend_from_slice(&block);
                outbox.written(block.len());
            }
        }
        String::from_utf8(got).unwrap()
    }
}

pub(super) fn random_event(rng: &mut Rng) -> Event {
    let id = rng.below(CLIENTS) as ClientId;
    let nick = NICKS[rng.below(NICKS.len())];
    // Leaving is rare, so that most cases keep a room to talk in.
    let text = match rng.below(52) {
        0..=5 => nick.to_owned(),
        6..=21 => format!("hello {}", rng.below(100)),
        22..=24 => "/me waves".to_owned(),
        25..=28 => format!("/msg {nick} psst"),
        29..=31 => format!("/nick {nick}"),
        32..=33 => "/who".to_owned(),
        34 => "/quit".to_owned(),
        35..=37 => return Event::TooLong { id },
        38..=39 => {
            let reason = LeaveReason::Closed;
            return Event::Disconnected { id, reason };
        }
        // Moves between rooms, mid-round too: a room's round, and catching up
        // with the room one leaves, must not change what anyone gets.
        40..=47 => format!("/join {}", ["a", "#B", "b", "chatd"][rng.below(4)]),
        48..=49 => "/part".to_owned(),
        50 => "/rooms".to_owned(),
        _ => "/who *".to_owned(),
    };
    Event::Line {
        id,
        text,
        at: Instant::now(),
    }
}

/// Coalescing a round's broadcasts must not change what anyone receives:
/// the same events, handled in rounds of random length, give every client
/// byte for byte what handling them one at a time gives.
#[test]
fn rounds_deliver_what_single_events_deliver() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut cases_with_chat = 0;
    let mut cases_in_rooms = 0;
    for case in 0..300 {
        let events: Vec<Event> = (0..80).map(|_| random_event(&mut rng)).collect();

        let mut one_by_one = Harness::new();
        for event in &events {
            one_by_one.room.handle(event.clone());
            one_by_one.room.end_round();
        }

        let mut in_rounds = Harness::new();
        let mut rest = &events[..];
        while !rest.is_empty() {
            let (round, later) = rest.split_at(1 + rng.below(rest.len()));
            for event in round {
                in_rounds.room.handle(event.clone());
            }
            in_rounds.room.end_round();
            rest = later;
        }

        let expected = one_by_one.output();
        // A chat line that reached someone other than its sender.
        let heard = expected
            .iter()
            .filter(|out| out.contains(": hello"))
            .count();
        cases_with_chat += usize::from(heard > 0);
        // Someone heard a line said in a room (not the lobby).
        cases_in_rooms += usize::from(expected.iter().any(|out| {
            out.split("You are now in #").skip(1).any(|after| {
                after
                    .split("* You are back")
                    .next()
                    .unwrap_or_default()
                    .contains(": hello")
            })
        }));
        assert_eq!(in_rounds.output(), expected, "case {case}");
        assert_eq!(
            in_rounds.room.fanout.deliveries, one_by_one.room.fanout.deliveries,
            "case {case}"
        );
    }
    // Otherwise the cases would prove little.
    assert!(
        cases_with_chat > 250,
        "{cases_with_chat} of 300 cases had chat"
    );
    assert!(
        cases_in_rooms > 50,
        "{cases_in_rooms} of 300 cases had chat in a room"
    );
}

/// A big round goes out in blocks of about `ROUND_BYTES`, not as one block
/// that could by itself exceed a client's queue bound.
#[test]
fn a_big_round_is_flushed_in_bounded_blocks() {
    let mut harness = Harness::with_users(&["ann", "bob"]);
    let text = "x".repeat(1000);
    let lines = 3 * ROUND_BYTES / text.len();
    for _ in 0..lines {
        let text = text.clone();
        harness.room.handle(Event::Line {
            id: 0,
            text,
            at: Instant::now(),
        });
    }
    harness.room.end_round();
    let bob = &harness.outboxes[1];
    let batch = smol::block_on(bob.next_blocks()).unwrap();
    assert!(batch.len() >= 3, "{} blocks", batch.len());
    let largest = batch.iter().map(|b| b.len()).max().unwrap();
    assert!(
        largest < ROUND_BYTES + 2 * text.len(),
        "block of {largest} bytes"
    );
    let total: usize = batch.iter().map(|b| b.len()).sum();
    assert!(total >= lines * text.len(), "only {total} bytes");
}

/// Commands that need a nickname answer "sign in first" at the prompt, with
/// the prompt again; the connection can still sign in afterwards.
#[test]
fn commands_before_sign_in_ask_for_a_nickname() {
    let mut harness = Harness::new();
    harness.output();
    for line in ["/who", "/me waves", "/msg ann hi", "/me"] {
        harness.say(0, line);
        let name = line[1..].split(' ').next().unwrap();
        assert_eq!(
            harness.output()[0],
            format!(
                "! sign in first to use /{name}\r\n> Please type your nickname followed by '#' and press Enter\r\n"
            ),
            "{line}"
        );
    }
    harness.say(0, "ann#");
    assert!(harness.output()[0].starts_with("* Welcome, ann!"));
}

/// `/nick NEW` at the prompt signs in as NEW, by the same rules as `NEW#`.
#[test]
fn nick_at_the_prompt_signs_in() {
    let mut harness = Harness::with_users(&["ann"]);
    harness.say(1, "/nick ANN");
    assert_eq!(
        harness.output()[1],
        "! nickname \"ANN\" is taken, try another\r\n> Please type your nickname followed by '#' and press Enter\r\n"
    );
    harness.say(1, "/nick b#b");
    assert!(harness.output()[1].starts_with("! nickname may not contain '#'\r\n> Please"));
    harness.say(1, "/nick bob");
    let out = harness.output();
    assert_eq!(out[1], "* Welcome, bob! Online (2): ann, bob\r\n");
    assert_eq!(out[0], "* bob joined (2 online: ann, bob)\r\n");
}

/// `/help` lists what the asker may use: before sign-in only the commands open
/// to everyone.
#[test]
fn help_lists_only_what_the_user_may_use() {
    let mut harness = Harness::with_users(&["ann"]);
    harness.say(1, "/help");
    let before = harness.output()[1].clone();
    assert!(
        before.contains("/quit") && before.contains("/nick"),
        "{before}"
    );
    assert!(
        !before.contains("/who") && !before.contains("/msg"),
        "{before}"
    );
    harness.say(0, "/help");
    let after = harness.output()[0].clone();
    for name in ["/help", "/who", "/nick", "/me", "/msg", "/quit", "//text"] {
        assert!(after.contains(name), "{name} missing from {after}");
    }
}

/// A command's text is sanitized where it is shown, while the nickname of
/// `/msg` and the command name are taken as typed.
#[test]
fn text_is_sanitized_names_are_not() {
    let mut harness = Harness::with_users(&["ann", "bob"]);
    harness.say(0, "/me \x1b[2Jwaves");
    assert_eq!(harness.output()[1], "* ann waves\r\n");
    harness.say(0, "/msg b\x1bob hi");
    // Shown as a terminal would show it: `ESC o` is one escape sequence.
    assert_eq!(harness.output()[0], "! no such user \"bb\"\r\n");
    harness.say(0, "/me \x1b\x07");
    assert_eq!(harness.output()[0], "! usage: /me ACTION\r\n");
}

use crate::reply::Reply;

fn done(text: &str) -> Reply {
    Reply::Done(text.to_owned())
}

fn refused(text: &str) -> Reply {
    Reply::Refused(text.to_owned())
}

/// Operators are made over the control socket; only they may use the
/// moderation commands, and `/help` shows each user what they may use.
#[test]
fn operators_are_made_by_ctl_and_only_they_moderate() {
    let mut h = Harness::with_users(&["ann", "bob"]);
    h.say(1, "/kick ann");
    assert_eq!(h.output()[1], "! only operators may use /kick\r\n");
    h.say(1, "/help");
    assert!(!h.output()[1].contains("/kick"));
    assert_eq!(h.ctl("op ann"), done("ann is now an operator\n"));
    assert_eq!(
        h.output()[0],
        "* you are now an operator: /help lists your commands\r\n"
    );
    h.say(0, "/help");
    let help = h.output()[0].clone();
    for name in [
        "/kick", "/ban", "/unban", "/mute", "/unmute", "/topic", "/purge",
    ] {
        assert!(help.contains(name), "{name} missing from {help}");
    }
    assert!(!help.contains("/say") && !help.contains("/stats"), "{help}");
    assert_eq!(h.ctl("deop ann"), done("ann is no longer an operator\n"));
    assert_eq!(h.output()[0], "* you are no longer an operator\r\n");
    h.say(0, "/kick bob");
    assert_eq!(h.output()[0], "! only operators may use /kick\r\n");
}

/// A kick: the user's last line, the close, the room's notice; the kicked
/// user's later input is not heard.
#[test]
fn kick_tells_the_user_then_the_room() {
    let mut h = Harness::with_users(&["ann", "bob", "carl"]);
    h.ctl("op ann");
    h.output();
    h.say(0, "/kick bob spam and insults");
    let out = h.output();
    assert_eq!(out[1], "! you were kicked by ann: spam and insults\r\n");
    assert!(!h.outboxes[1].is_open());
    assert_eq!(out[0], "* bob was kicked by ann (spam and insults)\r\n");
    assert_eq!(out[2], out[0]);
    h.say(1, "still here?");
    assert_eq!(h.output()[2], "");
    h.say(0, "/kick nobody");
    assert_eq!(h.output()[0], "! no such user \"nobody\"\r\n");
    h.say(0, "/kick ann");
    assert_eq!(h.output()[0], "! you cannot do that to yourself\r\n");
    assert_eq!(h.ctl("kick carl"), done("kicked carl\n"));
    assert_eq!(h.output()[0], "* carl was kicked\r\n");
}

/// A ban by nickname bans the address: the user is told and closed, and a
/// new connection from there is turned away with the reason and the end.
#[test]
fn ban_closes_and_refuses_the_address() {
    let mut h = Harness::with_users(&["ann", "bob"]);
    h.ctl("op ann");
    h.output();
    h.say(0, "/ban bob 2h flooding");
    let out = h.output();
    assert!(
        out[1].starts_with("! your address is banned until 20")
            && out[1].ends_with(": flooding\r\n"),
        "{:?}",
        out[1]
    );
    assert!(
        out[0].contains("* bob was banned by ann (flooding)\r\n"),
        "{:?}",
        out[0]
    );
    assert!(out[0].contains("* banned 192.0.2.2 until "), "{:?}", out[0]);
    h.reconnect(1);
    let again = h.output()[1].clone();
    assert!(
        again.starts_with("! your address is banned until "),
        "{again:?}"
    );
    assert!(!h.outboxes[1].is_open());
    let Reply::Done(list) = h.ctl("bans") else {
        panic!("bans refused");
    };
    assert!(
        list.starts_with("192.0.2.2 until=20") && list.contains("by=ann"),
        "{list}"
    );
    assert_eq!(
        h.ctl("unban 192.0.2.2"),
        done("lifted the ban on 192.0.2.2\n")
    );
    assert_eq!(h.ctl("bans"), done("no bans\n"));
    h.reconnect(1);
    assert!(h.output()[1].starts_with("> Welcome to chatd"));
}

/// Ranges, bad ranges, bad durations, banning oneself: one line each.
#[test]
fn ban_arguments_are_checked() {
    let mut h = Harness::with_users(&["ann", "bob", "carl"]);
    h.ctl("op ann");
    h.output();
    assert_eq!(
        h.ctl("ban 192.0.2.0/30 spam"),
        done("banned 192.0.2.0/30 for good (3 disconnected)\n")
    );
    let mut h = Harness::with_users(&["ann", "bob"]);
    h.ctl("op ann");
    h.output();
    let Reply::Refused(why) = h.ctl("ban 192.0.2.999") else {
        panic!("a bad address was taken");
    };
    assert!(!why.is_empty() && why.ends_with('\n'));
    let Reply::Refused(why) = h.ctl("ban bob 12x") else {
        panic!("a bad duration was taken");
    };
    assert!(why.starts_with("bad duration \"12x\""), "{why}");
    h.say(0, "/ban 192.0.2.0/24");
    assert_eq!(
        h.output()[0],
        "! 192.0.2.0/24 covers your own address 192.0.2.1\r\n"
    );
    h.say(0, "/ban ann");
    assert_eq!(h.output()[0], "! you cannot do that to yourself\r\n");
    assert!(matches!(h.ctl("unban 10.0.0.1"), Reply::Refused(t) if t == "no ban on 10.0.0.1\n"));
}

/// A muted user is told, and nobody receives their chat, `/me`, `/msg` or
/// `/reply`; `/nick` and `/away` are refused; the mute binds to the address,
/// so a reconnect is muted too.
#[test]
fn muted_users_are_heard_by_nobody() {
    let mut h = Harness::with_users(&["ann", "bob"]);
    h.say(0, "/msg bob hi");
    h.output();
    assert_eq!(
        h.ctl("mute bob 10m"),
        done("bob is muted for 10m (address 192.0.2.2, 1 connected)\n")
    );
    assert_eq!(
        h.output()[1],
        "! you are muted for 10m: nobody sees what you say\r\n"
    );
    for line in ["hello", "/me waves", "/msg ann psst", "/reply psst"] {
        h.say(1, line);
        let out = h.output();
        assert_eq!(out[0], "", "{line}");
        assert!(
            out[1].starts_with("! you are muted for ")
                && out[1].ends_with("nobody sees what you say\r\n"),
            "{line}: {:?}",
            out[1]
        );
    }
    for (line, command) in [("/nick bobby", "nick"), ("/away pills", "away")] {
        h.say(1, line);
        let out = h.output();
        assert_eq!(out[0], "", "{line}");
        assert!(
            out[1].ends_with(&format!("you cannot use /{command} until then\r\n")),
            "{line}: {:?}",
            out[1]
        );
    }
    // Gone and back from the same address: still muted, and unannounced.
    h.say(1, "/quit my own words");
    assert_eq!(h.output()[0], "");
    h.reconnect(1);
    h.output();
    let text = "bob2#hello again".to_owned();
    h.room.handle(Event::Line {
        id: 101,
        text,
        at: Instant::now(),
    });
    h.room.end_round();
    let out = h.output();
    assert_eq!(out[0], "");
    assert!(out[1].contains("! you are muted for "), "{:?}", out[1]);
    assert_eq!(
        h.ctl("unmute bob2"),
        done("lifted the mute on 192.0.2.2 (bob2)\n")
    );
    assert_eq!(h.output()[1], "* you are no longer muted\r\n");
    let text = "hello again".to_owned();
    h.room.handle(Event::Line {
        id: 101,
        text,
        at: Instant::now(),
    });
    h.room.end_round();
    assert_eq!(h.output()[0], "> bob2: hello again\r\n");
    assert_eq!(h.ctl("unmute bob2"), refused("bob2 is not muted\n"));
    assert_eq!(h.ctl("mutes"), done("no mutes\n"));
}

/// `purge` takes a user's lines out of what newcomers are replayed.
#[test]
fn purge_removes_lines_from_the_history() {
    let mut h = Harness::with_users(&["ann", "bob"]);
    h.say(1, "spam");
    h.say(0, "real talk");
    h.say(1, "/me spams");
    h.output();
    assert_eq!(
        h.ctl("purge BOB"),
        done("removed 2 lines by BOB from the history\n")
    );
    h.say(2, "carl#");
    let welcome = h.output()[2].clone();
    // The replay says when each line was said: `[HH:MM] ` first.
    let replayed = welcome
        .split_once("* Last message:\r\n[")
        .and_then(|(_, rest)| rest.split_once("] "))
        .map(|(_, line)| line);
    assert_eq!(replayed, Some("> ann: real talk\r\n"), "{welcome:?}");
    assert!(!welcome.contains("spam"), "{welcome:?}");
}

/// `say`, `who` and `stats` over the control socket; unknown commands and
/// room-only commands are refused with one line.
#[test]
fn control_requests_answer_once() {
    let mut h = Harness::with_users(&["ann", "bob"]);
    assert_eq!(h.ctl("say maintenance at 5"), done(""));
    assert_eq!(h.output()[1], "* [server] maintenance at 5\r\n");
    let Reply::Done(who) = h.ctl("who") else {
        panic!("who refused");
    };
    let rows: Vec<&str> = who.lines().collect();
    assert!(
        rows[0].starts_with("NICK") && rows[0].ends_with("FLAGS"),
        "{who}"
    );
    assert!(
        rows[1].starts_with("ann ") && rows[1].contains("192.0.2.1:40000"),
        "{who}"
    );
    assert!(rows.iter().any(|r| r.starts_with("-  ")), "{who}");
    assert_eq!(rows.len(), 1 + CLIENTS, "{who}");
    let Reply::Done(stats) = h.ctl("stats") else {
        panic!("stats refused");
    };
    assert!(stats.starts_with("clients=6 registered=2 "), "{stats}");
    assert_eq!(
        h.ctl("frobnicate now"),
        refused("unknown command \"frobnicate\": `chatd ctl help` lists them\n")
    );
    assert_eq!(h.ctl("kick"), refused("usage: kick NICK [REASON]\n"));
    assert_eq!(
        h.ctl("me waves"),
        refused("/me is for users in the room, not for chatd ctl\n")
    );
    assert_eq!(h.ctl("kick nobody"), refused("no such user \"nobody\"\n"));
}

/// The control socket runs what the table marks `ctl`, and refuses the rest
/// as commands for users in the room.
#[test]
fn control_socket_runs_what_the_table_marks_ctl() {
    use crate::command::{COMMANDS, Params};
    let mut h = Harness::with_users(&["ann", "bob"]);
    for command in COMMANDS {
        let args = match command.params {
            Params::None => "",
            Params::WordRest => " nobody psst",
            _ => " nobody",
        };
        let answer = h.ctl(&format!("{}{args}", command.name));
        let for_users = refused(&format!(
            "/{} is for users in the room, not for chatd ctl\n",
            command.name
        ));
        assert_eq!(
            answer == for_users,
            !command.ctl,
            "{}: {answer:?}",
            command.name
        );
    }
}

/// Operators set the topic; everyone sees it, newcomers with the welcome.
#[test]
fn operators_set_the_topic() {
    let mut h = Harness::with_users(&["ann", "bob"]);
    h.say(1, "/topic");
    assert_eq!(h.output()[1], "* no topic is set\r\n");
    h.say(1, "/topic mine now");
    assert_eq!(h.output()[1], "! only operators may use /topic\r\n");
    h.ctl("op ann");
    h.output();
    h.say(0, "/topic release day");
    assert_eq!(h.output()[1], "* ann set the topic: release day\r\n");
    h.say(2, "carl#");
    assert!(h.output()[2].ends_with("* Topic: release day\r\n"));
}

/// The send queue's bounds as the room applies them (the decision itself is
/// unit-tested in `backlog`): over the soft bound a client stays while it takes
/// bytes, goes at the tick after it took none for the grace time; a push past
/// the hard bound drops it at once.
#[test]
fn clients_over_the_soft_bound_stay_while_they_read() {
    let mut h = Harness::with_users(&["ann", "bob", "carl", "dora"]);
    let bounds = Config {
        colors: false,
        send_queue_bytes: 2048,
        send_queue_hard_bytes: Some(8192),
        send_queue_grace_secs: 10,
        ..Config::default()
    };
    h.room.handle(Event::Reload(Arc::new(bounds)));
    let start = Instant::now();
    let line = "x".repeat(1000);
    // Three lines: over the soft bound for everyone but the sender.
    for _ in 0..3 {
        h.say(0, &line);
    }
    assert_eq!(h.room.fanout.backlogs.len(), 3);
    // bob reads it all: under the bound again, no longer watched.
    h.read(1);
    // carl takes a little (a slow reader); dora nothing.
    let carl = &h.outboxes[2];
    let taken = smol::block_on(carl.next_blocks()).unwrap();
    carl.written(10);
    h.room.check_backlogs(start + Duration::from_secs(6));
    h.room.end_round();
    assert_eq!(h.room.fanout.backlogs.len(), 2, "bob is still watched");
    // Then carl takes the rest of that batch, slowly; dora still nothing.
    carl.written(taken.iter().map(|b| b.len()).sum::<usize>() - 10);
    h.room.check_backlogs(start + Duration::from_secs(11));
    h.room.end_round();
    let leave = "* dora left (too slow; 3 online)\r\n";
    assert_eq!(h.read(1), leave);
    assert!(!h.outboxes[3].is_open(), "dora was not dropped");
    assert!(h.outboxes[2].is_open(), "carl was dropped while reading");
    assert_eq!(h.room.summary.slow_drops, 1);

    // A push past the hard bound drops at once, at the end of the round.
    let mut bob = String::new();
    for _ in 0..9 {
        h.say(0, &line);
        bob += &h.read(1);
    }
    assert!(
        !h.outboxes[2].is_open(),
        "carl passed the hard bound and stayed"
    );
    assert_eq!(h.room.summary.slow_drops, 2);
    assert!(
        bob.ends_with("* carl left (too slow; 2 online)\r\n"),
        "{bob}"
    );
}
