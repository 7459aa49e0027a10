//! The `chat` client, run as a real process against a real chatd: through pipes
//! here, and in a real terminal (tmux) in `terminal`.

mod terminal;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::common::{Server, TIMEOUT, chatd};

const CHAT: &str = env!("CARGO_BIN_EXE_chat");
const LEFT_NOTICE: &str = "[local] you left the chat room\n";
/// How long a test waits for chat to exit. chat itself gives up on the server
/// 10 s after saying goodbye; waiting less shows that the server's close, not
/// that fallback, ended the session.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// `chat ARGS` with stdin, stdout and stderr piped and the locale set to `lang`
/// alone (so the caller's `LC_ALL` cannot decide the notices' language).
fn chat_command(args: &[&str], lang: &str) -> Command {
    let mut command = Command::new(CHAT);
    command
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running `chat`; killed when dropped.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
    /// Everything read from stdout so far.
    out: Vec<u8>,
}

/// How a `chat` run ended, with everything it printed.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Chat {
    fn start(args: &[&str], lang: &str) -> Chat {
        let mut child = chat_command(args, lang).spawn().expect("start chat");
        let stdin = child.stdin.take();
        let stdout = spawn_chunk_reader(child.stdout.take().expect("stdout"));
        let stderr = spawn_chunk_reader(child.stderr.take().expect("stderr"));
        Chat {
            child,
            stdin,
            stdout,
            stderr,
            out: Vec::new(),
        }
    }

    /// `chat HOST:PORT` for `server`, English notices.
    fn join(server: &Server) -> Chat {
        Chat::start(&[&server.addr.to_string()], "C")
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(text.as_bytes())
            .expect("write to chat's stdin");
    }

    /// End of input, as Ctrl-D or the end of a pipe.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Reads stdout until it contains `pattern`.
    fn wait_stdout(&mut self, pattern: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !contains(&self.out, pattern.as_bytes()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.out.extend(chunk),
                Err(_) => panic!(
                    "chat's stdout has no {pattern:?}; so far:\n{}",
                    String::from_utf8_lossy(&self.out)
                ),
            }
        }
    }

    /// Sends a signal (`"INT"`, `"TERM"`) with `kill(1)`.
    fn signal(&self, name: &str) {
        crate::common::send_signal(self.child.id(), name);
    }

    /// Waits for chat to exit (stdin is left as it is) and collects its output.
    fn wait_exit(mut self) -> Finished {
        let status = wait_child(&mut self.child);
        let mut stdout = std::mem::take(&mut self.out);
        collect(&self.stdout, &mut stdout);
        let mut stderr = Vec::new();
        collect(&self.stderr, &mut stderr);
        Finished {
            status,
            stdout,
            stderr: String::from_utf8(stderr).expect("chat's stderr is UTF-8"),
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        // It has usually exited already; then there is nothing to kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `source` on a thread and hands over each chunk as it arrives.
fn spawn_chunk_reader(mut source: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Appends chunks to `into` until the pipe closes.
fn collect(chunks: &Receiver<Vec<u8>>, into: &mut Vec<u8>) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => into.extend(chunk),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => panic!("chat's output still open after exit"),
        }
    }
}

/// Waits at most [`EXIT_WAIT`] for `child` to exit.
fn wait_child(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + EXIT_WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "chat did not exit within {EXIT_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An address that refuses connections, and the listener that keeps it so.
/// Merely freeing a port is racy: another test may be given it at once. Holding
/// 127.0.0.1:PORT keeps anyone else from binding PORT, and nothing listens on
/// 127.0.0.2:PORT (all of 127/8 is loopback on Linux).
fn refused_addr() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    (listener, format!("127.0.0.2:{port}"))
}

/// Runs `chat ARGS` that needs no server and returns its output.
fn run_chat(args: &[&str]) -> Output {
    let mut child = chat_command(args, "C")
        .stdin(Stdio::null())
        .spawn()
        .expect("start chat");
    wait_child(&mut child);
    child.wait_with_output().expect("chat output")
}

#[test]
fn piped_lines_reach_the_room() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    let mut chat = Chat::join(&server);
    chat.send("bob#\nhello\n");
    chat.close_stdin();
    let lines = alice.read_until("> bob:");
    assert_eq!(lines.last().unwrap(), "> bob: hello");
}

