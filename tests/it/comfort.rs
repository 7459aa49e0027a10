//! Comfort for the people chatting (issue 12, the server's half), over real
//! TCP: mentions and the bell, `/away` and `/back`, `/ignore`, `/reply`,
//! `/timestamps`, `/colors`, and a first line typed with the nickname.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{Client, Server, chatd, join_in_color, room};

const BEL: &str = "\u{7}";

/// alice and bob, signed in, on a server with `colors = true`.
fn room_in_color() -> (Server, [Client; 2]) {
    let server = chatd().config("colors = true").start();
    let mut alice = join_in_color(&server, "alice");
    let bob = join_in_color(&server, "bob");
    alice.read_until("joined");
    (server, [alice, bob])
}

// ---- mentions and the bell ----

#[test]
fn a_line_naming_you_rings_and_others_get_it_plain() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    alice.send("hey bob, lunch?\n");
    bob.expect_line(&format!("{BEL}> alice: hey bob, lunch?"));
    carol.expect_line("> alice: hey bob, lunch?");
}

#[test]
fn mentions_match_whole_nicknames_by_their_key() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    // Not a word of its own: no bell.
    alice.send("bobby is not bob's name\n");
    bob.expect_line("> alice: bobby is not bob's name");
    // Case, fullwidth letters and punctuation around the name: a bell.
    for text in ["BOB?", "ＢＯＢ", "@bob: hi", "(Bob)"] {
        alice.send(&format!("{text}\n"));
        bob.expect_line(&format!("{BEL}> alice: {text}"));
    }
}

/// Chinese is written without spaces and with full-width punctuation: CJK
/// punctuation bounds a name as spaces and ASCII punctuation do. A name inside
/// a run of CJK characters is not looked for (a one-character nickname would
/// ring for every line with that character).
#[test]
fn chinese_mentions_ring_at_cjk_punctuation() {
    let (_server, [mut bob, mut wang]) = room(["bob", "王伟"]);
    for text in [
        "@王伟 你好",
        "王伟, 你好",
        "王伟!",
        "王伟，你好",
        "王伟！",
        "王伟。",
        "（王伟）",
        "「王伟」来了",
        "你好，王伟",
        "李娜、王伟：开会了",
    ] {
        bob.send(&format!("{text}\n"));
        wang.expect_line(&format!("{BEL}> bob: {text}"));
    }
    for text in ["王伟你好", "王伟们", "#王伟 是个房间"] {
        bob.send(&format!("{text}\n"));
        wang.expect_line(&format!("> bob: {text}"));
    }
}

#[test]
fn naming_yourself_does_not_ring_and_me_lines_ring_too() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("/me waves at bob\n");
    bob.expect_line(&format!("{BEL}* alice waves at bob"));
    bob.send("bob is here\n");
    alice.expect_line("> bob: bob is here");
    bob.send("/who\n");
    bob.expect_line("* Online (2): alice, bob");
}

#[test]
fn with_colors_a_line_naming_you_is_bold() {
    let (_server, [mut alice, mut bob]) = room_in_color();
    alice.send("bob: look\n");
    bob.expect_line(&format!(
        "{BEL}\x1b[1m> \x1b[33malice\x1b[39m: bob: look\x1b[22m"
    ));
}

#[test]
fn bell_off_keeps_the_line_and_drops_the_bell() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/bell off\n");
    bob.expect_line("* bell off");
    alice.send("bob?\n");
    bob.expect_line("> alice: bob?");
    alice.send("/msg bob psst\n");
    alice.expect_line("-> bob: psst");
    bob.expect_line("> alice (private): psst");
    bob.send("/bell on\n");
    bob.expect_line("* bell on");
    alice.send("/msg bob again\n");
    bob.expect_line(&format!("{BEL}> alice (private): again"));
}

#[test]
fn bell_takes_on_or_off_only() {
    let (_server, [mut alice]) = room(["alice"]);
    for bad in ["/bell maybe", "/timestamps maybe", "/colors 1"] {
        alice.send(&format!("{bad}\n"));
        let name = bad.split_whitespace().next().unwrap();
        alice.expect_line(&format!("! usage: {name} [on|off]"));
    }
}

#[test]
fn bell_colors_and_timestamps_alone_show_the_setting() {
    let server = chatd().config("colors = true").start();
    let mut alice = join_in_color(&server, "alice");
    for (line, answer) in [
        ("/bell", "* bell is on (/bell off turns it off)"),
        ("/colors", "* colors is on (/colors off turns it off)"),
        (
            "/timestamps",
            "* timestamps is off (/timestamps on turns it on)",
        ),
        ("/bell off", "* bell off"),
        ("/bell", "* bell is off (/bell on turns it on)"),
    ] {
        alice.send(&format!("{line}\n"));
        alice.expect_line(answer);
    }
    // Where the server has no colors, they are off for everyone.
    let (_plain, [mut bob]) = room(["bob"]);
    bob.send("/colors\n");
    bob.expect_line("* colors is off (/colors on turns it on)");
}

