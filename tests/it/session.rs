//! The session protocol end to end, against the real binary over real TCP: the
//! banner, registration, joining, chatting, every command, leaving, history, line
//! endings, and real `nc` and `telnet` clients.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ChildGuard, Client, Server, TIMEOUT, chatd, room, spawn_line_reader};

const PROMPT: &str = "> Please type your nickname followed by '#' and press Enter";

// ---- banner ----

#[test]
fn banner_is_exact() {
    let server = chatd().start();
    let mut client = server.connect();
    let banner = client.read_raw_lines(3);
    assert_eq!(
        String::from_utf8(banner).unwrap(),
        "> Welcome to chatd\r\n> 0 online now\r\n> Please type your nickname followed by '#' and press Enter\r\n"
    );
}

#[test]
fn banner_in_chinese_uses_tutorial_wording() {
    let server = chatd().config("language = \"zh\"").start();
    let mut client = server.connect();
    let banner = client.read_raw_lines(3);
    assert_eq!(
        String::from_utf8(banner).unwrap(),
        "> 欢迎来到 chatd\r\n> 当前有0人在线\r\n> 请输入您的昵称 + '#'，按回车键结束\r\n"
    );
}

#[test]
fn banner_counts_registered_users_only() {
    let server = chatd().start();
    let mut unregistered = server.connect();
    unregistered.read_banner();
    let _alice = server.join("alice");
    let mut client = server.connect();
    client.expect_line("> Welcome to chatd");
    client.expect_line("> 1 online now");
}

// ---- registration ----

#[test]
fn nick_with_hash_registers() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send("bob#\n");
    client.expect_line("* Welcome, bob! Online (1): bob");
}

#[test]
fn plain_line_without_hash_registers() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send("bob\n");
    client.expect_line("* Welcome, bob! Online (1): bob");
}

#[test]
fn nick_is_trimmed_text_before_first_hash() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send("  bob  #rest#more\n");
    client.expect_line("* Welcome, bob! Online (1): bob");
}

#[test]
fn chinese_nickname_works_and_is_broadcast() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    let mut xiaoming = server.connect();
    xiaoming.read_banner();
    xiaoming.send("小明#\n");
    xiaoming.expect_line("* Welcome, 小明! Online (2): alice, 小明");
    alice.expect_line("* 小明 joined (2 online: alice, 小明)");
    xiaoming.send("大家好\n");
    alice.expect_line("> 小明: 大家好");
}

#[test]
fn empty_lines_before_nick_are_ignored() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send("\n\r\n   \n\t\nbob#\n");
    client.expect_line("* Welcome, bob! Online (1): bob");
}

#[test]
fn rejected_nicks_get_reason_then_prompt() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    let cases: [(&[u8], &str); 4] = [
        (
            b"abcdefghijklmnopqrstuvwxy#\n", // 25 characters
            "! nickname is too long (max 24 characters)",
        ),
        (b"bo b#\n", "! nickname may not contain spaces"),
        (b"/bob#\n", "! nickname may not start with '/'"),
        (
            b"bo\x01b#\n",
            "! nickname may not contain control characters",
        ),
    ];
    for (line, reason) in cases {
        client.send_bytes(line);
        client.expect_line(reason);
        client.expect_line(PROMPT);
    }
    // After all that the connection still registers normally.
    client.send("bob#\n");
    client.expect_line("* Welcome, bob! Online (1): bob");
}

#[test]
fn nick_of_max_chars_is_accepted() {
    let server = chatd().config("max_nick_chars = 4").start();
    let mut client = server.connect();
    client.read_banner();
    client.send("小明小明#\n");
    client.expect_line("* Welcome, 小明小明! Online (1): 小明小明");
}

#[test]
fn taken_nick_is_rejected_case_insensitively() {
    let server = chatd().start();
    let _bob = server.join("Bob");
    let mut client = server.connect();
    client.read_banner();
    client.send("bob#\n");
    client.expect_line("! nickname \"bob\" is taken, try another");
    client.expect_line(PROMPT);
    client.send("bobby#\n");
    client.expect_line("* Welcome, bobby! Online (2): Bob, bobby");
}

