//! `/rooms`, `/who [*]` and `/topic` in a world of rooms.

use super::{all_read, expect_quiet, make_room, says, two_go_to_a};
use crate::common::{ctl_ok, room, with_control};

#[test]
fn rooms_lists_the_lobby_first_then_the_biggest_with_topics() {
    let (_server, [mut alice, mut bob, mut carol, mut dave, mut erin]) =
        room(["alice", "bob", "carol", "dave", "erin"]);
    make_room(&mut bob, "small");
    all_read(
        &mut [&mut alice, &mut carol, &mut dave, &mut erin],
        "* bob left for #small (4 here, 5 online)",
    );
    make_room(&mut carol, "big");
    all_read(
        &mut [&mut alice, &mut dave, &mut erin],
        "* carol left for #big (3 here, 5 online)",
    );
    says(
        &mut dave,
        "/join big",
        &["* You are now in #big (2): carol, dave"],
    );
    carol.expect_line("* dave joined #big (2 here: carol, dave)");
    all_read(
        &mut [&mut alice, &mut erin],
        "* dave left for #big (2 here, 5 online)",
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
    alice.expect_line("* erin left for #small (1 here, 5 online)");
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
        "* bob left for #rust (3 here, 4 online)",
    );
    says(
        &mut carol,
        "/join rust",
        &["* You are now in #rust (2): bob, carol"],
    );
    bob.expect_line("* carol joined #rust (2 here: bob, carol)");
    all_read(
        &mut [&mut alice, &mut dave],
        "* carol left for #rust (2 here, 4 online)",
    );
    // Away is told to your room only.
    says(&mut carol, "/away reading", &["* carol is away: reading"]);
    bob.expect_line("* carol is away: reading");
    says(&mut dave, "/away", &["* dave is away: away"]);
    alice.expect_line("* dave is away: away");
    says(&mut carol, "/who", &["* In #rust (2): bob, carol (away)"]);
    says(
        &mut alice,
        "/who",
        &["* In the lobby (2 of 4 online): alice, dave (away)"],
    );
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
    two_go_to_a(("bob", &mut bob), ("carol", &mut carol), &mut [&mut alice]);
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
    alice.expect_line("* bob came back from #a (2 here, 3 online: alice, bob)");
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
    alice.expect_line("* bob left for #a (1 here, 3 online)");
    expect_quiet(&mut alice);
}
