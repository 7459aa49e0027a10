//! `chat`, the client that ships with chatd (the tutorial's `chat-client.js`).
//!
//! Four threads and one decision-maker:
//! - `copy_server_to_stdout` writes the server's bytes to stdout exactly as they
//!   arrive, one flush per chunk, so colors, prompts and partial lines show at once;
//! - `copy_stdin_to_server` reads stdin line by line and queues the lines, then at
//!   end of input a goodbye; on a terminal `edit_stdin_to_server` instead runs
//!   the line editor (`term`, `editor`), which keeps the half-typed line intact
//!   below whatever the server prints;
//! - `write_to_server`, the one writer of the socket, sends them in order, and for
//!   the goodbye sends `/quit` and half-closes the connection;
//! - a signal thread turns SIGINT/SIGTERM into the same goodbye (and SIGWINCH
//!   into a redraw);
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM, SIGWINCH};

mod args;
mod editor;
mod keys;
mod names;
mod term;
mod width;

use args::{Command, Target, parse_args, usage};
use keys::{Decoder, Key};
use term::{Input, Screen};

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
/// The line editor's bound on a line, the same.
const MAX_EDITED_LINE: usize = 64 * 1024;
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
        Outcome::Refused => (Some(language.refused()), ExitCode::FAILURE),
        Outcome::StdoutGone => (None, ExitCode::SUCCESS),
    };
    if let Some(notice) = notice {
        // Nothing useful is left to do if stderr is gone too.
        let _ = writeln!(io::stderr(), "{notice}");
    }
    status
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

    /// The server turned us away.
    fn refused(self) -> String {
        match self {
            Language::En => "[local] the chat room turned you away".to_owned(),
            Language::Zh => "【本机提示】聊天室拒绝了连接".to_owned(),
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
    /// The server turned us away before the banner (full, too many connections
    /// from this address, banned); its one line is on stdout already.
    Refused,
    /// Nobody reads our output any more (`chat | head -1`): leave without a word.
    StdoutGone,
}

/// What the threads tell `main`.
#[derive(Debug)]
enum Event {
    /// The server closed the connection; everything it sent is on stdout.
    ServerClosed,
    /// The server closed the connection after one `! ` line and nothing else.
    ServerRefused,
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

/// The line editor's screen, shared by the threads that draw on it.
type SharedScreen = Arc<Mutex<Screen>>;

/// Locks the screen. A panic ends the process (see `term::enter_raw_mode`), so a
/// poisoned lock is never seen by anyone who could care.
fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    screen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Raw mode for as long as it lives: dropping it leaves the input line on
/// screen and puts the terminal back, whichever way `run` returns.
struct RawMode(SharedScreen);

impl RawMode {
    /// Raw mode with the line editor, when stdin and stdout are a terminal that
    /// allows it; otherwise `None`, and `chat` works line by line as in a pipe.
    fn enter() -> Option<RawMode> {
        if !term::wanted() || term::enter_raw_mode().is_err() {
            return None;
        }
        let screen = Screen::new(term::width(), MAX_EDITED_LINE);
        Some(RawMode(Arc::new(Mutex::new(screen))))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // The session is over either way; a terminal that cannot be written to
        // any more has nothing left to show.
        let _ = lock(&self.0).finish();
        term::restore();
    }
}

/// Runs a connected session to its end.
fn run(stream: TcpStream) -> Outcome {
    let reader = match stream.try_clone() {
        Ok(reader) => reader,
        Err(err) => return Outcome::Failed(describe(&err)),
    };
    // Unbounded, but each thread sends one event before it ends; only the signal
    // thread (one per signal) and the line editor (one per Ctrl-C) send more.
    let (events, inbox) = mpsc::channel();
    let (outgoing, queue) = mpsc::sync_channel(OUTGOING_QUEUE);
    let leaving = Arc::new(AtomicBool::new(false));
    let raw_mode = RawMode::enter();
    let screen = raw_mode.as_ref().map(|raw| Arc::clone(&raw.0));
    // Signals are caught only now that we are connected: until then Ctrl-C
    // should simply end the program, even during a slow connect.
    if let Err(err) = forward_signals(events.clone(), screen.clone()) {
        return Outcome::Failed(format!(
            "cannot install signal handlers: {}",
            describe(&err)
        ));
    }
    let started = spawn("server-reader", {
        let (events, screen) = (events.clone(), screen.clone());
        move || copy_server_to_stdout(reader, screen, events)
    })
    .and_then(|()| {
        let (events, leaving) = (events.clone(), Arc::clone(&leaving));
        spawn("server-writer", move || {
            write_to_server(stream, &queue, &leaving, events)
        })
    })
    .and_then(|()| {
        let (outgoing, leaving) = (outgoing.clone(), Arc::clone(&leaving));
        match screen.clone() {
            Some(screen) => spawn("line-editor", move || {
                edit_stdin_to_server(&screen, &outgoing, &leaving, &events)
            }),
            None => spawn("stdin-reader", move || {
                copy_stdin_to_server(&outgoing, &leaving)
            }),
        }
    });
    if let Err(err) = started {
        return Outcome::Failed(format!("cannot start a thread: {}", describe(&err)));
    }
    // The line editor shows Ctrl-C itself; a terminal in cooked mode echoed `^C`.
    let echoed_interrupt = screen.is_none() && io::stderr().is_terminal();
    decide(&inbox, &outgoing, &leaving, echoed_interrupt)
}

/// Waits for the events that end the session. Until the user leaves, anything
/// the server does decides; once we have said goodbye (or tried to), the server
/// gets [`GOODBYE_TIMEOUT`] to close, and then we leave anyway.
fn decide(
    inbox: &Receiver<Event>,
    outgoing: &SyncSender<Outgoing>,
    leaving: &AtomicBool,
    echoed_interrupt: bool,
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
            Event::ServerRefused => return Outcome::Refused,
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
                if echoed_interrupt {
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
/// without a newline shows at once). With the line editor, each chunk goes
/// above the input line, which is drawn again below it.
fn copy_server_to_stdout(
    mut server: TcpStream,
    screen: Option<SharedScreen>,
    events: Sender<Event>,
) {
    let mut chunk = [0u8; 8192];
    // The start of what the server said, to tell a refusal from a session.
    let mut first = Vec::new();
    let event = loop {
        match server.read(&mut chunk) {
            Ok(0) if is_refusal(&first) => break Event::ServerRefused,
            Ok(0) => break Event::ServerClosed,
            Ok(n) => {
                if first.len() < REFUSAL_MAX {
                    first.extend_from_slice(&chunk[..n.min(REFUSAL_MAX)]);
                }
                let shown = match &screen {
                    Some(screen) => lock(screen).show_server(&chunk[..n]),
                    None => {
                        let mut stdout = io::stdout().lock();
                        stdout.write_all(&chunk[..n]).and_then(|()| stdout.flush())
                    }
                };
                if shown.is_err() {
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

/// More than any refusal line chatd sends (a ban's reason included).
const REFUSAL_MAX: usize = 1024;

/// Whether `said`, everything the server sent before closing, is a refusal:
/// one `! ` line and nothing else. A session always starts with the banner.
fn is_refusal(said: &[u8]) -> bool {
    said.len() < REFUSAL_MAX
        && said.starts_with(b"! ")
        && said.ends_with(b"\n")
        && said.iter().filter(|&&b| b == b'\n').count() == 1
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

/// The line editor's thread: reads keys from the terminal, edits the line on
/// `screen` and queues each line entered; Ctrl-D on an empty line (or the end
/// of input) asks for the goodbye, Ctrl-C is [`Event::Interrupted`] as SIGINT is
/// in cooked mode. After the goodbye or the first Ctrl-C only Ctrl-C counts.
fn edit_stdin_to_server(
    screen: &Mutex<Screen>,
    outgoing: &SyncSender<Outgoing>,
    leaving: &AtomicBool,
    events: &Sender<Event>,
) {
    let mut decoder = Decoder::default();
    let mut stdin = io::stdin().lock();
    let mut bytes = [0u8; 1024];
    let mut said_goodbye = false;
    loop {
        let n = match stdin.read(&mut bytes) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break, // As the end of input.
        };
        for key in bytes[..n].iter().filter_map(|&byte| decoder.feed(byte)) {
            let done = said_goodbye || leaving.load(Ordering::SeqCst);
            if done && key != Key::Ctrl(b'c') {
                continue;
            }
            // A screen that cannot be drawn on is the server reader's to
            // report (it writes to the same stdout); the keys still count.
            let input = lock(screen).key(key).unwrap_or(Input::Nothing);
            match input {
                Input::Nothing => {}
                Input::Line(line) => {
                    let mut line = line.into_bytes();
                    line.push(b'\n');
                    // Not sent only once the writer is done: nothing to send to.
                    if outgoing.send(Outgoing::Line(line)).is_err() {
                        said_goodbye = true;
                    }
                }
                Input::Interrupt => {
                    // `main` may have finished already; then nobody needs to know.
                    let _ = events.send(Event::Interrupted);
                }
                Input::Eof => {
                    // Ignored if the writer is already done.
                    let _ = outgoing.send(Outgoing::Goodbye);
                    said_goodbye = true;
                }
            }
        }
    }
    if !said_goodbye {
        // Ignored if the writer is already done (it said goodbye or failed).
        let _ = outgoing.send(Outgoing::Goodbye);
    }
}

/// Turns SIGINT and SIGTERM into [`Event::Interrupted`], so Ctrl-C says goodbye
/// instead of killing the program mid-line; with the line editor, SIGWINCH
/// makes it draw the line again at the new width.
fn forward_signals(events: Sender<Event>, screen: Option<SharedScreen>) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    if screen.is_some() {
        signals.add_signal(SIGWINCH)?;
    }
    spawn("signals", move || {
        for signal in signals.forever() {
            if signal == SIGWINCH {
                if let Some(screen) = &screen {
                    // A failed redraw is the server reader's to report.
                    let _ = lock(screen).resize(term::width());
                }
            } else if events.send(Event::Interrupted).is_err() {
                return; // `main` has finished.
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bang_line_and_nothing_else_is_a_refusal() {
        assert!(is_refusal(b"! server full, try again later\r\n"));
        assert!(is_refusal(b"! you are banned\n"));
        // A session starts with the banner; a notice inside one is no refusal.
        assert!(!is_refusal(b"> Welcome to chatd\r\n"));
        assert!(!is_refusal(b"> Welcome to chatd\r\n! too long\r\n"));
        assert!(!is_refusal(b"! full\r\n! again\r\n"));
        assert!(!is_refusal(b"! cut off"));
        assert!(!is_refusal(b""));
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
