//! Big rooms (issue 14, part 1): above `presence_summary_above` members, joins
//! and leaves come as one summary line per `presence_interval_secs`.

use crate::common::chatd;

#[test]
fn above_the_threshold_joins_and_leaves_are_summarized() {
    let server = chatd()
        .config("presence_summary_above = 2\npresence_interval_secs = 1")
        .start();
    // Two members: at the threshold, announced one by one, as always.
    let [mut alice, bob] = server.users(["alice", "bob"]);
    // A third: above it. carol's own welcome is complete.
    let mut carol = server.connect();
    carol.read_banner();
    carol.send("carol#\n");
    carol.expect_line("* Welcome, carol! Online (3): alice, bob, carol");
    // Then bob leaves, in a room of three.
    drop(bob);
    // alice gets no line per join or leave, only the summary, within about
    // a second of the first (the room's tick).
    alice.expect_line("* 1 joined, 1 left (2 online)");
    carol.expect_line("* 1 joined, 1 left (2 online)");
    // Back at the threshold: one by one again.
    let mut dave = server.connect();
    dave.read_banner();
    dave.send("dave#\n");
    dave.expect_prefix("* Welcome, dave! Online (3)");
    alice.expect_line("* 1 joined (3 online)");
    alice.send("/who\n");
    alice.expect_line("* Online (3): alice, carol, dave");
}

#[test]
fn zero_announces_every_join_and_leave() {
    let server = chatd().config("presence_summary_above = 0").start();
    let [mut alice, _bob, _carol, dave] = server.users(["alice", "bob", "carol", "dave"]);
    drop(dave);
    alice.expect_line("* dave left (connection closed; 3 online)");
}

#[test]
fn summaries_speak_chinese_too() {
    let server = chatd()
        .config("language = \"zh\"\npresence_summary_above = 1\npresence_interval_secs = 1")
        .start();
    let mut alice = server.connect();
    alice.read_raw_lines(3);
    alice.send("alice#\n");
    alice.expect_line("* alice 你好！当前在线（1人）：【 alice 】");
    let mut bob = server.connect();
    bob.read_raw_lines(3);
    bob.send("bob#\n");
    bob.expect_line("* bob 你好！当前在线（2人）：【 alice, bob 】");
    alice.expect_line("* 1人上线（当前2人在线）");
}
