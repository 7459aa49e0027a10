//! Moderation as people see it, over real sockets with the real binary and
//! `chatd ctl`: kicks, bans (IPv4, IPv6, ranges, timed), mutes, operators in
//! the room, a spammer's pasted lines stopping with them, and bans that
//! survive a restart.

use std::net::SocketAddr;
use std::time::Instant;

use crate::common::{Client, TIMEOUT, chatd, ctl, ctl_ok, temp_dir, with_control};

/// A client from `addr` that signs in as `nick`, past the welcome.
fn join_from(addr: SocketAddr, nick: &str) -> Client {
    let mut client = Client::connect(addr);
    client.read_banner();
    client.send(&format!("{nick}#\n"));
    client.expect_prefix(&format!("* Welcome, {nick}! Online ("));
    client
}

#[test]
fn ctl_kick_closes_the_user_and_tells_the_room() {
    let (server, path) = with_control("");
    let [mut alice, mut troll] = server.users(["alice", "troll"]);
    assert_eq!(ctl_ok(&path, &["kick", "troll", "spam"]), "kicked troll\n");
    troll.expect_line("! you were kicked: spam");
    troll.expect_closed();
    alice.expect_line("* troll was kicked (spam)");
    // Without a reason, the line ends after who did it.
    let mut bob = server.join("bob");
    alice.expect_prefix("* bob joined");
    assert_eq!(ctl_ok(&path, &["kick", "bob"]), "kicked bob\n");
    bob.expect_line("! you were kicked");
    bob.expect_closed();
    alice.expect_line("* bob was kicked");
    let nobody = ctl(&path, &["kick", "nobody"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert_eq!(nobody.stderr.trim_end(), "no such user \"nobody\"");
}

#[test]
fn a_banned_address_is_refused_on_reconnect_from_ipv4_and_ipv6() {
    let (mut server, path) = with_control("address = \"::\"\n");
    let port = server.addr.port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    server.addr = v4;
    let mut troll = join_from(v4, "troll");
    let out = ctl_ok(&path, &["ban", "troll", "12h", "spam"]);
    assert!(out.starts_with("banned 127.0.0.1 until 20"), "{out}");
    let told = troll.read_line();
    assert!(
        told.starts_with("! your address is banned until 20") && told.ends_with(": spam"),
        "{told}"
    );
    troll.expect_closed();
    let mut again = Client::connect(v4);
    let refused = again.read_line();
    assert!(
        refused.starts_with("! your address is banned until "),
        "{refused}"
    );
    again.expect_closed();
    // The ban is on the IPv4 address only.
    let _friend = join_from(v6, "friend");
    ctl_ok(&path, &["ban", "::1", "flood"]);
    let mut v6_again = Client::connect(v6);
    assert_eq!(
        v6_again.read_line(),
        "! your address is banned for good: flood"
    );
    let list = ctl_ok(&path, &["bans"]);
    assert!(
        list.contains("127.0.0.1 until=") && list.contains("::1 until=never"),
        "{list}"
    );
    server.wait_log("rejected [::1]:");
}

#[test]
fn a_timed_range_ban_expires() {
    let (server, path) = with_control("");
    let out = ctl_ok(&path, &["ban", "127.0.0.0/8", "2s", "cool off"]);
    assert!(out.starts_with("banned 127.0.0.0/8 until "), "{out}");
    let mut refused = server.connect();
    assert!(
        refused
            .read_line()
            .starts_with("! your address is banned until ")
    );
    // Poll (no fixed sleep) until the ban has run out.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut client = server.connect();
        let first = client.read_line();
        if first.starts_with("> Welcome to ") {
            break;
        }
        assert!(Instant::now() < deadline, "still banned: {first}");
    }
    assert_eq!(ctl_ok(&path, &["bans"]), "no bans\n");
}

#[test]
fn bad_requests_get_one_line_and_exit_1() {
    let (_server, path) = with_control("");
    for (args, reason) in [
        (&["frobnicate"][..], "unknown command \"frobnicate\""),
        (&["ban", "10.0.0.1/33"][..], "prefix"),
        (&["ban", "10.0.0.1", "12x"][..], "bad duration \"12x\""),
        (&["mute", "nobody", "5m"][..], "no such user \"nobody\""),
        (&["unban", "10.9.9.9"][..], "no ban on 10.9.9.9"),
    ] {
        let done = ctl(&path, args);
        assert_eq!(done.status.code(), Some(1), "{args:?}: {done:?}");
        assert!(done.stderr.contains(reason), "{args:?}: {:?}", done.stderr);
        assert_eq!(
            done.stderr.lines().count(),
            1,
            "{args:?}: {:?}",
            done.stderr
        );
    }
}

#[test]
fn operators_moderate_in_the_room_and_others_may_not() {
    let (server, path) = with_control("");
    let mut alice = server.join("alice");
    // From an address of its own: a mute on alice's would silence her too.
    let mut bob = server.join_from("127.0.0.2", "bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    bob.send("/kick alice\n");
    bob.expect_line("! only operators may use /kick");
    ctl_ok(&path, &["op", "alice"]);
    alice.expect_line("* you are now an operator: /help lists your commands");
    alice.send("/ban alice\n");
    alice.expect_line("! you cannot do that to yourself");
    alice.send("/mute bob 10m\n");
    bob.expect_line("! you are muted for 10m: nobody sees what you say");
    alice.expect_line("* bob is muted for 10m (address 127.0.0.2, 1 connected)");
    bob.send("/msg alice psst\n");
    bob.expect_prefix("! you are muted for ");
    // An away message is text the room would see: muted, it is not said.
    bob.send("/away buy cheap pills\n");
    bob.expect_prefix("! you are muted for ");
    // Nor is anything else that carries bob's words.
    bob.send("/reply psst\n");
    bob.expect_prefix("! you are muted for ");
    alice.send("/kick bob enough\n");
    bob.expect_line("! you were kicked by alice: enough");
    bob.expect_closed();
    alice.expect_line("* bob was kicked by alice (enough)");
    let who = ctl_ok(&path, &["who"]);
    assert!(who.lines().nth(1).unwrap().contains(" op"), "{who}");
}

/// A spammer's pasted lines, held back by flood control, stop with the kick.
#[test]
fn a_kicked_spammers_paste_stops_with_them() {
    let (server, path) = with_control("flood_burst = 3\nflood_lines_per_sec = 2\n");
    let [mut alice, mut spammer] = server.users(["alice", "spammer"]);
    let paste: String = (0..60).map(|i| format!("spam {i}\n")).collect();
    spammer.send(&paste);
    alice.expect_line("> spammer: spam 0");
    ctl_ok(&path, &["kick", "spammer"]);
    let heard = alice.read_until("* spammer was kicked");
    assert!(heard.len() < 10, "{heard:?}");
    alice.send("/who\n");
    alice.expect_line("* Online (1): alice");
}

#[test]
fn bans_survive_a_restart_and_a_damaged_file_stops_the_start() {
    let state = temp_dir();
    let extra = format!("state_dir = \"{}\"\n", state.display());
    {
        let (mut server, path) = with_control(&extra);
        ctl_ok(&path, &["ban", "203.0.113.0/24", "7d", "spam"]);
        server.signal("TERM");
        server.wait_exit(TIMEOUT);
    }
    let text = std::fs::read_to_string(state.join("bans")).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("203.0.113.0/24 since=") && l.ends_with("by=ctl reason=spam")),
        "{text}"
    );
    let (_server, path) = with_control(&extra);
    assert!(ctl_ok(&path, &["bans"]).starts_with("203.0.113.0/24 until="));
    drop(_server);
    std::fs::write(state.join("bans"), "203.0.113.0/24 since=yesterday\n").unwrap();
    let mut broken = chatd().config(&extra).spawn();
    let status = broken.wait_exit(TIMEOUT);
    assert_eq!(status.code(), Some(78));
    let log = broken.drain_log().join("\n");
    assert!(log.contains("bans:1:"), "{log}");
}