// ---- away ----

#[test]
fn away_and_back_are_announced_and_shown_by_who() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/away lunch\n");
    alice.expect_line("* bob is away: lunch");
    bob.expect_line("* bob is away: lunch");
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, bob (away)");
    alice.send("/msg bob are you there?\n");
    alice.expect_line("-> bob: are you there?");
    alice.expect_line("* bob is away: lunch");
    bob.expect_line(&format!("{BEL}> alice (private): are you there?"));
    bob.send("/back\n");
    alice.expect_line("* bob is back");
    bob.expect_line("* bob is back");
    bob.send("/back\n");
    bob.expect_line("! you are not away");
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, bob");
}

/// SPEC: "a chat line also ends away": the room hears it first.
#[test]
fn a_chat_line_ends_away() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/away lunch\n");
    alice.expect_line("* bob is away: lunch");
    bob.expect_line("* bob is away: lunch");
    bob.send("back from lunch\n");
    alice.expect_line("* bob is back");
    alice.expect_line("> bob: back from lunch");
    bob.expect_line("* bob is back");
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, bob");
}

#[test]
fn away_without_a_message_says_away() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/away\n");
    alice.expect_line("* bob is away: away");
    bob.expect_line("* bob is away: away");
}

// ---- ignore ----

#[test]
fn ignored_users_are_not_heard_and_not_told() {
    let (_server, [mut alice, mut troll, mut carol]) = room(["alice", "troll", "carol"]);
    alice.send("/ignore TROLL\n");
    alice.expect_line("* ignoring troll (they are not told)");
    troll.send("spam\n");
    troll.send("/me spams\n");
    troll.send("/msg alice spam\n");
    troll.expect_line("-> alice: spam");
    carol.expect_line("> troll: spam");
    carol.expect_line("* troll spams");
    // alice got none of it: the next line she gets is carol's.
    carol.send("hello\n");
    alice.expect_line("> carol: hello");
    alice.send("/ignore\n");
    alice.expect_line("* ignoring: troll");
    // A rename does not lift it.
    troll.send("/nick nice\n");
    alice.expect_line("* troll is now known as nice");
    carol.expect_line("* troll is now known as nice");
    troll.send("still spam\n");
    carol.expect_line("> nice: still spam");
    alice.send("/unignore nice\n");
    alice.expect_line("* no longer ignoring nice");
    troll.send("sorry\n");
    alice.expect_line("> nice: sorry");
}

#[test]
fn ignore_refuses_yourself_strangers_and_unignoring_the_unignored() {
    let (_server, [mut alice, _bob]) = room(["alice", "bob"]);
    alice.send("/ignore alice\n");
    alice.expect_line("! you cannot ignore yourself");
    alice.send("/ignore zed\n");
    alice.expect_line("! no such user \"zed\"");
    alice.send("/unignore bob\n");
    alice.expect_line("! you are not ignoring bob");
    alice.send("/unignore\n");
    alice.expect_line("! usage: /unignore NICK");
    alice.send("/ignore\n");
    alice.expect_line("* you are ignoring nobody");
}

// ---- reply ----

#[test]
fn reply_answers_the_last_private_message() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    alice.send("/msg bob first\n");
    alice.expect_line("-> bob: first");
    bob.expect_line(&format!("{BEL}> alice (private): first"));
    carol.send("/msg bob second\n");
    carol.expect_line("-> bob: second");
    bob.expect_line(&format!("{BEL}> carol (private): second"));
    bob.send("/r hi carol\n");
    bob.expect_line("-> carol: hi carol");
    carol.expect_line(&format!("{BEL}> bob (private): hi carol"));
    // carol's reply goes back to bob.
    carol.send("/reply and hi bob\n");
    carol.expect_line("-> bob: and hi bob");
    bob.expect_line(&format!("{BEL}> carol (private): and hi bob"));
}

#[test]
fn reply_with_nobody_to_reply_to_says_so() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("/reply hello?\n");
    alice.expect_line("! nobody to reply to: no one has sent you a private message");
    // Once the sender has left, there is nobody again.
    bob.send("/msg alice bye\n");
    bob.expect_line("-> alice: bye");
    alice.expect_line(&format!("{BEL}> bob (private): bye"));
    bob.send("/quit\n");
    alice.read_until("bob left");
    // Said as it is: bob left (and the message was not sent).
    alice.send("/r wait\n");
    alice.expect_line("! bob has left, so there is nobody to reply to");
    alice.send("/r\n");
    alice.expect_line("! usage: /reply TEXT");
}

