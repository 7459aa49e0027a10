//! `chat`, the client that ships with chatd (the tutorial's `chat-client.js`).
//!
//! Four threads and one decision-maker:
//! - `copy_server_to_stdout` writes the server's bytes to stdout exactly as they
//!   arrive, one flush per chunk, so colors, prompts and partial lines show at once;
//! - `copy_stdin_to_server` reads stdin line by line and queues the lines, then at
//!   end of input a goodbye;
//! - `write_to_server`, the one writer of the socket, sends them in order, and for
//!   the goodbye sends `/quit` and half-closes the connection;
//! - a signal thread turns SIGINT/SIGTERM into the same goodbye;
//! - `main` waits for their [`Event`]s, prints the one local notice and picks the
//!   exit status: 0 when the room closed the connection, 1 on a connection error,
//!   2 on a bad command line.
//!
//! Plain threads rather than smol: a client has one connection and two blocking
//! streams (stdin, stdout) that an executor could not make non-blocking anyway.

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Where chatd listens unless told otherwise (the tutorial's port).
const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8194;
/// How long to try each resolved address before giving up on it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After saying goodbye, how long to wait for the server to close before leaving anyway.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest piece of a stdin line held in memory; a longer line is sent in pieces
/// (the server discards it as too long anyway), so a binary file on stdin cannot
/// grow memory without bound.
const MAX_LINE_PIECE: u64 = 64 * 1024;
/// Lines from stdin waiting for the writer. Small: it only smooths the hand-over,
/// and bounds what a fast stdin can queue while the server is not reading.
const OUTGOING_QUEUE: usize = 16;
/// Exit status for a command line `chat` cannot act on, as getopt-style tools use.
const EXIT_USAGE: u8 = 2;
/// What `chat` says to the server when the user leaves.
const GOODBYE: &str = "/quit\n";

fn main() -> ExitCode {
    let target = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Connect(target)) => target,
        Ok(Command::Help) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("chat {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("chat: {err}\nTry 'chat --help'.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let language = Language::from_env(|name| std::env::var(name).ok());
    let outcome = match connect(&target) {
        Ok(stream) => run(stream),
        Err(reason) => Outcome::Failed(reason),
    };
    // Local notices go to stderr, not stdout as the tutorial's console.log did:
    // stdout then carries exactly the bytes the room sent, so `chat > transcript`
    // or `chat | grep bob` get the conversation and nothing else, while on a
    // terminal the notice still shows in the same window.
    let (notice, status) = match outcome {
        Outcome::Left => (Some(language.left()), ExitCode::SUCCESS),
        Outcome::Failed(reason) => (Some(language.error(&reason)), ExitCode::FAILURE),
        Outcome::StdoutGone => (None, ExitCode::SUCCESS),
    };
    if let Some(notice) = notice {
        // Nothing useful is left to do if stderr is gone too.
        let _ = writeln!(io::stderr(), "{notice}");
    }
    status
}

// ---------------------------------------------------------------------------
// Command line

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Connect(Target),
    Help,
    Version,
}

/// Where to connect: a host name or address literal (IPv6 without brackets) and a port.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
}

fn usage() -> &'static str {
    concat!(
        "Usage: chat [HOST[:PORT]]\n",
        "\n",
        "Joins a chatd chat room: sends what you type (or pipe in) line by line and\n",
        "prints what the room says as it arrives. Start with your nickname followed\n",
        "by '#', e.g. \"bob#\".\n",
        "\n",
        "  HOST[:PORT]     where chatd listens (default 127.0.0.1:8194). HOST is a\n",
        "                  name, an IPv4 address or an IPv6 address in brackets\n",
        "                  ([::1]:8194); \":PORT\" alone means 127.0.0.1\n",
        "  -h, --help      print this help\n",
        "  -V, --version   print the version\n",
        "\n",
        "Leave with /quit, end of input (Ctrl-D) or Ctrl-C. Local notices go to\n",
        "stderr; stdout carries only what the server sends. Notices are in Chinese\n",
        "when LC_ALL, LC_MESSAGES or LANG (the first one set) starts with \"zh\".\n",
        "\n",
        "Exit status: 0 when the room closed the connection, 1 on a connection\n",
        "error, 2 on a bad command line.\n",
    )
}

