//! Rooms (issue 15), over real TCP with the real binary: `/join`, `/part`,
//! `/rooms`, `/who [*]` and `/topic` per room; what a room hears and what it
//! does not; room names and `max_rooms`; rooms that vanish when they empty;
//! history per room; what stays server-wide (nicknames, `/msg`, mentions,
//! mutes, kicks, `ctl`); shutdown; Chinese; presence summaries in rooms.
//! `rooms/model.rs` checks random moves and chat against a model.

mod model;

use std::time::Duration;

use crate::common::{Client, Server, chatd, ctl_ok, room, with_control};

const BEL: &str = "\u{7}";

/// `client` types `line` and reads `answer`, line by line.
fn says(client: &mut Client, line: &str, answer: &[&str]) {
    client.send(&format!("{line}\n"));
    for expected in answer {
        client.expect_line(expected);
    }
}

/// Each of `clients` reads `line` next.
fn all_read(clients: &mut [&mut Client], line: &str) {
    for client in clients {
        client.expect_line(line);
    }
}

/// `client` makes room `name` (typed without `#`).
fn make_room(client: &mut Client, name: &str) {
    let made = format!("* You are now in #{name}, a new room: /topic TEXT gives it a topic");
    says(client, &format!("/join {name}"), &[&made]);
}

/// Nothing that the server did before now is still on its way to `client`:
/// an answer to it alone comes after everything queued for it before.
fn expect_quiet(client: &mut Client) {
    says(
        client,
        "/sync",
        &["! unknown command \"/sync\", type /help for the list"],
    );
}

/// Connects and signs in `nick`, reading the banner and the welcome line.
fn sign_in(server: &Server, nick: &str, welcome: &str) -> Client {
    let mut client = server.connect();
    client.read_banner();
    says(&mut client, &format!("{nick}#"), &[welcome]);
    client
}

// ---- what a room hears ----

#[test]
fn chat_and_actions_reach_only_the_room_they_are_said_in() {
    let (_server, [mut alice, mut bob, mut carol, mut dave]) =
        room(["alice", "bob", "carol", "dave"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol, &mut dave],
        "* bob left for #a (3 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): bob, carol"],
    );
    bob.expect_line("* carol joined #a (2 here: bob, carol)");
    all_read(
        &mut [&mut alice, &mut dave],
        "* carol left for #a (2 online)",
    );
    bob.send("in a\n/me waves in a\n");
    carol.expect_line("> bob: in a");
    carol.expect_line("* bob waves in a");
    carol.send("also in a\n");
    bob.expect_line("> carol: also in a");
    alice.send("in the lobby\n/me waves in the lobby\n");
    dave.expect_line("> alice: in the lobby");
    dave.expect_line("* alice waves in the lobby");
    // Every line above has been handled: none went anywhere else, and no
    // sender got their own.
    for client in [&mut alice, &mut bob, &mut carol, &mut dave] {
        expect_quiet(client);
    }
}

#[test]
fn moves_are_announced_only_to_the_rooms_concerned() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    make_room(&mut alice, "a");
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice left for #a (2 online)",
    );
    says(
        &mut bob,
        "/join #a",
        &["* You are now in #a (2): alice, bob"],
    );
    alice.expect_line("* bob joined #a (2 here: alice, bob)");
    carol.expect_line("* bob left for #a (1 online)");
    says(
        &mut bob,
        "/part",
        &["* You are back in the lobby (2): bob, carol"],
    );
    alice.expect_line("* bob left #a for the lobby (1 here)");
    carol.expect_line("* bob joined (2 online: bob, carol)");
    // From room to room; #a, left empty, goes without a word.
    make_room(&mut bob, "b");
    carol.expect_line("* bob left for #b (1 online)");
    says(
        &mut alice,
        "/join b",
        &["* You are now in #b (2): alice, bob"],
    );
    bob.expect_line("* alice joined #b (2 here: alice, bob)");
    says(
        &mut carol,
        "/rooms",
        &["* Rooms (2):", "*   chatd, the lobby (1)", "*   #b (2)"],
    );
    says(
        &mut bob,
        "/join a",
        &["* You are now in #a, a new room: /topic TEXT gives it a topic"],
    );
    alice.expect_line("* bob left #b for #a (1 here)");
    // A quit is told to the room it happens in.
    says(&mut alice, "/quit gone", &["* Bye, alice!"]);
    alice.expect_closed();
    says(
        &mut bob,
        "/join b",
        &["* You are now in #b, a new room: /topic TEXT gives it a topic"],
    );
    says(
        &mut carol,
        "/join b",
        &["* You are now in #b (2): bob, carol"],
    );
    bob.expect_line("* carol joined #b (2 here: bob, carol)");
    says(&mut carol, "/quit see you", &["* Bye, carol!"]);
    bob.expect_line("* carol left #b (quit: see you; 1 here)");
    expect_quiet(&mut bob);
}

