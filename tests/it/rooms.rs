//! Rooms (issue 15), over real TCP with the real binary. Here: what a room
//! hears and what it does not, moves and their announcements, room names,
//! `max_rooms`, rooms that vanish when they empty, history per room. In
//! `rooms/`: `/rooms`, `/who` and `/topic` (`listing`); what stays
//! server-wide (`server_wide`); what members see their own way, Chinese and
//! presence summaries (`views`); random moves and chat against a model
//! (`model`).

mod listing;
mod model;
mod noise;
mod server_wide;
mod views;

use crate::common::{Client, Server, chatd, room};

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

/// alice, bob, carol and dave signed in; bob made #a and carol followed
/// him, alice and dave stayed in the lobby; everything they were told read.
fn bob_and_carol_in_a() -> (Server, [Client; 4]) {
    let (server, [mut alice, mut bob, mut carol, mut dave]) =
        room(["alice", "bob", "carol", "dave"]);
    two_go_to_a(
        ("bob", &mut bob),
        ("carol", &mut carol),
        &mut [&mut alice, &mut dave],
    );
    (server, [alice, bob, carol, dave])
}

/// `maker` makes #a and `follower` joins it, each given with its nickname;
/// `stayers`, in the lobby, hear both go. Everything they were told is read.
fn two_go_to_a(
    maker: (&str, &mut Client),
    follower: (&str, &mut Client),
    stayers: &mut [&mut Client],
) {
    let ((made_by, maker), (name, follower)) = (maker, follower);
    make_room(maker, "a");
    let left = format!(
        "* {made_by} left for #a ({} here, {} online)",
        stayers.len() + 1,
        stayers.len() + 2
    );
    follower.expect_line(&left);
    all_read(stayers, &left);
    let mut both = [made_by, name];
    both.sort_by_key(|nick| nick.to_lowercase());
    let both = both.join(", ");
    says(
        follower,
        "/join a",
        &[&format!("* You are now in #a (2): {both}")],
    );
    maker.expect_line(&format!("* {name} joined #a (2 here: {both})"));
    all_read(
        stayers,
        &format!(
            "* {name} left for #a ({} here, {} online)",
            stayers.len(),
            stayers.len() + 2
        ),
    );
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
    let (_server, [mut alice, mut bob, mut carol, mut dave]) = bob_and_carol_in_a();
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
    // A dropped connection is told to its room only.
    drop(carol);
    bob.expect_line("* carol left #a (connection closed; 1 here)");
    expect_quiet(&mut alice);
}

