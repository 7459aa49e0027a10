//! `chat` in a real terminal: tmux runs it in a pane, the test presses keys
//! with `send-keys` and reads the screen with `capture-pane`.
//!
//! Each test has its own tmux server (its own socket, no user config) and one
//! session, `chat`, whose pane runs `sh` with a UTF-8 locale: `stty -a`, then
//! `chat`, then `stty -a` again and a line with chat's exit status, so that the
//! terminal modes before and after can be compared. Every wait polls the screen
//! with a deadline; nothing sleeps to synchronize.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CHAT, EXIT_WAIT};
use crate::common::{Client, Server, TIMEOUT, chatd};

/// Where the pane's shell says how chat ended; the test waits for it.
const EXITED: &str = "[chat exited with status ";

/// A private tmux server (its own socket in a temp dir, no user config); killed
/// and its socket removed when dropped.
struct Tmux {
    dir: PathBuf,
    socket: PathBuf,
}

impl Tmux {
    /// Its sessions start with [`run`](Self::run)`(["new-session", …])`.
    fn start() -> Tmux {
        let dir = crate::common::temp_dir();
        let socket = dir.join("tmux.sock");
        Tmux { dir, socket }
    }

    /// A tmux command for this server. The locale is UTF-8 (so tmux itself
    /// takes `send-keys` text and wide characters as UTF-8) and set by `LANG`
    /// alone; the panes inherit it.
    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .env_remove("TMUX")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        command
    }

    /// Runs a tmux command that must succeed; returns its stdout.
    fn run(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The pane's rows and its cursor, read by one tmux command list, which
    /// tmux runs without taking in pane output in between: the two agree.
    fn screen(&self) -> Screen {
        let output = self.run(&[
            "capture-pane",
            "-p",
            "-t",
            "chat",
            ";",
            "display-message",
            "-p",
            "-t",
            "chat",
            "#{cursor_x} #{cursor_y}",
        ]);
        let mut rows: Vec<String> = output.lines().map(str::to_owned).collect();
        let cursor = rows.pop().expect("tmux printed the cursor");
        let (x, y) = cursor.split_once(' ').expect("cursor as `x y`");
        Screen {
            rows,
            cursor: (x.parse().expect("cursor_x"), y.parse().expect("cursor_y")),
        }
    }

    /// Polls the screen until `done` holds, for at most `within`; returns that
    /// screen. `what` names the awaited state in the failure message.
    fn wait_until(&self, what: &str, within: Duration, done: impl Fn(&Screen) -> bool) -> Screen {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "not on screen within {within:?}: {what}\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
        }
    }

    /// Polls the screen until it contains `pattern`; returns the screen.
    fn wait_screen(&self, pattern: &str) -> String {
        let what = format!("{pattern:?}");
        self.wait_until(&what, TIMEOUT, |s| s.text().contains(pattern))
            .text()
    }

    /// Presses keys by tmux's names for them (`Enter`, `Left`, `C-c`, `BSpace`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend(keys);
        self.run(&args);
    }

    /// Types `text` as it is (`-l`: no key names).
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "chat", "-l", text]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The server may have gone already; nothing else to clean up then.
        let _ = self.command().arg("kill-server").output();
        // tmux leaves its socket behind; a failure leaves only a temp file.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a pane shows at one moment: its rows (trailing spaces trimmed, as
/// `capture-pane` prints them) and where its cursor is.
struct Screen {
    rows: Vec<String>,
    /// (column, row), from 0.
    cursor: (usize, usize),
}

impl Screen {
    fn text(&self) -> String {
        self.rows.join("\n")
    }

    /// The row the cursor is on, the bottom one of chat's input line.
    fn cursor_row(&self) -> &str {
        &self.rows[self.cursor.1]
    }

    /// The rows from `first` rows above the cursor's down to the cursor's.
    fn rows_to_cursor(&self, first: usize) -> Vec<&str> {
        let top = self.cursor.1.saturating_sub(first);
        self.rows[top..=self.cursor.1]
            .iter()
            .map(String::as_str)
            .collect()
    }