#[test]
fn join_where_you_are_and_part_in_the_lobby_are_refused() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    for line in ["/part", "/join chatd", "/join #CHATD"] {
        says(&mut alice, line, &["! you are in the lobby already"]);
    }
    says(&mut alice, "/join", &["! usage: /join NAME"]);
    make_room(&mut alice, "a");
    bob.expect_line("* alice left for #a (1 online)");
    for line in ["/join a", "/join #A"] {
        says(&mut alice, line, &["! you are in #a already"]);
    }
    // The lobby's name leads back to the lobby.
    says(
        &mut alice,
        "/join #Chatd",
        &["* You are back in the lobby (2): alice, bob"],
    );
    bob.expect_line("* alice joined (2 online: alice, bob)");
    expect_quiet(&mut bob);
    expect_quiet(&mut alice);

    // A lobby named with a `#`: its name without it leads there too.
    let server = chatd().config("room_name = \"#Hall\"").start();
    let [mut erin] = server.users(["erin"]);
    make_room(&mut erin, "b");
    says(
        &mut erin,
        "/join hall",
        &["* You are back in the lobby (1): erin"],
    );
    says(
        &mut erin,
        "/rooms",
        &["* Rooms (1):", "*   #Hall, the lobby (1)"],
    );
}

// ---- names ----

#[test]
fn room_names_ignore_case_and_a_leading_hash_and_count_characters() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    make_room(&mut bob, "Rust");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #Rust (2 online)",
    );
    // Shown as first typed, however it is typed after.
    says(
        &mut alice,
        "/join #RUST",
        &["* You are now in #Rust (2): alice, bob"],
    );
    bob.expect_line("* alice joined #Rust (2 here: alice, bob)");
    carol.expect_line("* alice left for #Rust (1 online)");
    says(
        &mut carol,
        "/join rust",
        &["* You are now in #Rust (3): alice, bob, carol"],
    );
    all_read(
        &mut [&mut alice, &mut bob],
        "* carol joined #Rust (3 here: alice, bob, carol)",
    );
    // 32 characters (not bytes) are a name; 33 are not.
    let long = "名".repeat(32);
    make_room(&mut carol, &long);
    all_read(
        &mut [&mut alice, &mut bob],
        &format!("* carol left #Rust for #{long} (2 here)"),
    );
    says(
        &mut carol,
        &format!("/join #{long}x"),
        &["! bad room name: at most 32 characters"],
    );
    says(
        &mut carol,
        "/rooms",
        &[
            "* Rooms (3):",
            "*   chatd, the lobby (0)",
            "*   #Rust (2)",
            &format!("*   #{long} (1)"),
        ],
    );
}