#[test]
fn moves_are_announced_only_to_the_rooms_concerned() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    make_room(&mut alice, "a");
    all_read(
        &mut [&mut bob, &mut carol],
        "* alice left for #a (2 here, 3 online)",
    );
    says(
        &mut bob,
        "/join #a",
        &["* You are now in #a (2): alice, bob"],
    );
    alice.expect_line("* bob joined #a (2 here: alice, bob)");
    carol.expect_line("* bob left for #a (1 here, 3 online)");
    says(
        &mut bob,
        "/part",
        &["* You are back in the lobby (2): bob, carol"],
    );
    alice.expect_line("* bob left #a for the lobby (1 here)");
    carol.expect_line("* bob came back from #a (2 here, 3 online: bob, carol)");
    // From room to room; #a, left empty, goes without a word.
    make_room(&mut bob, "b");
    carol.expect_line("* bob left for #b (1 here, 3 online)");
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
    bob.expect_line("* alice left for #a (1 here, 2 online)");
    for line in ["/join a", "/join #A"] {
        says(&mut alice, line, &["! you are in #a already"]);
    }
    // The lobby's name leads back to the lobby.
    says(
        &mut alice,
        "/join #Chatd",
        &["* You are back in the lobby (2): alice, bob"],
    );
    bob.expect_line("* alice came back from #a (2 online: alice, bob)");
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
        "* bob left for #Rust (2 here, 3 online)",
    );
    // Shown as first typed, however it is typed after.
    says(
        &mut alice,
        "/join #RUST",
        &["* You are now in #Rust (2): alice, bob"],
    );
    bob.expect_line("* alice joined #Rust (2 here: alice, bob)");
    carol.expect_line("* alice left for #Rust (1 here, 3 online)");
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
    bob.expect_line("* alice left for #a (1 here, 2 online)");
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
        "* alice left for #a (3 here, 4 online)",
    );
    make_room(&mut bob, "b");
    all_read(
        &mut [&mut carol, &mut dave],
        "* bob left for #b (2 here, 4 online)",
    );
    says(&mut carol, "/join c", &[FULL]);
    server.wait_log("refused to make room #c for \"carol\": max_rooms is 2");
    // An existing room is still open at the limit.
    says(
        &mut carol,
        "/join A",
        &["* You are now in #a (2): alice, carol"],
    );
    alice.expect_line("* carol joined #a (2 here: alice, carol)");
    dave.expect_line("* carol left for #a (1 here, 4 online)");
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
    two_go_to_a(("alice", &mut alice), ("bob", &mut bob), &mut [&mut carol]);
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
    carol.expect_line("* alice came back from #a (2 here, 3 online: alice, carol)");
    says(
        &mut bob,
        "/part",
        &["* You are back in the lobby (3): alice, bob, carol"],
    );
    all_read(
        &mut [&mut alice, &mut carol],
        "* bob came back from #a (3 online: alice, bob, carol)",
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
        "* bob left for #A (2 here, 3 online)",
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

/// What one read brings is handled in one round: a room left empty and one
/// made in its place (its slot) before the round's lines go out.
#[test]
fn a_room_made_as_another_empties_starts_clean() {
    let (_server, [mut alice, mut bob, mut carol, mut dave, mut erin]) =
        room(["alice", "bob", "carol", "dave", "erin"]);
    make_room(&mut alice, "a");
    all_read(
        &mut [&mut bob, &mut carol, &mut dave, &mut erin],
        "* alice left for #a (4 here, 5 online)",
    );
    alice.send("hello a\n/join b\n/away busy\n/join a\n/back\n");
    for line in [
        "* You are now in #b, a new room: /topic TEXT gives it a topic",
        "* alice is away: busy",
        "* You are now in #a, a new room: /topic TEXT gives it a topic",
        "* alice is back",
    ] {
        alice.expect_line(line);
    }
    expect_quiet(&mut alice);
    says(
        &mut bob,
        "/rooms",
        &["* Rooms (2):", "*   chatd, the lobby (4)", "*   #a (1)"],
    );
    expect_quiet(&mut carol);
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
        "* bob left for #a (2 here, 3 online)",
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
    alice.expect_line("* carol left for #a (1 here, 3 online)");
    // Signing in replays the lobby's lines, not #a's.
    let mut dave = sign_in(
        &server,
        "dave",
        "* Welcome, dave! In the lobby (2 of 4 online): alice, dave",
    );
    dave.expect_line("* Last 2 messages:");
    dave.expect_replayed("> alice: lobby 2");
    dave.expect_replayed("* alice lobby 3");
    dave.expect_line("* 1 more room: /rooms lists it, /join NAME goes there");
    expect_quiet(&mut dave);
    alice.expect_line("* dave joined (2 here, 4 online: alice, dave)");
    // Back in the lobby: only what the lobby said while carol was away.
    alice.send("lobby 4\n");
    dave.expect_line("> alice: lobby 4");
    carol.send("/part\n");
    carol.expect_line("* You are back in the lobby (3): alice, carol, dave");
    carol.expect_line("* 1 message while you were away:");
    carol.expect_replayed("> alice: lobby 4");
    expect_quiet(&mut carol);
    // Away and back with nothing said: nothing replayed.
    carol.send("/join a\n");
    carol.read_until("* bob a 3");
    carol.send("/part\n");
    carol.expect_line("* You are back in the lobby (3): alice, carol, dave");
    expect_quiet(&mut carol);
    bob.expect_line("* carol left #a for the lobby (1 here)");
}

/// Each count says what it counts: "online" is everyone signed in, the
/// lobby's own count says "here" (or "in the lobby") once someone is in
/// another room.
#[test]
fn counts_say_what_they_count() {
    let (server, [mut alice, mut bob]) = room(["alice", "bob"]);
    make_room(&mut bob, "a");
    alice.expect_line("* bob left for #a (1 here, 2 online)");
    let mut carol = server.connect();
    carol.expect_line("> Welcome to chatd");
    carol.expect_line("> 2 online now");
    carol.read_until("Enter");
    says(
        &mut carol,
        "carol#",
        &[
            "* Welcome, carol! In the lobby (2 of 3 online): alice, carol",
            "* 1 more room: /rooms lists it, /join NAME goes there",
        ],
    );
    alice.expect_line("* carol joined (2 here, 3 online: alice, carol)");
    says(
        &mut carol,
        "/who",
        &["* In the lobby (2 of 3 online): alice, carol"],
    );
    says(&mut carol, "/quit", &["* Bye, carol!"]);
    alice.expect_line("* carol left (quit; 1 here, 2 online)");
    // Everyone back in the lobby: "online" is the lobby again.
    says(
        &mut bob,
        "/part",
        &["* You are back in the lobby (2): alice, bob"],
    );
    alice.expect_line("* bob came back from #a (2 online: alice, bob)");
    says(&mut alice, "/who", &["* Online (2): alice, bob"]);
}
