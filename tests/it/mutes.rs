//! Mutes bind to addresses, as bans do: they hold across reconnects, renames
//! and second connections, are kept in `state_dir` beside the bans, survive a
//! restart, end on time, and while one lasts nothing the user chooses reaches
//! anyone. Clients come from addresses of their own on loopback (127.0.0.x).

use crate::common::{TIMEOUT, chatd, ctl, ctl_ok, temp_dir, with_control};

#[test]
fn a_mute_holds_across_reconnects_renames_and_second_connections() {
    let (server, path) = with_control("");
    let [mut alice, mut carol] = server.users(["alice", "carol"]);
    let mut mallory = server.join_from("127.0.0.2", "mallory");
    for user in [&mut alice, &mut carol] {
        user.expect_line("* mallory joined (3 online: alice, carol, mallory)");
    }
    assert_eq!(
        ctl_ok(&path, &["mute", "mallory", "10m"]),
        "mallory is muted for 10m (address 127.0.0.2, 1 connected)\n"
    );
    mallory.expect_line("! you are muted for 10m: nobody sees what you say");
    mallory.send("/quit see you all at spam.example\n");
    mallory.expect_line("* Bye, mallory!");
    mallory.read_to_close();
    // Back from the same address, saying something as they sign in.
    let mut again = server.connect_from("127.0.0.2");
    again.read_banner();
    again.send("mallory#I am back\n");
    again.expect_prefix("* Welcome, mallory! Online (3)");
    let told = again.read_until("! you are muted for ");
    assert!(
        told.last().unwrap().ends_with(": nobody sees what you say"),
        "{told:?}"
    );
    again.send("/nick mallory_is_back\n");
    let refused = again.expect_prefix("! you are muted for ");
    assert!(
        refused.ends_with("you cannot use /nick until then"),
        "{refused}"
    );
    // A second connection from the address, under another name.
    let mut second = server.join_from("127.0.0.2", "sockpuppet");
    second.send("buy cheap pills\n");
    second.expect_prefix("! you are muted for ");
    // The room heard none of it: no leave, no join, no line.
    carol.send("marker\n");
    alice.expect_line("> carol: marker");
    // And the history holds none of it either.
    let mut dave = server.connect_from("127.0.0.4");
    dave.read_banner();
    dave.send("dave#\n");
    dave.expect_prefix("* Welcome, dave! Online (5)");
    dave.expect_line("* Last message:");
    dave.expect_replayed("> carol: marker");
    let who = ctl_ok(&path, &["who"]);
    let muted: Vec<&str> = who.lines().filter(|l| l.contains("muted")).collect();
    assert_eq!(muted.len(), 2, "{who}");
    assert!(muted.iter().all(|l| l.contains("127.0.0.2:")), "{who}");
}

#[test]
fn mutes_survive_a_restart_and_a_damaged_file_stops_the_start() {
    let state = temp_dir();
    let extra = format!("state_dir = \"{}\"\n", state.display());
    {
        let (mut server, path) = with_control(&extra);
        assert_eq!(
            ctl_ok(&path, &["mute", "127.0.0.2", "7d", "spam"]),
            "127.0.0.2 is muted for 1w (0 connected)\n"
        );
        server.signal("TERM");
        server.wait_exit(TIMEOUT);
    }
    let text = std::fs::read_to_string(state.join("mutes")).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("127.0.0.2 since=") && l.ends_with("by=ctl reason=spam")),
        "{text}"
    );
    {
        let (server, path) = with_control(&extra);
        let list = ctl_ok(&path, &["mutes"]);
        assert!(list.starts_with("127.0.0.2 until="), "{list}");
        assert!(list.ends_with(" reason=spam\n"), "{list}");
        let mut mallory = server.join_from("127.0.0.2", "mallory");
        mallory.send("hello\n");
        mallory.expect_prefix("! you are muted for ");
    }
    std::fs::write(state.join("mutes"), "127.0.0.2 since=yesterday\n").unwrap();
    let mut broken = chatd().config(&extra).spawn();
    assert_eq!(broken.wait_exit(TIMEOUT).code(), Some(78));
    let log = broken.drain_log().join("\n");
    let expected = format!("{}:1: ", state.join("mutes").display());
    assert!(log.contains(&expected), "{log}");
}