#[test]
fn bad_room_names_get_one_line_and_change_nothing() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    make_room(&mut alice, "a");
    bob.expect_line("* alice left for #a (1 online)");
    let too_long = "x".repeat(33);
    for (name, why) in [
        ("#", "a room needs a name"),
        (too_long.as_str(), "at most 32 characters"),
        ("a#b", "'#' only at the start"),
        ("##a", "'#' only at the start"),
        ("a b", "no spaces"),
        ("a\tb", "no spaces"),
        ("a\u{3000}b", "no spaces"),
        ("/a", "it must not start with '/'"),
        ("#/a", "it must not start with '/'"),
        ("a\u{7}b", "no control characters"),
        ("a\u{1b}[2Jb", "no control characters"),
        ("a\u{200b}b", "characters that are not allowed"),
        ("a\u{202e}b", "characters that are not allowed"),
    ] {
        says(
            &mut alice,
            &format!("/join {name}"),
            &[&format!("! bad room name: {why}")],
        );
    }
    // Invalid UTF-8 is decoded to U+FFFD, which no name may hold.
    alice.send_bytes(b"/join a\xc3b\n");
    alice.expect_line("! bad room name: characters that are not allowed");
    says(&mut alice, "/join   ", &["! usage: /join NAME"]);
    // Still in #a, alone; no room was made; the lobby heard nothing.
    says(&mut alice, "/who", &["* In #a (1): alice"]);
    says(
        &mut alice,
        "/rooms",
        &["* Rooms (2):", "*   chatd, the lobby (1)", "*   #a (1)"],
    );
    expect_quiet(&mut bob);
}

// ---- max_rooms and rooms that vanish ----

#[test]
fn max_rooms_refuses_new_rooms_but_not_existing_ones() {
    let mut server = chatd().config("max_rooms = 2").start();
    let [mut alice, mut bob, mut carol, mut dave] = server.users(["alice", "bob", "carol", "dave"]);
    const FULL: &str =
        "! too many rooms (at most 2 besides the lobby): /rooms lists those there are";
    make_room(&mut alice, "a");
    all_read(
        &mut [&mut bob, &mut carol, &mut dave],
        "* alice left for #a (3 online)",
    );
    make_room(&mut bob, "b");
    all_read(&mut [&mut carol, &mut dave], "* bob left for #b (2 online)");
    says(&mut carol, "/join c", &[FULL]);
    server.wait_log("refused to make room #c for \"carol\": max_rooms is 2");
    // An existing room is still open at the limit.
    says(
        &mut carol,
        "/join A",
        &["* You are now in #a (2): alice, carol"],
    );
    alice.expect_line("* carol joined #a (2 here: alice, carol)");
    dave.expect_line("* carol left for #a (1 online)");
    // A room emptied by a move frees its place...
    says(
        &mut bob,
        "/join a",
        &["* You are now in #a (3): alice, bob, carol"],
    );
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob joined #a (3 here: alice, bob, carol)",
    );
    make_room(&mut dave, "c");
    says(&mut dave, "/join d", &[FULL]);
    // ...and so does one emptied by a quit.
    says(&mut dave, "/quit", &["* Bye, dave!"]);
    make_room(&mut alice, "d");
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice left #a for #d (2 here)",
    );
    says(&mut carol, "/join e", &[FULL]);
    expect_quiet(&mut bob);
}

#[test]
fn max_rooms_zero_keeps_everyone_in_the_lobby() {
    let server = chatd().config("max_rooms = 0").start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    says(
        &mut alice,
        "/join a",
        &["! this server has only the lobby: no rooms can be made"],
    );
    says(
        &mut alice,
        "/join chatd",
        &["! you are in the lobby already"],
    );
    says(
        &mut alice,
        "/rooms",
        &["* Rooms (1):", "*   chatd, the lobby (2)"],
    );
    expect_quiet(&mut bob);
}

#[test]
fn an_emptied_room_vanishes_and_comes_back_fresh() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    make_room(&mut alice, "a");
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice left for #a (2 online)",
    );
    says(
        &mut bob,
        "/join a",
        &["* You are now in #a (2): alice, bob"],
    );
    alice.expect_line("* bob joined #a (2 here: alice, bob)");
    carol.expect_line("* bob left for #a (1 online)");
    says(
        &mut alice,
        "/topic old topic",
        &["* alice set the topic: old topic"],
    );
    bob.expect_line("* alice set the topic: old topic");
    alice.send("old line\n");
    bob.expect_line("> alice: old line");
    says(
        &mut carol,
        "/rooms",
        &[
            "* Rooms (2):",
            "*   chatd, the lobby (1)",
            "*   #a (2): old topic",
        ],
    );
    says(
        &mut alice,
        "/part",
        &["* You are back in the lobby (2): alice, carol"],
    );
    bob.expect_line("* alice left #a for the lobby (1 here)");
    carol.expect_line("* alice joined (2 online: alice, carol)");
    says(
        &mut bob,
        "/part",
        &["* You are back in the lobby (3): alice, bob, carol"],
    );
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob joined (3 online: alice, bob, carol)",
    );
    says(
        &mut carol,
        "/rooms",
        &["* Rooms (1):", "*   chatd, the lobby (3)"],
    );
    // Made again: a new name as typed, a new maker, no history, no topic.
    make_room(&mut bob, "A");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #A (2 online)",
    );
    says(
        &mut alice,
        "/join a",
        &["* You are now in #A (2): alice, bob"],
    );
    expect_quiet(&mut alice);
    bob.expect_line("* alice joined #A (2 here: alice, bob)");
    says(&mut alice, "/topic", &["* #A has no topic"]);
    says(
        &mut alice,
        "/topic mine again",
        &["! only operators and whoever made #A may set its topic"],
    );
    says(&mut bob, "/topic fresh", &["* bob set the topic: fresh"]);
    alice.expect_line("* bob set the topic: fresh");
}