// ---- joining ----

#[test]
fn join_is_announced_with_list() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    let mut bob = server.connect();
    bob.read_banner();
    bob.send("bob#\n");
    bob.expect_line("* Welcome, bob! Online (2): alice, bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
}

#[test]
fn join_lines_drop_the_list_above_twenty() {
    let server = chatd().start();
    let mut clients = server.join_many("u", 21);
    let first = &mut clients[0];
    let lines = first.read_until("u19 joined");
    let names: Vec<String> = (0..20).map(|i| format!("u{i:02}")).collect();
    assert_eq!(
        lines.last().unwrap(),
        &format!("* u19 joined (20 online: {})", names.join(", "))
    );
    first.expect_line("* u20 joined (21 online)");
}

#[test]
fn welcome_list_over_fifty_names_is_cut() {
    let server = chatd().config("max_clients_per_ip = 100").start();
    let _others = server.join_many("n", 51);
    let mut last = server.connect();
    last.read_banner();
    last.send("n51#\n");
    let names: Vec<String> = (0..50).map(|i| format!("n{i:02}")).collect();
    last.expect_line(&format!(
        "* Welcome, n51! Online (52): {} … and 2 more",
        names.join(", ")
    ));
}

// ---- chatting ----

#[test]
fn chat_reaches_others_and_is_not_echoed() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("hello\n");
    bob.expect_line("> alice: hello");
    // The next thing alice reads is her /who answer, not her own line.
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, bob");
}

#[test]
fn hash_after_registration_is_ordinary_text() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("a#b\n#\n");
    bob.expect_line("> alice: a#b");
    bob.expect_line("> alice: #");
}

#[test]
fn colors_paint_nicks_yellow() {
    let server = chatd().config("colors = true").start();
    let mut alice = server.connect();
    alice.expect_line("> Welcome to \x1b[92mchatd\x1b[39m");
    alice.expect_line("> 0 online now");
    alice.expect_line(PROMPT);
    alice.send("alice#\n");
    alice.expect_line("* Welcome, \x1b[33malice\x1b[39m! Online (1): alice");
    let mut bob = server.connect();
    bob.read_raw_lines(3);
    bob.send("bob#\n");
    bob.expect_line("* Welcome, \x1b[33mbob\x1b[39m! Online (2): alice, bob");
    alice.expect_line("* \x1b[33mbob\x1b[39m joined (2 online: alice, bob)");
    bob.send("hi\n");
    alice.expect_line("> \x1b[33mbob\x1b[39m: hi");
}

#[test]
fn unregistered_connections_get_no_chat() {
    let (server, [mut alice, mut bob]) = room(["alice", "bob"]);
    let mut lurker = server.connect();
    lurker.read_banner();
    alice.send("secret\n");
    bob.expect_line("> alice: secret");
    // The room handled alice's line before this one; had the lurker been sent the
    // chat line, it would come before the answer to this invalid nickname.
    lurker.send("/x\n");
    lurker.expect_line("! nickname may not start with '/'");
    lurker.expect_line(PROMPT);
}

// ---- commands ----

#[test]
fn help_lists_every_command() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    alice.send("/help\n");
    let lines = alice.read_until("//text");
    assert_eq!(lines[0], "* Commands:");
    let help = lines.join("\n");
    for command in ["/help", "/who", "/nick", "/me", "/msg", "/quit", "//text"] {
        assert!(help.contains(command), "{command} missing from {help}");
    }
    // Other names of a command are listed with it.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("*   /reply TEXT ") && l.ends_with(" (also /r)")),
        "{help}"
    );
    // Nothing follows the help but the next answer.
    alice.send("/who\n");
    alice.expect_line("* Online (1): alice");
}