    /// Nothing is drawn below the cursor's row.
    fn blank_below_cursor(&self) -> bool {
        self.rows[self.cursor.1 + 1..].iter().all(String::is_empty)
    }

    /// The input line shows just `text` on the cursor's row, nothing below,
    /// and the cursor in column `column`.
    fn shows_input(&self, text: &str, column: usize) -> bool {
        self.cursor_row() == text && self.cursor.0 == column && self.blank_below_cursor()
    }
}

impl std::fmt::Display for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, row) in self.rows.iter().enumerate() {
            writeln!(f, "{i:2}|{row}")?;
        }
        write!(
            f,
            "cursor at column {}, row {}",
            self.cursor.0, self.cursor.1
        )
    }
}

/// `chat ADDR` in a tmux pane `width` columns wide, run by `sh` between two
/// `stty -a` (saved to files), and then a line saying chat's exit status. The
/// pane stays after the shell exits, so the screen can still be read.
struct ChatPane {
    tmux: Tmux,
    modes_before: PathBuf,
    modes_after: PathBuf,
}

impl ChatPane {
    fn start(addr: &str, width: usize) -> ChatPane {
        let tmux = Tmux::start();
        let modes_before = tmux.dir.join("modes-before");
        let modes_after = tmux.dir.join("modes-after");
        // The shell reports chat's exit status on screen: tmux's own
        // #{pane_dead_status} is unreliable before tmux 3.5 (a lost SIGCHLD
        // leaves it empty). `trap : INT` keeps the shell alive through Ctrl-C
        // without changing how chat sees the signal (a trapped signal is reset
        // to default in children). The status is printed last, so that once it
        // shows, the second `stty -a` is done.
        let script = format!(
            "trap : INT\n\
             stty -a > '{before}'\n\
             LANG=C.UTF-8 '{CHAT}' {addr}\n\
             status=$?\n\
             stty -a > '{after}'\n\
             echo \"{EXITED}$status]\"\n",
            before = modes_before.display(),
            after = modes_after.display(),
        );
        let script_path = tmux.dir.join("session.sh");
        std::fs::write(&script_path, script).expect("write the pane's script");
        let script_path = script_path.to_str().expect("temp dir is UTF-8").to_owned();
        let width = width.to_string();
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            &width,
            "-y",
            "24",
            "sh",
            &script_path,
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
        ]);
        ChatPane {
            tmux,
            modes_before,
            modes_after,
        }
    }

    /// `chat` for `server`, 80 columns wide.
    fn join(server: &Server) -> ChatPane {
        ChatPane::start(&server.addr.to_string(), 80)
    }

    /// Registers as `nick` and waits for the welcome, which lists who is online.
    fn register(&self, nick: &str) {
        self.wait_screen("> Please type your nickname followed by '#' and press Enter");
        self.keys(&[&format!("{nick}#"), "Enter"]);
        self.wait_screen(&format!("* Welcome, {nick}! Online ("));
    }

    /// Waits at most [`EXIT_WAIT`] for the shell to report that chat exited;
    /// returns the screen then.
    fn wait_exit(&self) -> String {
        self.wait_until("chat's exit", EXIT_WAIT, |s| s.text().contains(EXITED))
            .text()
    }

    /// The pane's terminal device, as `/dev/pts/N`.
    fn tty(&self) -> String {
        let tty = self.run(&["display-message", "-p", "-t", "chat", "#{pane_tty}"]);
        tty.trim_end().to_owned()
    }

    /// Waits until chat has put the terminal into raw mode (its line editor
    /// is on), read from outside with `stty -F`.
    fn wait_raw_mode(&self) {
        let tty = self.tty();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let output = Command::new("stty")
                .args(["-a", "-F", &tty])
                .output()
                .expect("run stty");
            assert!(output.status.success(), "stty -F {tty}: {output:?}");
            let modes = String::from_utf8_lossy(&output.stdout);
            if has_flag(&modes, "-icanon") && has_flag(&modes, "-echo") {
                return;
            }
            assert!(Instant::now() < deadline, "no raw mode on {tty}:\n{modes}");
            std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
        }
    }

    /// Checks that the terminal modes after chat (the shell's `stty -a`) are
    /// the ones before it; call after [`wait_exit`](Self::wait_exit).
    fn assert_modes_restored(&self) {
        let read = |path: &PathBuf| std::fs::read_to_string(path).expect("read stty -a output");
        let (before, after) = (read(&self.modes_before), read(&self.modes_after));
        // A terminal in cooked mode to begin with, or the check means nothing.
        assert!(
            has_flag(&before, "icanon") && has_flag(&before, "echo"),
            "{before}"
        );
        assert_eq!(mode_lines(&after), mode_lines(&before));
    }
}