// ---- history ----

#[test]
fn each_room_replays_its_own_history() {
    let server = chatd().config("history = 2").start();
    let [mut alice, mut bob, mut carol] = server.users(["alice", "bob", "carol"]);
    alice.send("lobby 1\nlobby 2\n/me lobby 3\n");
    for lobby in [&mut bob, &mut carol] {
        lobby.expect_line("> alice: lobby 1");
        lobby.expect_line("> alice: lobby 2");
        lobby.expect_line("* alice lobby 3");
    }
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #a (2 online)",
    );
    bob.send("a 1\na 2\n/me a 3\n");
    expect_quiet(&mut bob); // said (to nobody) before carol comes
    carol.send("/join a\n");
    carol.expect_line("* You are now in #a (2): bob, carol");
    carol.expect_line("* Last 2 messages:");
    carol.expect_replayed("> bob: a 2");
    carol.expect_replayed("* bob a 3");
    expect_quiet(&mut carol);
    bob.expect_line("* carol joined #a (2 here: bob, carol)");
    alice.expect_line("* carol left for #a (1 online)");
    // Signing in replays the lobby's lines, not #a's.
    let mut dave = sign_in(&server, "dave", "* Welcome, dave! Online (2): alice, dave");
    dave.expect_line("* Last 2 messages:");
    dave.expect_replayed("> alice: lobby 2");
    dave.expect_replayed("* alice lobby 3");
    dave.expect_line("* 1 more room: /rooms lists it, /join NAME goes there");
    expect_quiet(&mut dave);
    alice.expect_line("* dave joined (2 online: alice, dave)");
    // Back in the lobby: the lobby's again.
    carol.send("/part\n");
    carol.expect_line("* You are back in the lobby (3): alice, carol, dave");
    carol.expect_line("* Last 2 messages:");
    carol.expect_replayed("> alice: lobby 2");
    carol.expect_replayed("* alice lobby 3");
    expect_quiet(&mut carol);
    bob.expect_line("* carol left #a for the lobby (1 here)");
}

// ---- /rooms, /who, /topic ----

#[test]
fn rooms_lists_the_lobby_first_then_the_biggest_with_topics() {
    let (_server, [mut alice, mut bob, mut carol, mut dave, mut erin]) =
        room(["alice", "bob", "carol", "dave", "erin"]);
    make_room(&mut bob, "small");
    all_read(
        &mut [&mut alice, &mut carol, &mut dave, &mut erin],
        "* bob left for #small (4 online)",
    );
    make_room(&mut carol, "big");
    all_read(
        &mut [&mut alice, &mut dave, &mut erin],
        "* carol left for #big (3 online)",
    );
    says(
        &mut dave,
        "/join big",
        &["* You are now in #big (2): carol, dave"],
    );
    carol.expect_line("* dave joined #big (2 here: carol, dave)");
    all_read(
        &mut [&mut alice, &mut erin],
        "* dave left for #big (2 online)",
    );
    says(
        &mut carol,
        "/topic bigger is better",
        &["* carol set the topic: bigger is better"],
    );
    dave.expect_line("* carol set the topic: bigger is better");
    says(
        &mut alice,
        "/rooms",
        &[
            "* Rooms (3):",
            "*   chatd, the lobby (2)",
            "*   #big (2): bigger is better",
            "*   #small (1)",
        ],
    );
    says(
        &mut erin,
        "/join small",
        &["* You are now in #small (2): bob, erin"],
    );
    bob.expect_line("* erin joined #small (2 here: bob, erin)");
    alice.expect_line("* erin left for #small (1 online)");
    says(
        &mut alice,
        "/join small",
        &["* You are now in #small (3): alice, bob, erin"],
    );
    says(
        &mut alice,
        "/rooms",
        &[
            "* Rooms (3):",
            "*   chatd, the lobby (0)",
            "*   #small (3)",
            "*   #big (2): bigger is better",
        ],
    );
}