#[test]
fn stdin_eof_quits_and_exits_0() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    let mut chat = Chat::join(&server);
    chat.send("bob#\nhello\n");
    chat.close_stdin();
    alice.read_until("> bob: hello");
    alice.expect_line("* bob left (quit; 1 online)");
    let done = chat.wait_exit();
    assert!(done.status.success(), "{:?}", done.status);
    let stdout = String::from_utf8(done.stdout).unwrap();
    assert!(
        stdout.starts_with(
            "> Welcome to chatd\r\n> 1 online now\r\n\
             > Please type your nickname followed by '#' and press Enter\r\n\
             * Welcome, bob! Online (2): alice, bob\r\n"
        ),
        "{stdout:?}"
    );
    assert!(stdout.ends_with("* Bye, bob!\r\n"), "{stdout:?}");
}

#[test]
fn last_line_without_newline_is_sent_before_the_goodbye() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    let mut chat = Chat::join(&server);
    chat.send("bob#\nhello");
    chat.close_stdin();
    let lines = alice.read_until("> bob:");
    assert_eq!(lines.last().unwrap(), "> bob: hello");
    alice.expect_line("* bob left (quit; 1 online)");
    assert!(chat.wait_exit().status.success());
}

#[test]
fn local_notices_go_to_stderr_only() {
    let server = chatd().start();
    let mut chat = Chat::join(&server);
    chat.send("bob#\n");
    chat.close_stdin();
    let done = chat.wait_exit();
    assert_eq!(done.stderr, LEFT_NOTICE);
    assert!(!contains(&done.stdout, b"[local]"), "{:?}", done.stdout);
}

#[test]
fn left_notice_is_chinese_in_a_chinese_locale() {
    let server = chatd().start();
    let mut chat = Chat::start(&[&server.addr.to_string()], "zh_CN.UTF-8");
    chat.send("bob#\n");
    chat.close_stdin();
    let done = chat.wait_exit();
    assert!(done.status.success());
    assert_eq!(done.stderr, "【本机提示】退出聊天室\n");
}

#[test]
fn eof_before_registering_still_leaves() {
    // The server takes the goodbye `/quit` as a (refused) nickname; only the
    // half-close after it makes the server close (within EXIT_WAIT).
    let server = chatd().start();
    let mut chat = Chat::join(&server);
    chat.close_stdin();
    let done = chat.wait_exit();
    assert!(done.status.success(), "{:?}", done.status);
    assert_eq!(done.stderr, LEFT_NOTICE);
}

#[test]
fn turned_away_by_the_server_exits_1() {
    let server = chatd().config("max_clients_per_ip = 1").start();
    let _alice = server.join("alice");
    // Stdin stays open: the refusal alone ends the session.
    let chat = Chat::join(&server);
    let done = chat.wait_exit();
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert_eq!(done.stdout, b"! too many connections from your address\r\n");
    assert_eq!(done.stderr, "[local] the chat room turned you away\n");
}

#[test]
fn server_shutdown_means_left_and_exit_0() {
    let mut server = chatd().config("shutdown_grace_secs = 0").start();
    let mut chat = Chat::join(&server);
    chat.send("bob#\n");
    chat.wait_stdout("* Welcome, bob!");
    server.signal("TERM");
    // Stdin stays open: the server alone ends the session.
    let done = chat.wait_exit();
    assert!(done.status.success(), "{:?}", done.status);
    assert!(
        contains(&done.stdout, b"* server shutting down now, goodbye\r\n"),
        "{:?}",
        String::from_utf8_lossy(&done.stdout)
    );
    assert_eq!(done.stderr, LEFT_NOTICE);
    server.wait_exit(Duration::ZERO);
}

#[test]
fn sigint_says_goodbye_and_exits_0() {
    let server = chatd().start();
    let mut alice = server.join("alice");
    let mut chat = Chat::join(&server);
    chat.send("bob#\n");
    chat.wait_stdout("* Welcome, bob!");
    chat.signal("INT");
    alice.read_until("bob joined");
    alice.expect_line("* bob left (quit; 1 online)");
    let done = chat.wait_exit();
    assert!(done.status.success(), "{:?}", done.status);
    assert!(done.stdout.ends_with(b"* Bye, bob!\r\n"));
    assert_eq!(done.stderr, LEFT_NOTICE);
}

#[test]
fn connection_refused_is_an_error_in_english() {
    let (_guard, addr) = refused_addr();
    let done = Chat::start(&[&addr], "C").wait_exit();
    assert_eq!(done.status.code(), Some(1));
    assert_eq!(
        done.stderr,
        format!("[local] chat room error: cannot connect to {addr}: connection refused\n")
    );
    assert!(done.stdout.is_empty());
}