#[test]
fn the_motd_follows_the_welcome_and_is_read_again_on_reload() {
    let motd = crate::common::write_temp_file("motd", "Be kind.\nNo \x1b[2Jescapes.\n");
    let (server, path) = with_control(&format!("motd_file = \"{}\"\n", motd.display()));
    let mut alice = server.connect();
    alice.read_banner();
    alice.send("alice#\n");
    alice.expect_prefix("* Welcome, alice! Online (1)");
    alice.expect_line("Be kind.");
    alice.expect_line("No escapes.");
    std::fs::write(&motd, "New rules.\n").unwrap();
    assert_eq!(ctl_ok(&path, &["reload"]), "config reloaded\n");
    let mut bob = server.connect();
    bob.read_banner();
    bob.send("bob#\n");
    bob.expect_prefix("* Welcome, bob! Online (2)");
    bob.expect_line("New rules.");
    // A MOTD that cannot be read refuses the reload and keeps the old one.
    std::fs::remove_file(&motd).unwrap();
    let refused = ctl(&path, &["reload"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stderr.contains("motd_file"), "{refused:?}");
}

#[test]
fn a_missing_motd_stops_the_start() {
    let mut server = chatd()
        .config("motd_file = \"/nonexistent/motd\"\n")
        .spawn();
    assert_eq!(server.wait_exit(TIMEOUT).code(), Some(78));
    let log = server.drain_log().join("\n");
    assert!(
        log.contains("motd_file /nonexistent/motd: cannot read"),
        "{log}"
    );
}

#[test]
fn say_and_purge_over_ctl_reach_the_room() {
    let (server, path) = with_control("");
    let [mut alice, mut spammer] = server.users(["alice", "spammer"]);
    spammer.send("buy now\n");
    alice.expect_line("> spammer: buy now");
    alice.send("hello\n");
    spammer.expect_line("> alice: hello");
    assert_eq!(ctl_ok(&path, &["say", "be", "nice"]), "");
    alice.expect_line("* [server] be nice");
    assert_eq!(
        ctl_ok(&path, &["purge", "spammer"]),
        "removed 1 line by spammer from the history\n"
    );
    let mut carol = server.connect();
    carol.read_banner();
    carol.send("carol#\n");
    carol.expect_prefix("* Welcome, carol! Online (3)");
    carol.expect_line("* Last message:");
    carol.expect_replayed("> alice: hello");
}