/// Parses the arguments after the program name.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut target = None;
    let mut options_done = false;
    for arg in args {
        if !options_done && arg.starts_with('-') && arg != "-" {
            match arg.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "--" => options_done = true,
                _ => return Err(format!("unknown option {arg:?}")),
            }
        } else if target.is_some() {
            return Err(format!(
                "unexpected argument {arg:?} (only one HOST[:PORT])"
            ));
        } else {
            target = Some(parse_target(&arg)?);
        }
    }
    Ok(Command::Connect(target.unwrap_or(Target {
        host: DEFAULT_HOST.to_owned(),
        port: DEFAULT_PORT,
    })))
}

/// `HOST`, `HOST:PORT`, `:PORT`, `[IPV6]`, `[IPV6]:PORT`, or a bare IPv6 literal.
fn parse_target(arg: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("bad address {arg:?}: {why}");
    let (host, port) = if let Some(rest) = arg.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(bad("expected ':PORT' after ']'")),
            },
        }
    } else if arg.matches(':').count() > 1 {
        (arg, None) // An IPv6 literal such as ::1; a port needs the brackets.
    } else {
        match arg.split_once(':') {
            Some(("", port)) => (DEFAULT_HOST, Some(port)),
            Some((host, port)) => (host, Some(port)),
            None => (arg, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad("the port must be a number from 1 to 65535")),
            Ok(port) => port,
        },
    };
    Ok(Target {
        host: host.to_owned(),
        port,
    })
}

// ---------------------------------------------------------------------------
// Local notices

/// The language of the local notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    En,
    /// The tutorial's 【本机提示】 notices.
    Zh,
}

impl Language {
    /// The usual POSIX order: the first non-empty of `LC_ALL`, `LC_MESSAGES`,
    /// `LANG` decides; Chinese when it starts with `zh`.
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Language {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .filter_map(var)
            .find(|value| !value.is_empty());
        match locale {
            Some(locale) if locale.starts_with("zh") => Language::Zh,
            _ => Language::En,
        }
    }

    /// The server closed the connection.
    fn left(self) -> String {
        match self {
            Language::En => "[local] you left the chat room".to_owned(),
            Language::Zh => "【本机提示】退出聊天室".to_owned(),
        }
    }

    /// The connection failed.
    fn error(self, reason: &str) -> String {
        match self {
            Language::En => format!("[local] chat room error: {reason}"),
            Language::Zh => format!("【本机提示】聊天室异常：{reason}"),
        }
    }
}

/// An I/O error as a notice shows it: `connection refused`, without the
/// `(os error 111)` that means nothing to a user.
fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error ") {
        Some(end) => &text[..end],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{:?}", err.kind()),
    }
}

// ---------------------------------------------------------------------------
// The session

/// How the session ended.
#[derive(Debug)]
enum Outcome {
    /// The server closed the connection (after a goodbye or on its own).
    Left,
    /// The connection could not be made or broke; the reason for the notice.
    Failed(String),
    /// Nobody reads our output any more (`chat | head -1`): leave without a word.
    StdoutGone,
}

/// What the threads tell `main`.
#[derive(Debug)]
enum Event {
    /// The server closed the connection; everything it sent is on stdout.
    ServerClosed,
    /// Reading from the server failed.
    ServerFailed(io::Error),
    /// Writing to stdout failed.
    StdoutGone,
    /// `/quit` has been sent and the connection half-closed.
    GoodbyeSent,
    /// Sending to the server failed; the reader will see why, or the wait times out.
    SendFailed(io::Error),
    /// SIGINT or SIGTERM.
    Interrupted,
}