#[test]
fn who_lists_your_room_and_who_star_everyone() {
    let (_server, [mut alice, mut bob, mut carol, mut dave]) =
        room(["alice", "bob", "carol", "dave"]);
    make_room(&mut bob, "rust");
    all_read(
        &mut [&mut alice, &mut carol, &mut dave],
        "* bob left for #rust (3 online)",
    );
    says(
        &mut carol,
        "/join rust",
        &["* You are now in #rust (2): bob, carol"],
    );
    bob.expect_line("* carol joined #rust (2 here: bob, carol)");
    all_read(
        &mut [&mut alice, &mut dave],
        "* carol left for #rust (2 online)",
    );
    // Away is told to your room only.
    says(&mut carol, "/away reading", &["* carol is away: reading"]);
    bob.expect_line("* carol is away: reading");
    says(&mut dave, "/away", &["* dave is away: away"]);
    alice.expect_line("* dave is away: away");
    says(&mut carol, "/who", &["* In #rust (2): bob, carol (away)"]);
    says(&mut alice, "/who", &["* Online (2): alice, dave (away)"]);
    says(
        &mut alice,
        "/who *",
        &["* Everyone online (4): alice, bob (#rust), carol (away) (#rust), dave (away)"],
    );
    expect_quiet(&mut bob);
}

#[test]
fn topics_belong_to_their_room_its_maker_and_operators() {
    let (server, path) = with_control("");
    let [mut alice, mut bob, mut carol] = server.users(["alice", "bob", "carol"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #a (2 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): bob, carol"],
    );
    bob.expect_line("* carol joined #a (2 here: bob, carol)");
    alice.expect_line("* carol left for #a (1 online)");
    const NOT_YOURS: &str = "! only operators and whoever made #a may set its topic";
    says(&mut carol, "/topic mine", &[NOT_YOURS]);
    says(
        &mut bob,
        "/topic tea time",
        &["* bob set the topic: tea time"],
    );
    carol.expect_line("* bob set the topic: tea time");
    says(&mut carol, "/topic", &["* Topic of #a: tea time"]);
    says(&mut alice, "/topic", &["* no topic is set"]);
    says(
        &mut alice,
        "/topic lobby",
        &["! only operators may use /topic"],
    );
    // A newcomer gets the topic after the names.
    says(
        &mut alice,
        "/join a",
        &[
            "* You are now in #a (3): alice, bob, carol",
            "* Topic of #a: tea time",
        ],
    );
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice joined #a (3 here: alice, bob, carol)",
    );
    says(&mut alice, "/topic hers", &[NOT_YOURS]);
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_line("* you are now an operator: /help lists your commands");
    says(
        &mut alice,
        "/topic ops rule",
        &["* alice set the topic: ops rule"],
    );
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice set the topic: ops rule",
    );
    says(
        &mut alice,
        "/part",
        &["* You are back in the lobby (1): alice"],
    );
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice left #a for the lobby (2 here)",
    );
    says(
        &mut alice,
        "/topic welcome",
        &["* alice set the topic: welcome"],
    );
    says(
        &mut alice,
        "/rooms",
        &[
            "* Rooms (2):",
            "*   chatd, the lobby (1): welcome",
            "*   #a (2): ops rule",
        ],
    );
    // The maker keeps the right after leaving and coming back.
    says(
        &mut bob,
        "/part",
        &[
            "* You are back in the lobby (2): alice, bob",
            "* Topic: welcome",
        ],
    );
    carol.expect_line("* bob left #a for the lobby (1 here)");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    says(
        &mut bob,
        "/join a",
        &[
            "* You are now in #a (2): bob, carol",
            "* Topic of #a: ops rule",
        ],
    );
    carol.expect_line("* bob joined #a (2 here: bob, carol)");
    says(
        &mut bob,
        "/topic back again",
        &["* bob set the topic: back again"],
    );
    carol.expect_line("* bob set the topic: back again");
    alice.expect_line("* bob left for #a (1 online)");
    expect_quiet(&mut alice);
}