#[test]
fn who_lists_everyone_sorted() {
    let (_server, [_zed, _alice, mut bob]) = room(["zed", "Alice", "bob"]);
    bob.send("/who\n");
    bob.expect_line("* Online (3): Alice, bob, zed");
}

#[test]
fn commands_are_case_insensitive() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    alice.send("/WHO\n");
    alice.expect_line("* Online (1): alice");
}

#[test]
fn nick_rename_is_broadcast_to_everyone() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/nick rob\n");
    bob.expect_line("* bob is now known as rob");
    alice.expect_line("* bob is now known as rob");
    bob.send("hi\n");
    alice.expect_line("> rob: hi");
    // The old name is free again, the new one taken.
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, rob");
}

#[test]
fn nick_rename_to_taken_name_is_refused() {
    let (_server, [_alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/nick ALICE\n");
    bob.expect_line("! nickname \"ALICE\" is taken, try another");
    bob.send("/who\n");
    bob.expect_line("* Online (2): alice, bob");
}

#[test]
fn nick_rename_to_invalid_name_is_refused() {
    let server = chatd().start();
    let mut bob = server.join("bob");
    bob.send("/nick /rob\n");
    bob.expect_line("! nickname may not start with '/'");
    bob.send("/nick r#b\n");
    bob.expect_line("! nickname may not contain '#'");
    bob.send("/nick abcdefghijklmnopqrstuvwxy\n");
    bob.expect_line("! nickname is too long (max 24 characters)");
    bob.send("/who\n");
    bob.expect_line("* Online (1): bob");
}

#[test]
fn nick_case_change_of_own_name_is_allowed() {
    let server = chatd().start();
    let mut bob = server.join("bob");
    bob.send("/nick BOB\n");
    bob.expect_line("* bob is now known as BOB");
}

#[test]
fn nick_without_argument_gets_usage() {
    let server = chatd().start();
    let mut bob = server.join("bob");
    bob.send("/nick\n");
    bob.expect_line("! usage: /nick NEW");
    bob.send("/nick   \n");
    bob.expect_line("! usage: /nick NEW");
}

#[test]
fn me_is_an_action_for_others() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("/me waves\n");
    bob.expect_line("* alice waves");
    alice.send("/who\n");
    alice.expect_line("* Online (2): alice, bob");
}

#[test]
fn msg_goes_only_to_its_target() {
    let (_server, [mut alice, mut bob, mut carol]) = room(["alice", "bob", "carol"]);
    alice.send("/msg bob hi there\n");
    bob.expect_line("\u{7}> alice (private): hi there");
    alice.expect_line("-> bob: hi there");
    // Carol's next line is the public one: the private one never reached her.
    alice.send("public\n");
    carol.expect_line("> alice: public");
}

#[test]
fn msg_target_is_case_insensitive() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("/msg BOB hey\n");
    bob.expect_line("\u{7}> alice (private): hey");
    alice.expect_line("-> bob: hey");
}

#[test]
fn msg_to_unknown_user_is_refused() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    alice.send("/msg zed hi\n");
    alice.expect_line("! no such user \"zed\"");
}

#[test]
fn quit_with_reason() {
    let mut server = chatd().start();
    let [mut alice, mut bob] = server.users(["alice", "bob"]);
    bob.send("/quit gotta go\n");
    bob.expect_line("* Bye, bob!");
    bob.expect_closed();
    alice.expect_line("* bob left (quit: gotta go; 1 online)");
    // What bob typed is message text: logged at debug only (docs/security.md).
    let logged = server.wait_log("left \"bob\" from 127.0.0.1:");
    assert!(logged.ends_with(": quit (1 online)"), "{logged}");
    assert!(
        server.log_so_far().iter().all(|l| !l.contains("gotta go")),
        "{:?}",
        server.log_lines
    );
}

#[test]
fn quit_reason_is_logged_at_debug() {
    let mut server = chatd().config("log_level = \"debug\"").start();
    let [_alice, mut bob] = server.users(["alice", "bob"]);
    bob.send("/quit gotta go\n");
    let logged = server.wait_log("\"bob\" left saying: gotta go");
    assert!(logged.contains(" DEBUG "), "{logged}");
}

