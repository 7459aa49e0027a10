//! What members see their own way in rooms: `/ignore`, `/timestamps`, the
//! Chinese texts, and presence summaries in a big room.

use super::{all_read, expect_quiet, make_room, says, sign_in, two_go_to_a};
use crate::common::{Client, Server, chatd, room};

#[test]
fn ignore_and_timestamps_hold_in_rooms() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    says(
        &mut alice,
        "/ignore bob",
        &["* ignoring bob (they are not told)"],
    );
    two_go_to_a(("bob", &mut bob), ("alice", &mut alice), &mut [&mut carol]);
    says(
        &mut carol,
        "/join a",
        &["* You are now in #a (3): alice, bob, carol"],
    );
    all_read(
        &mut [&mut alice, &mut bob],
        "* carol joined #a (3 here: alice, bob, carol)",
    );
    carol.send("/timestamps on\n");
    carol.expect_replayed("* timestamps on");
    bob.send("from bob\n/me waves\n");
    carol.expect_replayed("> bob: from bob");
    carol.expect_replayed("* bob waves");
    alice.send("from alice\n");
    bob.expect_line("> alice: from alice");
    carol.expect_replayed("> alice: from alice");
    expect_quiet(&mut alice);
}

/// With `/timestamps on`, a move's replay carries the time each line was
/// said, once (its header as the sign-in's has it, unstamped).
#[test]
fn a_replay_after_a_move_is_stamped_once_with_timestamps_on() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("/timestamps on\n");
    alice.expect_replayed("* timestamps on");
    make_room(&mut bob, "a");
    alice.expect_replayed("* bob left for #a (1 here, 2 online)");
    bob.send("hello from a\n");
    expect_quiet(&mut bob);
    alice.send("/join a\n");
    alice.expect_replayed("* You are now in #a (2): alice, bob");
    alice.expect_line("* Last message:");
    alice.expect_replayed("> bob: hello from a");
}

/// The history a move replays leaves out the lines of those you ignore, as
/// their live lines are.
#[test]
fn a_replay_after_a_move_leaves_out_those_you_ignore() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    says(
        &mut alice,
        "/ignore bob",
        &["* ignoring bob (they are not told)"],
    );
    make_room(&mut bob, "a");
    alice.expect_line("* bob left for #a (1 here, 2 online)");
    bob.send("hello from a\n/me waves\n");
    expect_quiet(&mut bob);
    says(
        &mut alice,
        "/join a",
        &["* You are now in #a (2): alice, bob"],
    );
    expect_quiet(&mut alice);
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
        "* bob 去了 #茶馆（大厅2人，共3人在线）",
    );
    says(
        &mut alice,
        "/join #茶馆",
        &["* 你已进入 #茶馆（2人）：【 alice, bob 】"],
    );
    bob.expect_line("* alice 进入了 #茶馆（本房间2人）");
    bob.expect_line("* 本房间：【 alice, bob 】");
    carol.expect_line("* alice 去了 #茶馆（大厅1人，共3人在线）");
    says(&mut alice, "/join 茶馆", &["! 你已经在 #茶馆 了"]);
    says(&mut carol, "/part", &["! 你已经在大厅了"]);
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
    alice.expect_line("* bob 下线了（退出，#茶馆还有1人）");
    says(
        &mut alice,
        "/part",
        &["* 你已回到大厅（2人）：【 alice, carol 】"],
    );
    carol.expect_line("* alice 从 #茶馆 回到大厅（当前2人在线）");
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
    b.expect_line("* a left for #r (1 here, 2 online)");
    says(&mut b, "/join r", &["* You are now in #r (2): a, b"]);
    a.expect_line("* b joined #r (2 here: a, b)");
    // Above two members, joins are counted, not announced.
    const HINT: &str = "* 1 more room: /rooms lists it, /join NAME goes there";
    let mut c = sign_in(
        &server,
        "c",
        "* Welcome, c! In the lobby (1 of 3 online): c",
    );
    c.expect_line(HINT);
    says(&mut c, "/join r", &["* You are now in #r (3): a, b, c"]);
    let mut d = sign_in(
        &server,
        "d",
        "* Welcome, d! In the lobby (1 of 4 online): d",
    );
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
    d.expect_line("* b came back from #r (2 here, 3 online: b, d)");
}