#[test]
fn a_mute_ends_on_time_and_a_range_is_lifted_as_a_whole() {
    let (server, path) = with_control("");
    let mut mallory = server.join_from("127.0.0.2", "mallory");
    ctl_ok(&path, &["mute", "127.0.0.2", "2s"]);
    mallory.expect_line("! you are muted for 2s: nobody sees what you say");
    // The tick ends it within a second of its time, and says so.
    mallory.expect_line("* you are no longer muted");
    assert_eq!(ctl_ok(&path, &["mutes"]), "no mutes\n");
    assert_eq!(
        ctl_ok(&path, &["mute", "127.0.0.0/30"]),
        "127.0.0.0/30 is muted for good (1 connected)\n"
    );
    mallory.expect_line("! you are muted: nobody sees what you say");
    let narrow = ctl(&path, &["unmute", "mallory"]);
    assert_eq!(narrow.status.code(), Some(1), "{narrow:?}");
    assert_eq!(
        narrow.stderr,
        "mallory is muted by the mute on 127.0.0.0/30: unmute 127.0.0.0/30 instead\n"
    );
    assert_eq!(
        ctl_ok(&path, &["unmute", "127.0.0.0/30"]),
        "lifted the mute on 127.0.0.0/30\n"
    );
    mallory.expect_line("* you are no longer muted");
    let none = ctl(&path, &["unmute", "127.0.0.9"]);
    assert_eq!(none.stderr, "127.0.0.9 is not muted\n");
    // An address covered by a range: the range is what to lift, for bans too.
    ctl_ok(&path, &["mute", "10.0.0.0/8"]);
    let covered = ctl(&path, &["unmute", "10.1.2.3"]);
    assert_eq!(
        covered.stderr,
        "10.1.2.3 is muted by the mute on 10.0.0.0/8: unmute 10.0.0.0/8 instead\n"
    );
    ctl_ok(&path, &["ban", "10.0.0.0/8"]);
    let covered = ctl(&path, &["unban", "10.1.2.3"]);
    assert_eq!(
        covered.stderr,
        "no ban on 10.1.2.3 itself: the ban on 10.0.0.0/8 covers it (unban 10.0.0.0/8 instead)\n"
    );
}

/// Every route a user's own words take to others is closed while muted:
/// chat, `/me`, `/msg`, `/reply`, `/away`, `/nick`, making a room, a topic,
/// moves between rooms and a quit reason. What the muted user may still do
/// (join an existing room, go back to the lobby) happens unannounced.
#[test]
fn nothing_a_muted_user_chooses_reaches_anyone() {
    let (server, path) = with_control("");
    let mut alice = server.join("alice");
    let mut bob = server.join_from("127.0.0.2", "bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    bob.send("/join den\n");
    bob.expect_prefix("* You are now in #den, a new room");
    alice.expect_line("* bob left for #den (1 here, 2 online)");
    alice.send("/join den\n");
    alice.expect_line("* You are now in #den (2): alice, bob");
    bob.expect_line("* alice joined #den (2 here: alice, bob)");
    alice.send("/msg bob hi\n");
    alice.expect_line("-> bob: hi");
    bob.expect_line("\u{7}> alice (private): hi");
    ctl_ok(&path, &["mute", "bob", "10m"]);
    bob.expect_line("! you are muted for 10m: nobody sees what you say");
    let talk = "nobody sees what you say";
    for (line, refusal) in [
        ("hello", talk),
        ("/me waves", talk),
        ("/msg alice psst", talk),
        ("/reply psst", talk),
        ("/r psst", talk),
        ("/away buy pills", "you cannot use /away until then"),
        ("/nick pills_for_sale", "you cannot use /nick until then"),
        ("/topic buy pills", "you cannot set the topic until then"),
        ("/join pills_for_sale", "you cannot make a room until then"),
    ] {
        bob.send(&format!("{line}\n"));
        let told = bob.expect_prefix("! you are muted for ");
        assert!(told.ends_with(refusal), "{line}: {told}");
    }
    // Moving is allowed, unannounced.
    bob.send("/part\n");
    bob.expect_prefix("* You are back in the lobby");
    bob.send("/join den\n");
    bob.expect_line("* You are now in #den (2): alice, bob");
    bob.send("/quit pills at spam.example\n");
    bob.expect_line("* Bye, bob!");
    bob.read_to_close();
    // alice heard nothing of it: the next line she gets answers her own.
    alice.send("/sync\n");
    alice.expect_line("! unknown command \"/sync\", type /help for the list");
    let rooms = ctl_ok(&path, &["rooms"]);
    assert!(!rooms.contains("pills"), "{rooms}");
}

/// An operator in the room mutes by nickname, lists the mutes and lifts one,
/// with the same words as `chatd ctl` (as notices).
#[test]
fn operators_mute_list_and_unmute_in_the_room() {
    let (server, path) = with_control("");
    let mut alice = server.join("alice");
    let mut bob = server.join_from("127.0.0.2", "bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_prefix("* you are now an operator");
    alice.send("/mute bob 1h spam\n");
    alice.expect_line("* bob is muted for 1h (address 127.0.0.2, 1 connected)");
    bob.expect_line("! you are muted for 1h: nobody sees what you say");
    alice.send("/mutes\n");
    let listed = alice.expect_prefix("* 127.0.0.2 until=");
    assert!(
        listed.contains(" by=alice since=") && listed.ends_with(" reason=spam"),
        "{listed}"
    );
    alice.send("/unmute bob\n");
    alice.expect_line("* lifted the mute on 127.0.0.2 (bob)");
    bob.expect_line("* you are no longer muted");
    alice.send("/mutes\n");
    alice.expect_line("* no mutes");
    bob.send("/mutes\n");
    bob.expect_line("! only operators may use /mutes");
}