#[test]
fn connection_refused_is_an_error_in_chinese() {
    let (_guard, addr) = refused_addr();
    let done = Chat::start(&[&addr], "zh_CN.UTF-8").wait_exit();
    assert_eq!(done.status.code(), Some(1));
    assert_eq!(
        done.stderr,
        format!("【本机提示】聊天室异常：cannot connect to {addr}: connection refused\n")
    );
}

#[test]
fn connection_reset_is_an_error() {
    // chatd never resets a connection on purpose, so a bare listener plays the
    // server: closing a socket with unread input makes the kernel send a reset.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(listener.accept()));
    let mut chat = Chat::start(&[&addr.to_string()], "C");
    chat.send("bob#\n");
    let (peer, _) = rx
        .recv_timeout(TIMEOUT)
        .expect("chat connects")
        .expect("accept");
    peer.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut first = [0u8; 1];
    assert_eq!(peer.peek(&mut first).expect("chat sends its line"), 1);
    drop(peer);
    let done = chat.wait_exit();
    assert_eq!(done.status.code(), Some(1));
    assert_eq!(
        done.stderr,
        "[local] chat room error: connection reset by peer\n"
    );
}

#[test]
fn partial_lines_show_at_once() {
    // A prompt without a newline must not wait in a buffer. chatd ends every
    // line, so a bare listener plays the server.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(listener.accept()));
    let mut chat = Chat::start(&[&addr.to_string()], "C");
    let (mut peer, _) = rx
        .recv_timeout(TIMEOUT)
        .expect("chat connects")
        .expect("accept");
    peer.write_all(b"nickname? ").unwrap();
    chat.wait_stdout("nickname? ");
    assert_eq!(chat.out, b"nickname? ");
}

#[test]
fn host_names_resolve_and_each_address_is_tried() {
    // "localhost" may resolve to ::1 first, where chatd does not listen.
    let server = chatd().start();
    let mut chat = Chat::start(&[&format!("localhost:{}", server.addr.port())], "C");
    chat.send("bob#\n");
    chat.close_stdin();
    let done = chat.wait_exit();
    assert!(done.status.success(), "{:?} {}", done.status, done.stderr);
    assert!(contains(&done.stdout, b"* Welcome, bob!"));
}

#[test]
fn server_bytes_reach_stdout_unchanged() {
    let server = chatd().config("colors = true\nlanguage = \"zh\"").start();
    let mut chat = Chat::join(&server);
    chat.send("bob#\n");
    chat.close_stdin();
    let done = chat.wait_exit();
    let expected = "> 欢迎来到 \x1b[92mchatd\x1b[39m\r\n\
                    > 当前有0人在线\r\n\
                    > 请输入您的昵称 + '#'，按回车键结束\r\n\
                    * \x1b[33mbob\x1b[39m 你好！当前在线（1人）：【 bob 】\r\n\
                    * 再见，\x1b[33mbob\x1b[39m！\r\n";
    assert_eq!(String::from_utf8_lossy(&done.stdout), expected);
    assert_eq!(done.stdout, expected.as_bytes());
}

#[test]
fn closed_stdout_ends_chat_quietly() {
    // `chat | head -1`: once nobody reads stdout, chat leaves without a panic.
    let server = chatd().start();
    let mut child = chat_command(&[&server.addr.to_string()], "C")
        .spawn()
        .expect("start chat");
    drop(child.stdout.take());
    // The banner may have fitted into the pipe before it closed; the welcome
    // comes after, so its write fails with EPIPE at the latest. The nickname's
    // own write fails if chat has already left, which is fine too.
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"bob#\n");
    // A process that another test thread forks at that moment holds a copy of
    // the pipe's read end until it execs, and a write then still succeeds; so
    // chat is given something more to print (a /who answer) until it has left.
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "chat did not leave");
        let _ = stdin.write_all(b"/who\n");
        std::thread::sleep(Duration::from_millis(50)); // polling, not synchronizing
    }
    let status = wait_child(&mut child);
    let output = child.wait_with_output().expect("chat output");
    assert!(status.success(), "{status:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn help_prints_usage() {
    let output = run_chat(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("Usage: chat [HOST[:PORT]]\n"), "{text}");
    assert!(output.stderr.is_empty());
}

#[test]
fn version_prints_version() {
    let output = run_chat(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("chat {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_option_is_a_usage_error() {
    let output = run_chat(&["--bogus"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "chat: unknown option \"--bogus\"\nTry 'chat --help'.\n"
    );
}

#[test]
fn bad_port_is_a_usage_error() {
    let output = run_chat(&["127.0.0.1:99999"]);
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.starts_with("chat: bad address \"127.0.0.1:99999\": "),
        "{text}"
    );
}