impl std::ops::Deref for ChatPane {
    type Target = Tmux;

    fn deref(&self) -> &Tmux {
        &self.tmux
    }
}

/// `stty -a` output without its first line, which holds the speed and the
/// size (a resize changes that): the control characters and the mode flags.
fn mode_lines(stty: &str) -> Vec<&str> {
    stty.lines().skip(1).collect()
}

/// Whether `stty -a` output lists `flag` (`echo`, `-icanon`) as a word.
fn has_flag(stty: &str, flag: &str) -> bool {
    stty.split(|c: char| c.is_whitespace() || c == ';')
        .any(|word| word == flag)
}

/// A room where `alice` (over TCP) is already online, and `bob` joins it with
/// `chat` in a pane `width` columns wide; alice has read bob's join.
fn alice_and_bob_in_a_pane(width: usize) -> (Server, Client, ChatPane) {
    let server = chatd().start();
    let [mut alice] = server.users(["alice"]);
    let pane = ChatPane::start(&server.addr.to_string(), width);
    pane.register("bob");
    pane.wait_screen("* Welcome, bob! Online (2): alice, bob");
    alice.expect_line("* bob joined (2 online: alice, bob)");
    (server, alice, pane)
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn interactive_session_in_a_terminal() {
    crate::common::require("tmux");
    let server = chatd().start();
    let mut alice = server.join("alice");
    let pane = ChatPane::start(&server.addr.to_string(), 120);
    pane.wait_screen("> Please type your nickname followed by '#' and press Enter");
    pane.keys(&["bob#", "Enter"]);
    pane.wait_screen("* Welcome, bob! Online (2): alice, bob");
    pane.keys(&["hi", "Enter"]);
    let lines = alice.read_until("> bob:");
    assert_eq!(lines.last().unwrap(), "> bob: hi");

    pane.keys(&["C-c"]);
    let screen = pane.wait_exit();
    assert!(
        screen.contains("* Bye, bob!\n[local] you left the chat room\n[chat exited with status 0]"),
        "{screen}"
    );
    alice.expect_line("* bob left (quit; 1 online)");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn half_typed_line_survives_an_incoming_message() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    pane.type_text("half typed by bob");
    pane.wait_until("the half-typed line", TIMEOUT, |s| {
        s.shows_input("half typed by bob", 17)
    });
    alice.send("hello bob\n");
    pane.wait_until(
        "the message on its own row, the half-typed line intact below",
        TIMEOUT,
        |s| {
            s.shows_input("half typed by bob", 17)
                && s.rows_to_cursor(2)
                    == [
                        "* Welcome, bob! Online (2): alice, bob",
                        "> alice: hello bob",
                        "half typed by bob",
                    ]
        },
    );
    pane.keys(&["Enter"]);
    alice.expect_line("> bob: half typed by bob");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn insert_in_the_middle_of_a_cjk_line() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    // Each of the five characters is two columns wide, the full-width comma too.
    pane.type_text("你好，小明");
    pane.wait_until("the line typed", TIMEOUT, |s| {
        s.shows_input("你好，小明", 10)
    });
    pane.keys(&["Left", "Left"]);
    pane.wait_until("the cursor before 小明", TIMEOUT, |s| {
        s.shows_input("你好，小明", 6)
    });
    pane.type_text("X");
    pane.wait_until("the X inserted", TIMEOUT, |s| {
        s.shows_input("你好，X小明", 7)
    });
    pane.keys(&["Enter"]);
    alice.expect_line("> bob: 你好，X小明");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn backspace_in_the_middle_of_a_cjk_line() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    pane.type_text("你好，小明");
    pane.keys(&["Left", "Left"]);
    pane.wait_until("the cursor before 小明", TIMEOUT, |s| {
        s.shows_input("你好，小明", 6)
    });
    pane.keys(&["BSpace"]);
    pane.wait_until("the comma deleted", TIMEOUT, |s| {
        s.shows_input("你好小明", 4)
    });
    pane.keys(&["Enter"]);
    alice.expect_line("> bob: 你好小明");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn tab_completes_a_nickname_from_the_welcome_list() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    pane.type_text("al");
    pane.keys(&["Tab"]);
    // At the start of the line a nickname is followed by ": " (capture-pane
    // drops the trailing space; the cursor column shows it).
    pane.wait_until("alice completed", TIMEOUT, |s| s.shows_input("alice:", 7));
    pane.type_text("hi");
    pane.keys(&["Enter"]);
    // The line names alice, so it rings for her.
    alice.expect_line("\u{7}> bob: alice: hi");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn tab_completes_a_command_name() {
    crate::common::require("tmux");
    let (_server, _alice, pane) = alice_and_bob_in_a_pane(80);
    pane.type_text("/wh");
    pane.keys(&["Tab"]);
    pane.wait_until("/who completed", TIMEOUT, |s| s.shows_input("/who", 5));
    pane.keys(&["Enter"]);
    pane.wait_until("the answer to /who", TIMEOUT, |s| {
        s.shows_input("", 0) && s.rows_to_cursor(2) == ["/who", "* Online (2): alice, bob", ""]
    });
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn tab_completes_a_room_name_learned_from_the_server() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    alice.send("/join rustaceans\n");
    alice.expect_prefix("* You are now in #rustaceans");
    // bob's chat learns the room from the lobby's notice.
    pane.wait_screen("* alice left for #rustaceans (1 here, 2 online)");
    pane.type_text("/join ru");
    pane.keys(&["Tab"]);
    pane.wait_until("the room completed", TIMEOUT, |s| {
        s.shows_input("/join #rustaceans", 18)
    });
    pane.keys(&["Enter"]);
    pane.wait_screen("* You are now in #rustaceans (2): alice, bob");
    alice.expect_line("* bob joined #rustaceans (2 here: alice, bob)");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn up_twice_brings_back_the_first_line() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    for line in ["first line", "second line"] {
        pane.type_text(line);
        pane.keys(&["Enter"]);
        alice.expect_line(&format!("> bob: {line}"));
    }
    pane.keys(&["Up"]);
    pane.wait_until("the second line back", TIMEOUT, |s| {
        s.shows_input("second line", 11)
    });
    pane.keys(&["Up"]);
    pane.wait_until("the first line back", TIMEOUT, |s| {
        s.shows_input("first line", 10)
    });
    pane.keys(&["Enter"]);
    alice.expect_line("> bob: first line");
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn narrower_terminal_rewraps_the_half_typed_line() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    // 100 columns, no spaces (capture-pane would trim one at a row's end).
    let line: String = ('a'..='z').chain('0'..='9').cycle().take(100).collect();
    pane.type_text(&line);
    let (row_80, rest_80) = line.split_at(80);
    pane.wait_until("the line over two rows", TIMEOUT, |s| {
        s.shows_input(rest_80, 20) && s.rows_to_cursor(1) == [row_80, rest_80]
    });
    pane.run(&["resize-window", "-t", "chat", "-x", "40"]);
    let rows_40 = [&line[..40], &line[40..80], &line[80..]];
    let screen = pane.wait_until("the line over three rows", TIMEOUT, |s| {
        s.shows_input(rows_40[2], 20) && s.rows_to_cursor(2) == rows_40
    });
    // Drawn once: right below the welcome, with no old rows left in between.
    assert_eq!(
        screen.rows[screen.cursor.1 - 3],
        "* Welcome, bob! Online (2): alice, bob",
        "{screen}"
    );
    pane.keys(&["Enter"]);
    alice.expect_line(&format!("> bob: {line}"));
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn terminal_modes_are_restored_after_quit() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    pane.wait_raw_mode();
    pane.type_text("/quit");
    pane.keys(&["Enter"]);
    alice.expect_line("* bob left (quit; 1 online)");
    let screen = pane.wait_exit();
    assert!(screen.contains("[chat exited with status 0]"), "{screen}");
    pane.assert_modes_restored();
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn terminal_modes_are_restored_after_ctrl_d() {
    crate::common::require("tmux");
    let (_server, mut alice, pane) = alice_and_bob_in_a_pane(80);
    pane.wait_raw_mode();
    pane.keys(&["C-d"]);
    alice.expect_line("* bob left (quit; 1 online)");
    let screen = pane.wait_exit();
    assert!(screen.contains("[chat exited with status 0]"), "{screen}");
    pane.assert_modes_restored();
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn terminal_modes_are_restored_after_server_shutdown() {
    crate::common::require("tmux");
    let mut server = chatd().config("shutdown_grace_secs = 0").start();
    let pane = ChatPane::join(&server);
    pane.register("bob");
    pane.wait_raw_mode();
    server.signal("TERM");
    let screen = pane.wait_exit();
    assert!(
        screen.contains(
            "* server shutting down now, goodbye\n\
             [local] you left the chat room\n\
             [chat exited with status 0]"
        ),
        "{screen}"
    );
    pane.assert_modes_restored();
    server.wait_exit(Duration::ZERO);
}

#[test]
#[cfg_attr(not(has_tmux), ignore = "tmux is not installed")]
fn second_ctrl_c_leaves_at_once_and_restores_the_terminal() {
    crate::common::require("tmux");
    // A server that never answers the goodbye: a bare listener that reads and
    // keeps the connection open. chat would wait 10 s for it to close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(listener.accept()));
    let pane = ChatPane::start(&addr, 80);
    let (mut peer, _) = rx
        .recv_timeout(TIMEOUT)
        .expect("chat connects")
        .expect("accept");
    peer.set_read_timeout(Some(TIMEOUT)).unwrap();
    pane.wait_raw_mode();
    pane.keys(&["C-c"]);
    // The first Ctrl-C says goodbye: `/quit` and a half-close.
    let mut said = Vec::new();
    std::io::Read::read_to_end(&mut peer, &mut said).expect("chat half-closes");
    assert_eq!(said, b"/quit\n");
    pane.wait_screen("^C");
    pane.keys(&["C-c"]);
    let screen = pane.wait_exit();
    assert!(
        screen.contains("[local] you left the chat room\n[chat exited with status 0]"),
        "{screen}"
    );
    pane.assert_modes_restored();
    drop(peer);
}

#[test]
#[cfg_attr(
    not(all(has_tmux, has_pgrep)),
    ignore = "tmux or pgrep (procps) is not installed"
)]
fn sigterm_says_goodbye_and_restores_the_terminal() {
    crate::common::require("tmux");
    crate::common::require("pgrep");
    let server = chatd().start();
    let pane = ChatPane::join(&server);
    pane.register("bob");
    pane.wait_raw_mode();
    // chat is the child of the pane's shell.
    let shell = pane.run(&["display-message", "-p", "-t", "chat", "#{pane_pid}"]);
    let children = Command::new("pgrep")
        .args(["-P", shell.trim()])
        .output()
        .expect("run pgrep");
    let chat: u32 = String::from_utf8_lossy(&children.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no single child of the pane's shell: {children:?}"));
    crate::common::send_signal(chat, "TERM");
    let screen = pane.wait_exit();
    assert!(
        screen.contains("* Bye, bob!\n[local] you left the chat room\n[chat exited with status 0]"),
        "{screen}"
    );
    pane.assert_modes_restored();
}