#[test]
fn quit_without_reason() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    bob.send("/quit\n");
    bob.expect_line("* Bye, bob!");
    bob.expect_closed();
    alice.expect_line("* bob left (quit; 1 online)");
}

#[test]
fn double_slash_sends_slash_text() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("//shrug\n");
    bob.expect_line("> alice: /shrug");
}

#[test]
fn unknown_command_points_to_help() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    alice.send("/foo bar\n");
    alice.expect_line("! unknown command \"/foo\", type /help for the list");
}

// ---- leaving ----

#[test]
fn leave_on_eof_is_announced() {
    let mut server = chatd().start();
    let [mut alice, bob] = server.users(["alice", "bob"]);
    bob.shutdown_write();
    alice.expect_line("* bob left (connection closed; 1 online)");
    let logged = server.wait_log("left \"bob\"");
    assert!(
        logged.ends_with(": connection closed (1 online)"),
        "{logged}"
    );
}

#[test]
fn leave_on_reset_is_announced() {
    let (_server, [mut alice, bob]) = room(["alice", "bob"]);
    alice.send("unread\n");
    // Wait until alice's line sits unread in bob's socket: closing a socket with
    // unread data makes the kernel send a reset instead of a FIN.
    let mut byte = [0u8; 1];
    assert_eq!(bob.stream.peek(&mut byte).expect("peek"), 1);
    drop(bob);
    alice.expect_line("* bob left (connection error; 1 online)");
}

// ---- history ----

/// Alice says m1..m`count`; her /who answer proves the room has handled them.
fn say_numbered(alice: &mut Client, count: usize) {
    let lines: String = (1..=count).map(|i| format!("m{i}\n")).collect();
    alice.send(&format!("{lines}/who\n"));
    alice.expect_prefix("* Online (");
}

#[test]
fn history_is_replayed_to_new_users() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    say_numbered(&mut alice, 3);
    let mut carol = server.join("carol");
    carol.expect_line("* Last 3 messages:");
    carol.expect_replayed("> alice: m1");
    carol.expect_replayed("> alice: m2");
    carol.expect_replayed("> alice: m3");
}

#[test]
fn history_keeps_only_the_configured_count() {
    let server = chatd().config("history = 2").start();
    let mut alice = server.join("alice");
    say_numbered(&mut alice, 3);
    let mut carol = server.join("carol");
    carol.expect_line("* Last 2 messages:");
    carol.expect_replayed("> alice: m2");
    carol.expect_replayed("> alice: m3");
    carol.send("/who\n");
    carol.expect_line("* Online (2): alice, carol");
}

#[test]
fn history_zero_replays_nothing() {
    let server = chatd().config("history = 0").start();
    let mut alice = server.join("alice");
    say_numbered(&mut alice, 3);
    let mut carol = server.join("carol");
    carol.send("/who\n");
    carol.expect_line("* Online (2): alice, carol");
}

// ---- line endings and framing ----

#[test]
fn crlf_lf_and_telnet_cr_nul_end_lines() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send_bytes(b"crlf\r\nlf\ntelnet\r\0next\n");
    bob.expect_line("> alice: crlf");
    bob.expect_line("> alice: lf");
    bob.expect_line("> alice: telnet");
    bob.expect_line("> alice: next");
}

#[test]
fn last_line_without_newline_is_delivered_at_eof() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("bye for now");
    alice.shutdown_write();
    bob.expect_line("> alice: bye for now");
    bob.expect_line("* alice left (connection closed; 1 online)");
}

#[test]
fn line_split_across_writes_is_one_message() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.stream.set_nodelay(true).unwrap();
    for piece in ["he", "l", "lo w", "or", "ld", "\r", "\n"] {
        alice.send(piece);
        alice.stream.flush().unwrap();
    }
    bob.expect_line("> alice: hello world");
}