// ---- what stays server-wide ----

#[test]
fn private_messages_and_nicknames_are_server_wide() {
    let (server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #a (2 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): bob, carol"],
    );
    bob.expect_line("* carol joined #a (2 here: bob, carol)");
    alice.expect_line("* carol left for #a (1 online)");
    says(&mut bob, "/msg alice hi from #a", &["-> alice: hi from #a"]);
    alice.expect_line(&format!("{BEL}> bob (private): hi from #a"));
    says(&mut alice, "/msg BOB hi back", &["-> bob: hi back"]);
    bob.expect_line(&format!("{BEL}> alice (private): hi back"));
    says(
        &mut bob,
        "/nick ALICE",
        &["! nickname \"ALICE\" is taken, try another"],
    );
    // A rename is told to the renamer's room only.
    says(&mut bob, "/nick Bobby", &["* bob is now known as Bobby"]);
    carol.expect_line("* bob is now known as Bobby");
    expect_quiet(&mut alice);
    says(&mut carol, "/who", &["* In #a (2): Bobby, carol"]);
    let mut again = server.connect();
    again.read_banner();
    says(
        &mut again,
        "bobby#",
        &[
            "! nickname \"bobby\" is taken, try another",
            "> Please type your nickname followed by '#' and press Enter",
        ],
    );
    says(&mut alice, "/msg bobby ok", &["-> Bobby: ok"]);
    bob.expect_line(&format!("{BEL}> alice (private): ok"));
}

#[test]
fn mentions_ring_only_in_the_same_room() {
    let (_server, [mut alice, mut bob, mut carol, mut dave]) =
        room(["alice", "bob", "carol", "dave"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol, &mut dave],
        "* bob left for #a (3 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): bob, carol"],
    );
    bob.expect_line("* carol joined #a (2 here: bob, carol)");
    all_read(
        &mut [&mut alice, &mut dave],
        "* carol left for #a (2 online)",
    );
    carol.send("alice and bob, look\n");
    bob.expect_line(&format!("{BEL}> carol: alice and bob, look"));
    dave.send("bob, carol, alice?\n");
    alice.expect_line(&format!("{BEL}> dave: bob, carol, alice?"));
    for client in [&mut alice, &mut bob, &mut carol, &mut dave] {
        expect_quiet(client);
    }
}