/// What the writer thread is asked to send.
#[derive(Debug)]
enum Outgoing {
    /// A line from stdin, or a piece of one that is longer than [`MAX_LINE_PIECE`].
    Line(Vec<u8>),
    /// Leave: send `/quit` and half-close.
    Goodbye,
}

/// Resolves `target` and connects to the first address that answers.
fn connect(target: &Target) -> Result<TcpStream, String> {
    let shown = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {:?}: {}", target.host, describe(&e)))?
        .collect();
    let mut last_error = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = Some(err),
        }
    }
    Err(match last_error {
        Some(err) => format!("cannot connect to {shown}: {}", describe(&err)),
        None => format!("cannot resolve {:?}: no addresses", target.host),
    })
}

/// Runs a connected session to its end.
fn run(stream: TcpStream) -> Outcome {
    let reader = match stream.try_clone() {
        Ok(reader) => reader,
        Err(err) => return Outcome::Failed(describe(&err)),
    };
    // Unbounded, but each thread sends one event before it ends; only the signal
    // thread sends more, one per signal.
    let (events, inbox) = mpsc::channel();
    let (outgoing, queue) = mpsc::sync_channel(OUTGOING_QUEUE);
    let leaving = Arc::new(AtomicBool::new(false));
    // Signals are caught only now that we are connected: until then Ctrl-C
    // should simply end the program, even during a slow connect.
    if let Err(err) = forward_signals(events.clone()) {
        return Outcome::Failed(format!(
            "cannot install signal handlers: {}",
            describe(&err)
        ));
    }
    let started = spawn("server-reader", {
        let events = events.clone();
        move || copy_server_to_stdout(reader, events)
    })
    .and_then(|()| {
        let (events, leaving) = (events.clone(), Arc::clone(&leaving));
        spawn("server-writer", move || {
            write_to_server(stream, &queue, &leaving, events)
        })
    })
    .and_then(|()| {
        let (outgoing, leaving) = (outgoing.clone(), Arc::clone(&leaving));
        spawn("stdin-reader", move || {
            copy_stdin_to_server(&outgoing, &leaving)
        })
    });
    if let Err(err) = started {
        return Outcome::Failed(format!("cannot start a thread: {}", describe(&err)));
    }
    decide(&inbox, &outgoing, &leaving)
}

/// Waits for the events that end the session. Until the user leaves, anything
/// the server does decides; once we have said goodbye (or tried to), the server
/// gets [`GOODBYE_TIMEOUT`] to close, and then we leave anyway.
fn decide(
    inbox: &Receiver<Event>,
    outgoing: &SyncSender<Outgoing>,
    leaving: &AtomicBool,
) -> Outcome {
    let mut deadline: Option<Instant> = None;
    let mut send_error: Option<io::Error> = None;
    loop {
        let event = match deadline {
            // The signal thread holds a sender for the life of the process, so
            // the channel never disconnects; were it to, nothing more could come.
            None => match inbox.recv() {
                Ok(event) => event,
                Err(_) => return Outcome::Left,
            },
            Some(deadline) => {
                match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                        return match send_error {
                            Some(err) => Outcome::Failed(describe(&err)),
                            None => Outcome::Left,
                        };
                    }
                }
            }
        };
        match event {
            Event::ServerClosed => return Outcome::Left,
            // After our goodbye a reset is just another way of closing.
            Event::ServerFailed(err)
                if deadline.is_some() && err.kind() == io::ErrorKind::ConnectionReset =>
            {
                return Outcome::Left;
            }
            Event::ServerFailed(err) => return Outcome::Failed(describe(&err)),
            Event::StdoutGone => return Outcome::StdoutGone,
            Event::GoodbyeSent => {
                deadline.get_or_insert_with(|| Instant::now() + GOODBYE_TIMEOUT);
            }
            Event::SendFailed(err) => {
                send_error = Some(err);
                deadline.get_or_insert_with(|| Instant::now() + GOODBYE_TIMEOUT);
            }
            // A second Ctrl-C while waiting for the server: leave now.
            Event::Interrupted if leaving.load(Ordering::SeqCst) => return Outcome::Left,
            Event::Interrupted => {
                // The terminal has echoed `^C` mid-line; what follows starts afresh.
                if io::stderr().is_terminal() {
                    // A failed cosmetic newline is not worth reporting.
                    let _ = io::stderr().write_all(b"\n");
                }
                // The flag makes the writer drop queued lines and say goodbye
                // next; the message wakes it if it is idle. A full queue means it
                // is busy and sees the flag next; a closed one that it is done.
                leaving.store(true, Ordering::SeqCst);
                let _ = outgoing.try_send(Outgoing::Goodbye);
                deadline.get_or_insert_with(|| Instant::now() + GOODBYE_TIMEOUT);
            }
        }
    }
}