#[test]
fn two_lines_in_one_write_are_two_messages() {
    let (_server, [mut alice, mut bob]) = room(["alice", "bob"]);
    alice.send("one\ntwo\n");
    bob.expect_line("> alice: one");
    bob.expect_line("> alice: two");
}

// ---- real clients ----

/// Starts `program args…` with piped stdin and stdout.
fn spawn_client(program: &str, args: &[String]) -> ChildGuard {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    ChildGuard(child)
}

/// Registers `nick` through an external client and checks both directions.
fn chat_through(program: &str, args: &[String], server: &Server, nick: &str) {
    let mut alice = server.join("alice");
    let mut guard = spawn_client(program, args);
    let stdout = spawn_line_reader(guard.0.stdout.take().unwrap());
    let mut stdin = guard.0.stdin.take().unwrap();
    stdin
        .write_all(format!("{nick}#\nhello from {program}\n").as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    alice.expect_line(&format!("* {nick} joined (2 online: alice, {nick})"));
    alice.expect_line(&format!("> {nick}: hello from {program}"));
    alice.send("hello back\n");
    // The tool prints what it receives; its line endings are its own business.
    let welcome = format!("* Welcome, {nick}! Online (2): alice, {nick}");
    let mut seen = Vec::new();
    loop {
        let line = stdout
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("{program} printed only {seen:?}"));
        let line = line.trim_end_matches('\r').to_owned();
        let done = line == "> alice: hello back";
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(seen.contains(&welcome), "{seen:?}");
    drop(stdin);
}

#[test]
#[cfg_attr(not(has_nc), ignore = "nc is not installed")]
fn nc_client_chats() {
    crate::common::require("nc");
    let server = chatd().start();
    let port = server.addr.port().to_string();
    chat_through("nc", &["127.0.0.1".into(), port], &server, "ncuser");
}

#[test]
#[cfg_attr(not(has_telnet), ignore = "telnet is not installed")]
fn telnet_client_chats() {
    crate::common::require("telnet");
    let server = chatd().start();
    let port = server.addr.port().to_string();
    chat_through("telnet", &["127.0.0.1".into(), port], &server, "tuser");
}

/// How the server ends a conversation, for the tests below.
#[derive(Clone, Copy)]
enum Ending {
    Quit,
    Shutdown,
}

/// `program` (nc or ncat), with its stdin held open as a user at a terminal
/// would, prints the last line when the server ends the conversation, and exits:
/// by itself (`nc`, reset once it holds its side open), or at the next Enter
/// (`ncat` closes its socket at the server's FIN but goes on reading its input
/// until then; docs/protocol.md says so).
fn exits_when_the_server_is_done(program: &str, ending: Ending, at_enter: bool) {
    let mut server = chatd().config("shutdown_grace_secs = 0").start();
    let port = server.addr.port().to_string();
    let mut guard = spawn_client(program, &["127.0.0.1".into(), port]);
    let stdout = spawn_line_reader(guard.0.stdout.take().unwrap());
    let mut stdin = guard.0.stdin.take().unwrap();
    stdin.write_all(b"bob#\n").unwrap();
    let last = match ending {
        Ending::Quit => {
            stdin.write_all(b"/quit\n").unwrap();
            "* Bye, bob!"
        }
        Ending::Shutdown => {
            server.wait_log("registered \"bob\"");
            server.signal("TERM");
            "* server shutting down now, goodbye"
        }
    };
    stdin.flush().unwrap();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == last) {
        match stdout.recv_timeout(TIMEOUT) {
            Ok(line) => seen.push(line.trim_end_matches('\r').to_owned()),
            Err(_) => panic!("{program} printed only {seen:?}"),
        }
    }
    let deadline = Instant::now() + TIMEOUT;
    while guard.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "{program} still running {TIMEOUT:?} after {last:?}, stdin open"
        );
        if at_enter {
            // The user presses Enter (again, if the first came before ncat saw
            // the close); the write fails on the closed socket and ncat exits.
            // Once it has, writing to its stdin fails too.
            let _ = stdin.write_all(b"\n").and_then(|()| stdin.flush());
        }
        std::thread::sleep(Duration::from_millis(50)); // polling, not synchronizing
    }
    drop(stdin);
}