#[test]
fn a_mute_holds_in_every_room() {
    let (server, path) = with_control("");
    let [mut alice, mut bob, mut carol] = server.users(["alice", "bob", "carol"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #a (2 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): bob, carol"],
    );
    bob.expect_line("* carol joined #a (2 here: bob, carol)");
    alice.expect_line("* carol left for #a (1 online)");
    assert_eq!(ctl_ok(&path, &["mute", "bob"]), "bob is muted\n");
    const MUTED: &str = "! you are muted: nobody sees what you say";
    bob.expect_line(MUTED);
    for line in ["hello?", "/me waves", "/msg alice psst"] {
        says(&mut bob, line, &[MUTED]);
    }
    says(
        &mut bob,
        "/part",
        &["* You are back in the lobby (2): alice, bob"],
    );
    carol.expect_line("* bob left #a for the lobby (1 here)");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    says(&mut bob, "still muted", &[MUTED]);
    expect_quiet(&mut alice);
    expect_quiet(&mut carol);
    ctl_ok(&path, &["unmute", "bob"]);
    bob.expect_line("* you are no longer muted");
    bob.send("free\n");
    alice.expect_line("> bob: free");
}

#[test]
fn a_kick_from_another_room_is_told_to_the_op_and_the_kicked_ones_room() {
    let (server, path) = with_control("");
    let [mut alice, mut troll, mut carol, mut dave] =
        server.users(["alice", "troll", "carol", "dave"]);
    make_room(&mut troll, "a");
    all_read(
        &mut [&mut alice, &mut carol, &mut dave],
        "* troll left for #a (3 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): carol, troll"],
    );
    troll.expect_line("* carol joined #a (2 here: carol, troll)");
    all_read(
        &mut [&mut alice, &mut dave],
        "* carol left for #a (2 online)",
    );
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_line("* you are now an operator: /help lists your commands");
    says(
        &mut alice,
        "/kick troll spam",
        &["* troll was kicked by alice (spam)"],
    );
    troll.expect_line("! you were kicked by alice: spam");
    troll.expect_closed();
    carol.expect_line("* troll was kicked by alice (spam)");
    expect_quiet(&mut dave);
    expect_quiet(&mut alice);
    // The other way round: the op in a room, the one kicked in the lobby.
    says(
        &mut alice,
        "/join a",
        &["* You are now in #a (2): alice, carol"],
    );
    carol.expect_line("* alice joined #a (2 here: alice, carol)");
    dave.expect_line("* alice left for #a (1 online)");
    says(
        &mut alice,
        "/kick dave enough",
        &["* dave was kicked by alice (enough)"],
    );
    dave.expect_line("! you were kicked by alice: enough");
    dave.expect_closed();
    expect_quiet(&mut carol);
    // In the op's own room: heard once, with the room.
    says(
        &mut alice,
        "/kick carol bye",
        &["* carol was kicked by alice (bye)"],
    );
    carol.expect_line("! you were kicked by alice: bye");
    carol.expect_closed();
    expect_quiet(&mut alice);
}

#[test]
fn ctl_say_who_rooms_and_the_health_line_see_every_room() {
    let (mut server, path) = with_control("stats_interval_secs = 1");
    let [mut alice, mut bob, mut carol] = server.users(["alice", "bob", "carol"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #a (2 online)",
    );
    make_room(&mut carol, "b");
    alice.expect_line("* carol left for #b (1 online)");
    let mut stranger = server.connect();
    stranger.read_banner();
    assert_eq!(ctl_ok(&path, &["say", "hello", "everyone"]), "");
    all_read(
        &mut [&mut alice, &mut bob, &mut carol],
        "* [server] hello everyone",
    );
    let who = ctl_ok(&path, &["who"]);
    let rooms: Vec<(&str, &str)> = who
        .lines()
        .map(|row| {
            let cells: Vec<&str> = row.split_whitespace().collect();
            (cells[0], cells[2])
        })
        .collect();
    assert_eq!(
        rooms,
        [
            ("NICK", "ROOM"),
            ("alice", "chatd"),
            ("bob", "#a"),
            ("carol", "#b"),
            ("-", "chatd")
        ],
        "{who}"
    );
    assert_eq!(
        ctl_ok(&path, &["rooms"]),
        "Rooms (3):\n  chatd, the lobby (1)\n  #a (1)\n  #b (1)\n"
    );
    let stats = ctl_ok(&path, &["stats"]);
    assert!(stats.contains(" registered=3 rooms=2 lines_in="), "{stats}");
    server.wait_log_since(0, "with rooms=2", |line| {
        line.contains("health: ") && line.contains(" rooms=2 ")
    });
}

// ---- shutdown ----

#[test]
fn sigterm_notices_reach_every_room() {
    let mut server = chatd().config("shutdown_grace_secs = 30").start();
    let [mut alice, mut bob, mut carol] = server.users(["alice", "bob", "carol"]);
    make_room(&mut bob, "a");
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob left for #a (2 online)",
    );
    make_room(&mut carol, "b");
    alice.expect_line("* carol left for #b (1 online)");
    server.signal("TERM");
    let mut everyone = [&mut alice, &mut bob, &mut carol];
    all_read(&mut everyone, "* server shutting down in 30 seconds");
    server.signal("TERM"); // the second skips the grace
    all_read(&mut everyone, "* server shutting down now, goodbye");
    for client in everyone {
        client.expect_closed();
    }
    server.drain_log();
    assert_eq!(server.wait_exit(Duration::ZERO).code(), Some(0));
}

