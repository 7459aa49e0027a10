//! `chat` in a real terminal: tmux runs it in a pane, the test presses keys
//! with `send-keys` and reads the screen with `capture-pane`.
//!
//! Each test has its own tmux server (its own socket, no user config) and one
//! session, `chat`, whose pane runs `sh` with a UTF-8 locale: `chat`, then a
//! line with chat's exit status. Every wait polls the screen with a deadline;
//! nothing sleeps to synchronize.

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

/// `chat ADDR` in a tmux pane `width` columns wide, run by `sh`, and then a
/// line saying chat's exit status. The pane stays after the shell exits, so
/// the screen can still be read.
struct ChatPane {
    tmux: Tmux,
}

impl ChatPane {
    fn start(addr: &str, width: usize) -> ChatPane {
        let tmux = Tmux::start();
        // The shell reports chat's exit status on screen: tmux's own
        // #{pane_dead_status} is unreliable before tmux 3.5 (a lost SIGCHLD
        // leaves it empty). `trap : INT` keeps the shell alive through Ctrl-C
        // without changing how chat sees the signal (a trapped signal is reset
        // to default in children).
        let script = format!(
            "trap : INT\n\
             LANG=C.UTF-8 '{CHAT}' {addr}\n\
             status=$?\n\
             echo \"{EXITED}$status]\"\n",
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
        ChatPane { tmux }
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
}

impl std::ops::Deref for ChatPane {
    type Target = Tmux;

    fn deref(&self) -> &Tmux {
        &self.tmux
    }
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
    alice.expect_line("> bob: alice: hi");
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
