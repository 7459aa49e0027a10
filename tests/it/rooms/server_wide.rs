//! What stays server-wide with rooms: nicknames, `/msg`, mentions (only in
//! your room), mutes, kicks by an operator in another room, `ctl`, the health
//! line, reloads and shutdown.

use std::time::Duration;

use super::{BEL, all_read, bob_and_carol_in_a, expect_quiet, make_room, says, two_go_to_a};
use crate::common::{Client, chatd, ctl_ok, room, with_control};

#[test]
fn private_messages_and_nicknames_are_server_wide() {
    let (server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    two_go_to_a(("bob", &mut bob), ("carol", &mut carol), &mut [&mut alice]);
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
    let (_server, [mut alice, mut bob, mut carol, mut dave]) = bob_and_carol_in_a();
    carol.send("alice and bob, look\n");
    bob.expect_line(&format!("{BEL}> carol: alice and bob, look"));
    dave.send("bob, carol, alice?\n");
    alice.expect_line(&format!("{BEL}> dave: bob, carol, alice?"));
    // `#alice` names a room, not the user alice: no bell.
    dave.send("come to #alice\n");
    alice.expect_line("> dave: come to #alice");
    for client in [&mut alice, &mut bob, &mut carol, &mut dave] {
        expect_quiet(client);
    }
}

#[test]
fn a_mute_holds_in_every_room() {
    let (server, path) = with_control("");
    // A mute binds to an address: bob has one of his own.
    let mut alice = server.join("alice");
    let mut bob = server.join_from("127.0.0.2", "bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    let mut carol = server.join_from("127.0.0.3", "carol");
    all_read(
        &mut [&mut alice, &mut bob],
        "* carol joined (3 online: alice, bob, carol)",
    );
    two_go_to_a(("bob", &mut bob), ("carol", &mut carol), &mut [&mut alice]);
    assert_eq!(
        ctl_ok(&path, &["mute", "bob"]),
        "bob is muted for good (address 127.0.0.2, 1 connected)\n"
    );
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
    // A muted user's moves are not announced (their nickname is their words).
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
        "* troll left for #a (3 here, 4 online)",
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): carol, troll"],
    );
    troll.expect_line("* carol joined #a (2 here: carol, troll)");
    all_read(
        &mut [&mut alice, &mut dave],
        "* carol left for #a (2 here, 4 online)",
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
    dave.expect_line("* alice left for #a (1 here, 3 online)");
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
    bob_in_a_carol_in_b(&mut alice, &mut bob, &mut carol);
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
            ("-", "-")
        ],
        "{who}"
    );
    assert_eq!(
        ctl_ok(&path, &["rooms"]),
        "Rooms (3):\n  chatd, the lobby (1)\n  #a (1)\n  #b (1)\n"
    );
    server.wait_log_since(0, "with rooms=2", |line| {
        line.contains("health: ") && line.contains(" rooms=2 ")
    });
    // A purge takes a user's lines out of every room's history.
    alice.send("in the lobby\n");
    bob.send("in a\n");
    expect_quiet(&mut alice);
    expect_quiet(&mut bob);
    assert_eq!(
        ctl_ok(&path, &["purge", "alice"]),
        "removed 1 line by alice from the history\n"
    );
    assert_eq!(
        ctl_ok(&path, &["purge", "bob"]),
        "removed 1 line by bob from the history\n"
    );
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (2): bob, carol"],
    );
    expect_quiet(&mut carol);
    let stats = ctl_ok(&path, &["stats"]);
    assert!(stats.contains(" registered=3 rooms=1 lines_in="), "{stats}");
}

/// A reload that gives the lobby the name of a room with members (`room_name
/// = "Hall"` while #hall is in use) leaves that room within reach.
#[test]
fn a_room_named_like_the_reloaded_lobby_stays_reachable() {
    let (server, path) = with_control("");
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    make_room(&mut bob, "hall");
    alice.expect_line("* bob left for #hall (1 here, 2 online)");
    server.rewrite_config(&format!(
        "control_socket = \"{}\"\nroom_name = \"Hall\"",
        path.display()
    ));
    assert_eq!(ctl_ok(&path, &["reload"]), "config reloaded\n");
    says(
        &mut alice,
        "/rooms",
        &["* Rooms (2):", "*   Hall, the lobby (1)", "*   #hall (1)"],
    );
    says(
        &mut alice,
        "/join #hall",
        &["* You are now in #hall (2): alice, bob"],
    );
}

// ---- shutdown ----

#[test]
fn sigterm_notices_reach_every_room() {
    let mut server = chatd().config("shutdown_grace_secs = 30").start();
    let [mut alice, mut bob, mut carol] = server.users(["alice", "bob", "carol"]);
    bob_in_a_carol_in_b(&mut alice, &mut bob, &mut carol);
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

/// bob makes #a and carol #b; alice stays in the lobby and hears both go.
fn bob_in_a_carol_in_b(alice: &mut Client, bob: &mut Client, carol: &mut Client) {
    make_room(bob, "a");
    all_read(
        &mut [&mut *alice, &mut *carol],
        "* bob left for #a (2 here, 3 online)",
    );
    make_room(carol, "b");
    alice.expect_line("* carol left for #b (1 here, 3 online)");
}