// ---- Chinese ----

/// Signs in `nick` on a Chinese server; the welcome lists `online`.
fn sign_in_zh(server: &Server, nick: &str, online: &str) -> Client {
    let mut client = server.connect();
    client.read_raw_lines(3);
    let count = online.split(", ").count();
    let welcome = format!("* {nick} 你好！当前在线（{count}人）：【 {online} 】");
    says(&mut client, &format!("{nick}#"), &[&welcome]);
    client
}

#[test]
fn rooms_speak_chinese() {
    let server = chatd().config("language = \"zh\"\nmax_rooms = 1").start();
    let mut alice = sign_in_zh(&server, "alice", "alice");
    let mut bob = sign_in_zh(&server, "bob", "alice, bob");
    alice.read_raw_lines(2);
    let mut carol = sign_in_zh(&server, "carol", "alice, bob, carol");
    alice.read_raw_lines(2);
    bob.read_raw_lines(2);
    says(
        &mut bob,
        "/join 茶馆",
        &["* 你创建了房间 #茶馆，可用 /topic 内容 设置话题"],
    );
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob 去了 #茶馆（当前2人在线）",
    );
    says(
        &mut alice,
        "/join #茶馆",
        &["* 你已进入 #茶馆（2人）：【 alice, bob 】"],
    );
    bob.expect_line("* alice 进入了 #茶馆（本房间2人）");
    bob.expect_line("* 本房间：【 alice, bob 】");
    carol.expect_line("* alice 去了 #茶馆（当前1人在线）");
    says(&mut alice, "/join 茶馆", &["! 你已经在 #茶馆 了"]);
    says(&mut carol, "/part", &["! 你已经在 大厅 了"]);
    says(
        &mut carol,
        "/join 棋社",
        &["! 房间数量已达上限（除大厅外最多1个），/rooms 查看已有的房间"],
    );
    says(
        &mut carol,
        "/join a b",
        &["! 房间名无效：房间名不能包含空格"],
    );
    says(&mut bob, "/quit", &["* 再见，bob！"]);
    alice.expect_line("* bob 下线了（退出，本房间1人）");
    says(
        &mut alice,
        "/part",
        &["* 你已回到大厅（2人）：【 alice, carol 】"],
    );
    carol.expect_line("* alice 上线了（当前2人在线）");
    carol.expect_line("* 当前在线：【 alice, carol 】");
    says(
        &mut carol,
        "/rooms",
        &["* 房间（1个）：", "*   chatd（大厅）（2人）"],
    );
}

// ---- presence summaries ----

#[test]
fn joins_into_a_big_room_are_summarized() {
    let server = chatd()
        .config("presence_summary_above = 2\npresence_interval_secs = 1")
        .start();
    let [mut a, mut b] = server.users(["a", "b"]);
    make_room(&mut a, "r");
    b.expect_line("* a left for #r (1 online)");
    says(&mut b, "/join r", &["* You are now in #r (2): a, b"]);
    a.expect_line("* b joined #r (2 here: a, b)");
    // Above two members, joins are counted, not announced.
    const HINT: &str = "* 1 more room: /rooms lists it, /join NAME goes there";
    let mut c = sign_in(&server, "c", "* Welcome, c! Online (1): c");
    c.expect_line(HINT);
    says(&mut c, "/join r", &["* You are now in #r (3): a, b, c"]);
    let mut d = sign_in(&server, "d", "* Welcome, d! Online (1): d");
    d.expect_line(HINT);
    says(&mut d, "/join r", &["* You are now in #r (4): a, b, c, d"]);
    all_read(
        &mut [&mut a, &mut b, &mut c, &mut d],
        "* #r: 2 joined (4 here)",
    );
    // Leaves likewise, until the room is back at two.
    says(&mut d, "/part", &["* You are back in the lobby (1): d"]);
    says(&mut c, "/quit", &["* Bye, c!"]);
    all_read(&mut [&mut a, &mut b], "* #r: 2 left (2 here)");
    says(&mut b, "/part", &["* You are back in the lobby (2): b, d"]);
    a.expect_line("* b left #r for the lobby (1 here)");
    d.expect_line("* b joined (2 online: b, d)");
}