/// Starts a named thread. The threads are never joined: `main` returning ends
/// them, which is what we want for one blocked on stdin.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map(drop)
}

/// Copies the server's bytes to stdout as they arrive: raw (never re-encoded,
/// so colors and UTF-8 pass unchanged) and flushed per chunk (so a prompt
/// without a newline shows at once).
fn copy_server_to_stdout(mut server: TcpStream, events: Sender<Event>) {
    let mut stdout = io::stdout().lock();
    let mut chunk = [0u8; 8192];
    let event = loop {
        match server.read(&mut chunk) {
            Ok(0) => break Event::ServerClosed,
            Ok(n) => {
                if stdout
                    .write_all(&chunk[..n])
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break Event::StdoutGone;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => break Event::ServerFailed(err),
        }
    };
    // `main` may have finished already; then nobody needs to know.
    let _ = events.send(event);
}

/// The only thread that writes to the server, so lines go out whole and in
/// order, and the goodbye never lands in the middle of one.
fn write_to_server(
    mut server: TcpStream,
    queue: &Receiver<Outgoing>,
    leaving: &AtomicBool,
    events: Sender<Event>,
) {
    let mut mid_line = false;
    let event = loop {
        let bytes = match queue.recv() {
            Ok(Outgoing::Line(bytes)) if !leaving.load(Ordering::SeqCst) => bytes,
            // A goodbye was asked for; or Ctrl-C, and the lines still queued are
            // dropped; or every sender is gone, which cannot happen while `main`
            // holds one, and would mean the same.
            _ => break say_goodbye(&mut server, mid_line),
        };
        if let Err(err) = server.write_all(&bytes) {
            break Event::SendFailed(err);
        }
        mid_line = !bytes.ends_with(b"\n");
    };
    // `main` may have finished already; then nobody needs to know.
    let _ = events.send(event);
}

/// Ends any unfinished line, sends `/quit` and half-closes. The half-close
/// matters: a client that never registered has its `/quit` taken as a
/// (rejected) nickname, and only the EOF makes the server close.
fn say_goodbye(server: &mut TcpStream, mid_line: bool) -> Event {
    let end = if mid_line { "\n" } else { "" };
    let sent = server
        .write_all(format!("{end}{GOODBYE}").as_bytes())
        .and_then(|()| server.shutdown(Shutdown::Write));
    match sent {
        Ok(()) => Event::GoodbyeSent,
        Err(err) => Event::SendFailed(err),
    }
}

/// Hands stdin to the writer line by line; at end of input (or a read error,
/// which ends input just the same) asks it to say goodbye.
fn copy_stdin_to_server(outgoing: &SyncSender<Outgoing>, leaving: &AtomicBool) {
    let mut stdin = BufReader::new(io::stdin().lock());
    loop {
        let mut line = Vec::new();
        match (&mut stdin)
            .take(MAX_LINE_PIECE)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if leaving.load(Ordering::SeqCst) || outgoing.send(Outgoing::Line(line)).is_err() {
            return; // Ctrl-C, or the writer is done: the rest is not wanted.
        }
    }
    // Ignored if the writer is already done (it said goodbye or failed).
    let _ = outgoing.send(Outgoing::Goodbye);
}

/// Turns SIGINT and SIGTERM into [`Event::Interrupted`], so Ctrl-C says goodbye
/// instead of killing the program mid-line.
fn forward_signals(events: Sender<Event>) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    spawn("signals", move || {
        for _ in signals.forever() {
            if events.send(Event::Interrupted).is_err() {
                return; // `main` has finished.
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target {
        Target {
            host: host.to_owned(),
            port,
        }
    }

    fn args(list: &[&str]) -> Result<Command, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn address_forms() {
        let cases = [
            ("example.org", target("example.org", 8194)),
            ("example.org:9000", target("example.org", 9000)),
            ("10.0.0.1:1", target("10.0.0.1", 1)),
            (":9000", target("127.0.0.1", 9000)),
            ("[::1]:9000", target("::1", 9000)),
            ("[::1]", target("::1", 8194)),
            ("::1", target("::1", 8194)),
            ("fe80::1:2", target("fe80::1:2", 8194)),
        ];
        for (arg, expected) in cases {
            assert_eq!(parse_target(arg), Ok(expected), "{arg}");
        }
    }

    #[test]
    fn bad_addresses_are_refused() {
        for arg in [
            "host:",
            "host:0",
            "host:65536",
            "host:x",
            "[::1",
            "[::1]9000",
            "[]",
            ":",
        ] {
            let err = parse_target(arg).expect_err(arg);
            assert!(err.starts_with(&format!("bad address {arg:?}: ")), "{err}");
        }
    }

    #[test]
    fn command_line() {
        assert_eq!(args(&[]), Ok(Command::Connect(target("127.0.0.1", 8194))));
        assert_eq!(args(&["h:1"]), Ok(Command::Connect(target("h", 1))));
        assert_eq!(args(&["--", "h"]), Ok(Command::Connect(target("h", 8194))));
        assert_eq!(args(&["h", "--help"]), Ok(Command::Help));
        assert_eq!(args(&["-V"]), Ok(Command::Version));
        assert_eq!(
            args(&["--prot"]),
            Err("unknown option \"--prot\"".to_owned())
        );
        assert!(args(&["a", "b"]).is_err());
    }

    #[test]
    fn first_set_locale_variable_decides() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Language::from_env(env(&[])), Language::En);
        assert_eq!(
            Language::from_env(env(&[("LANG", "zh_CN.UTF-8")])),
            Language::Zh
        );
        assert_eq!(Language::from_env(env(&[("LANG", "zh_TW")])), Language::Zh);
        assert_eq!(
            Language::from_env(env(&[("LC_ALL", "C"), ("LANG", "zh_CN.UTF-8")])),
            Language::En
        );
        assert_eq!(
            Language::from_env(env(&[("LC_ALL", ""), ("LC_MESSAGES", "zh_CN")])),
            Language::Zh
        );
        assert_eq!(
            Language::from_env(env(&[("LC_MESSAGES", "en_US"), ("LANG", "zh_CN")])),
            Language::En
        );
    }

    #[test]
    fn notices() {
        assert_eq!(Language::En.left(), "[local] you left the chat room");
        assert_eq!(Language::Zh.left(), "【本机提示】退出聊天室");
        assert_eq!(Language::En.error("boom"), "[local] chat room error: boom");
        assert_eq!(Language::Zh.error("boom"), "【本机提示】聊天室异常：boom");
    }

    #[test]
    fn os_error_numbers_are_dropped() {
        let err = io::Error::from_raw_os_error(111); // ECONNREFUSED on Linux
        if cfg!(target_os = "linux") {
            assert_eq!(describe(&err), "connection refused");
        }
        let custom = io::Error::other("Odd thing");
        assert_eq!(describe(&custom), "odd thing");
    }
}