#[test]
#[cfg_attr(not(has_nc), ignore = "nc is not installed")]
fn nc_exits_after_quit() {
    crate::common::require("nc");
    exits_when_the_server_is_done("nc", Ending::Quit, false);
}

#[test]
#[cfg_attr(not(has_nc), ignore = "nc is not installed")]
fn nc_exits_after_shutdown() {
    crate::common::require("nc");
    exits_when_the_server_is_done("nc", Ending::Shutdown, false);
}

#[test]
#[cfg_attr(not(has_nc), ignore = "nc is not installed")]
fn nc_turned_away_exits_by_itself() {
    crate::common::require("nc");
    let server = chatd().config("max_clients_per_ip = 1").start();
    let _alice = server.join("alice");
    let port = server.addr.port().to_string();
    let mut guard = spawn_client("nc", &["127.0.0.1".into(), port]);
    let stdout = spawn_line_reader(guard.0.stdout.take().unwrap());
    let _stdin = guard.0.stdin.take().unwrap(); // held open, as at a terminal
    let line = stdout.recv_timeout(TIMEOUT).expect("the reason");
    assert_eq!(line, "! too many connections from your address");
    let deadline = Instant::now() + TIMEOUT;
    while guard.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "nc still running after the reason"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    }
}

#[test]
#[cfg_attr(not(has_ncat), ignore = "ncat is not installed")]
fn ncat_exits_at_enter_after_quit() {
    crate::common::require("ncat");
    exits_when_the_server_is_done("ncat", Ending::Quit, true);
}

#[test]
#[cfg_attr(not(has_ncat), ignore = "ncat is not installed")]
fn ncat_exits_at_enter_after_shutdown() {
    crate::common::require("ncat");
    exits_when_the_server_is_done("ncat", Ending::Shutdown, true);
}

#[test]
fn quit_at_the_nickname_prompt_leaves() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send("/quit\n");
    client.expect_line("* Bye!");
    assert!(client.read_to_close().is_empty());
}

#[test]
fn chinese_join_line_lists_names_like_the_welcome() {
    let server = chatd().config("language = \"zh\"").start();
    let mut alice = server.connect();
    alice.read_raw_lines(3);
    alice.send("alice#\n");
    alice.expect_line("* alice 你好！当前在线（1人）：【 alice 】");
    let mut xiaohong = server.connect();
    xiaohong.read_raw_lines(3);
    xiaohong.send("小红#\n");
    xiaohong.expect_line("* 小红 你好！当前在线（2人）：【 alice, 小红 】");
    alice.expect_line("* 小红 上线了（当前2人在线）");
    alice.expect_line("* 当前在线：【 alice, 小红 】");
}

#[test]
fn sign_in_first_before_commands_that_need_a_nickname() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send("/who\n");
    client.expect_line("! sign in first to use /who");
    client.expect_line(PROMPT);
    client.send("/nick bob\n");
    client.expect_line("* Welcome, bob! Online (1): bob");
}

#[test]
fn help_for_operators_keeps_its_columns() {
    let (_server, path) = crate::common::with_control("");
    let mut alice = _server.join("alice");
    crate::common::ctl_ok(&path, &["op", "alice"]);
    alice.expect_prefix("* you are now an operator");
    alice.send("/help\n");
    let lines = alice.read_until("//text");
    // Each description starts after the longest usage and one space; every
    // usage here is ASCII, so columns are bytes.
    let column = "*   /mute TARGET [DURATION] [REASON] ".len();
    for line in &lines[1..] {
        let (usage, help) = line.split_at(column);
        assert!(usage.ends_with(' '), "{line:?}");
        assert!(!help.starts_with(' '), "{line:?}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("*   /ban TARGET [DURATION] [REASON]  "))
    );
}