// ---- timestamps ----

/// The minute of `now + offset` as `HH:MM`, and of a minute later (a line can
/// cross a minute boundary between the test's clock and the server's).
fn clocks(offset_minutes: i64) -> [String; 2] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    [0, 60].map(|later| {
        let local = (now + later + offset_minutes * 60).rem_euclid(86_400);
        format!("{:02}:{:02}", local / 3600, local % 3600 / 60)
    })
}

/// `line` is `[HH:MM] rest` for one of `clocks`; returns `rest`.
fn unstamped(line: &str, clocks: &[String; 2]) -> String {
    let (stamp, rest) = line.split_once("] ").unwrap_or_else(|| panic!("{line:?}"));
    let clock = stamp
        .strip_prefix('[')
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(clocks.iter().any(|c| c == clock), "{line:?} at {clocks:?}");
    rest.to_owned()
}

#[test]
fn timestamps_on_stamps_every_line_for_you_alone() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/timestamps on\n");
    let clocks = clocks(0);
    assert_eq!(unstamped(&bob.read_line(), &clocks), "* timestamps on");
    alice.send("hello\n");
    assert_eq!(unstamped(&bob.read_line(), &clocks), "> alice: hello");
    bob.send("hi\n");
    alice.expect_line("> bob: hi");
    bob.send("/timestamps off\n");
    bob.expect_line("* timestamps off");
    alice.send("again\n");
    bob.expect_line("> alice: again");
}

#[test]
fn timestamps_key_turns_them_on_in_the_configured_zone() {
    let server = chatd()
        .config("timestamps = true\nutc_offset = \"+05:45\"")
        .start();
    let [mut alice, mut bob] = [server.join("alice"), server.join("bob")];
    let clocks = clocks(5 * 60 + 45);
    assert_eq!(
        unstamped(&alice.read_line(), &clocks),
        "* bob joined (2 online: alice, bob)"
    );
    bob.send("hi\n");
    assert_eq!(unstamped(&alice.read_line(), &clocks), "> bob: hi");
}

#[test]
fn history_replay_shows_when_each_line_was_said() {
    let server = chatd().config("utc_offset = \"-03:00\"").start();
    let mut alice = server.join("alice");
    // The answer to /who comes after the line is remembered: bob then signs
    // in after it, not before (which would make it a live line, not replayed).
    alice.send("before you came\n/who\n");
    alice.expect_line("* Online (1): alice");
    let mut bob = server.join("bob");
    bob.expect_line("* Last message:");
    let clocks = clocks(-3 * 60);
    assert_eq!(
        unstamped(&bob.read_line(), &clocks),
        "> alice: before you came"
    );
    alice.expect_line("* bob joined (2 online: alice, bob)");
}

// ---- colors ----

#[test]
fn colors_off_takes_the_escapes_out_for_you_alone() {
    let (_server, [mut alice, mut bob]) = room_in_color();
    bob.send("/colors off\n");
    bob.expect_line("* colors off");
    alice.send("plain for you\n");
    bob.expect_line("> alice: plain for you");
    bob.send("colored for her\n");
    alice.expect_line("> \x1b[33mbob\x1b[39m: colored for her");
    bob.send("/colors on\n");
    bob.expect_line("* colors on");
    alice.send("colored again\n");
    bob.expect_line("> \x1b[33malice\x1b[39m: colored again");
}

#[test]
fn colors_on_needs_a_server_with_colors() {
    let (_server, [mut alice]) = room(["alice"]);
    alice.send("/colors on\n");
    alice.expect_line("! this server sends no colors (colors = false)");
    alice.send("/colors off\n");
    alice.expect_line("* colors off");
}

// ---- the first line with the nickname ----

#[test]
fn text_after_the_hash_is_the_first_line() {
    let (server, [mut alice]) = room(["alice"]);
    let mut bob = server.connect();
    bob.read_banner();
    bob.send("bob#hello all\n");
    bob.expect_line("* Welcome, bob! Online (2): alice, bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    alice.expect_line("> bob: hello all");
    // A command works there too.
    let mut carol = server.connect();
    carol.read_banner();
    carol.send("carol#/who\n");
    carol.expect_line("* Welcome, carol! Online (3): alice, bob, carol");
    carol.expect_line("* Last message:");
    carol.expect_replayed("> bob: hello all");
    carol.expect_line("* Online (3): alice, bob, carol");
}
