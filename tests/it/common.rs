//! Shared helpers for the integration tests: start the real `chatd` binary with a
//! temporary config on an ephemeral port, and talk to it over real TCP.
//!
//! Every read has a timeout ([`TIMEOUT`]); nothing waits with a fixed sleep.

use std::io::{BufRead, BufReader, ErrorKind, PipeReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Settings every test server gets unless the test overrides them: loopback, an
/// ephemeral port, no colors (exact bytes are easier to assert), no flood control.
pub const BASE_CONFIG: &str =
    "address = \"127.0.0.1\"\nport = 0\ncolors = false\nflood_burst = 0\nflood_lines_per_sec = 0\n";

/// A unique temporary directory for this test process.
pub fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("chatd-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The one way to run `chatd` in a test: `chatd()`, then what differs from the
/// defaults, then [`start`](Chatd::start) (a server, waited for until it
/// listens), [`spawn`](Chatd::spawn) (a server, not waited for: for tests of
/// start-up itself) or [`run`](Chatd::run) (a command that ends by itself:
/// `--help`, `--check-config`, `ctl`, a start that must fail).
///
/// Defaults: a config file of [`BASE_CONFIG`] passed with `--config`, stdin
/// closed, stdout discarded, stderr read as the log, none of systemd's variables
/// from the test's own environment.
pub fn chatd() -> Chatd {
    Chatd {
        config: Some(merge_config(BASE_CONFIG, "")),
        args: Vec::new(),
        env: Vec::new(),
        wrapper: Vec::new(),
        stdin: None,
        journal: false,
    }
}

/// What [`chatd()`] builds; see there.
pub struct Chatd {
    config: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
    stdin: Option<Stdio>,
    journal: bool,
}

impl Chatd {
    /// Config lines over [`BASE_CONFIG`] (a key given in both is taken from `extra`).
    pub fn config(mut self, extra: &str) -> Chatd {
        self.config = Some(merge_config(BASE_CONFIG, extra));
        self
    }

    /// The config file's exact text, without [`BASE_CONFIG`].
    pub fn config_text(mut self, text: &str) -> Chatd {
        self.config = Some(text.to_owned());
        self
    }

    /// No config file and no `--config`: the test's arguments say everything.
    pub fn no_config(mut self) -> Chatd {
        self.config = None;
        self
    }

    /// Command-line arguments, after `--config PATH`.
    pub fn args(mut self, args: &[&str]) -> Chatd {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// One environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Chatd {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs chatd under `wrapper` (a program and its arguments; chatd's path and
    /// arguments follow them), e.g. `["systemd-socket-activate", "-l", ADDR]` or
    /// `["sh", "-c", "ulimit -n 64; exec \"$0\" \"$@\""]`. A server's wrapper must
    /// `exec` chatd so that [`Server::child`] is chatd itself.
    pub fn wrapper(mut self, wrapper: &[&str]) -> Chatd {
        self.wrapper = wrapper.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Standard input (closed by default), e.g. a listening socket to pass on.
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Chatd {
        self.stdin = Some(stdin.into());
        self
    }

    /// Connects stderr the way systemd connects it to the journal:
    /// `JOURNAL_STREAM` names stderr's device and inode.
    pub fn journal(mut self) -> Chatd {
        self.journal = true;
        self
    }

    /// Starts the server and waits (at most [`TIMEOUT`]) for it to listen.
    pub fn start(self) -> Server {
        let mut server = self.spawn();
        server.wait_listening();
        server
    }

    /// Starts the server and returns at once; `addr` is left at `127.0.0.1:0`
    /// for the test to fill in (or [`Server::wait_listening`]).
    pub fn spawn(self) -> Server {
        let (mut command, config_path, stderr) = self.command();
        command.stdout(Stdio::null());
        let child = command.spawn().expect("start chatd");
        // The command holds our copy of the pipe's write end; the log ends only
        // when every copy is closed, so it must go for `drain_log` to see chatd exit.
        drop(command);
        Server {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            config_path: config_path.unwrap_or_default(),
            log: spawn_line_reader(stderr),
            log_lines: Vec::new(),
        }
    }

    /// Runs chatd until it exits, at most [`TIMEOUT`], and returns what it printed.
    pub fn run(self) -> Finished {
        let (mut command, config_path, stderr) = self.command();
        let description = format!("{command:?}");
        command.stdout(Stdio::piped());
        let mut child = command.spawn().expect("start chatd");
        drop(command); // our copy of stderr's write end
        let stdout = spawn_reader(child.stdout.take().expect("stdout"));
        let stderr = spawn_reader(stderr);
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                // Killing a process that exited meanwhile fails harmlessly.
                let _ = child.kill();
                let _ = child.wait();
                panic!("{description} still running after {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10)); // polling, not synchronizing
        };
        let text = |rx: Receiver<Vec<u8>>| {
            let bytes = rx.recv_timeout(TIMEOUT).expect("output not closed");
            String::from_utf8(bytes).expect("chatd printed invalid UTF-8")
        };
        Finished {
            status,
            stdout: text(stdout),
            stderr: text(stderr),
            config_path,
        }
    }

    /// The command (stdout still to be set), the config file it names, and the
    /// read end of its stderr.
    fn command(self) -> (Command, Option<PathBuf>, PipeReader) {
        let chatd = env!("CARGO_BIN_EXE_chatd");
        let mut command = match self.wrapper.split_first() {
            None => Command::new(chatd),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(chatd);
                command
            }
        };
        for key in [
            "JOURNAL_STREAM",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
        ] {
            command.env_remove(key);
        }
        let config_path = self.config.map(|text| {
            let path = write_temp_file("chatd.conf", &text);
            command.arg("--config").arg(&path);
            path
        });
        command.args(&self.args);
        let (reader, writer) = std::io::pipe().expect("pipe");
        if self.journal {
            use std::os::unix::fs::MetadataExt;
            let dup = writer.try_clone().expect("dup pipe");
            let stat = std::fs::File::from(std::os::fd::OwnedFd::from(dup))
                .metadata()
                .expect("fstat pipe");
            command.env("JOURNAL_STREAM", format!("{}:{}", stat.dev(), stat.ino()));
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .stdin(self.stdin.unwrap_or_else(Stdio::null))
            .stderr(writer);
        (command, config_path, reader)
    }
}

/// A running `chatd` process; killed when dropped.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The config file it was started with (empty with [`Chatd::no_config`]).
    pub config_path: PathBuf,
    log: Receiver<String>,
    /// Every log line read so far.
    pub log_lines: Vec<String>,
}

impl Server {
    /// Waits for the "listening on" log line and takes the address from it.
    pub fn wait_listening(&mut self) {
        let line = self.wait_log("listening on ");
        let addr = line.rsplit("listening on ").next().unwrap().trim();
        self.addr = addr.parse().expect("listening address");
    }

    /// Waits for a log line containing `pattern` and returns it.
    pub fn wait_log(&mut self, pattern: &str) -> String {
        self.wait_log_since(0, &format!("containing {pattern:?}"), |line| {
            line.contains(pattern)
        })
    }

    /// Waits for a log line for which `matches` is true, among the lines from index
    /// `from` of [`log_lines`](Self::log_lines) on (take `log_lines.len()` before
    /// the action whose log line you wait for); `what` describes it for the failure.
    pub fn wait_log_since(
        &mut self,
        from: usize,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let seen = self.log_lines.get(from..).unwrap_or_default();
        if let Some(line) = seen.iter().find(|l| matches(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.log_lines.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no log line {what} within {TIMEOUT:?}; log so far:\n{}",
                    self.log_lines.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "chatd exited before logging a line {what}; log:\n{}",
                    self.log_lines.join("\n")
                ),
            }
        }
    }

    /// Replaces the config file with [`BASE_CONFIG`] and `extra`, as [`start`](Self::start)
    /// wrote it; the server reads it again on SIGHUP.
    pub fn rewrite_config(&self, extra: &str) {
        std::fs::write(&self.config_path, merge_config(BASE_CONFIG, extra))
            .expect("rewrite config");
    }

    /// Reads log lines until stderr closes (the process exited); returns them all.
    pub fn drain_log(&mut self) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => self.log_lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return self.log_lines.clone(),
                Err(RecvTimeoutError::Timeout) => panic!("stderr still open after {TIMEOUT:?}"),
            }
        }
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"HUP"`, `"KILL"`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        send_signal(self.child.id(), name);
    }

    /// Waits (at most [`TIMEOUT`] plus `extra`) for the process to exit.
    pub fn wait_exit(&mut self, extra: Duration) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT + extra;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "chatd did not exit in time");
            std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
        }
    }

    /// Connects a raw client (nothing read yet).
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Connects from the local address `from` (see [`Client::connect_from`]);
    /// nothing read yet.
    pub fn connect_from(&self, from: &str) -> Client {
        Client::connect_from(self.addr, from)
    }

    /// Connects from `from`, reads the banner, registers `nick` and reads the
    /// welcome line.
    pub fn join_from(&self, from: &str, nick: &str) -> Client {
        let mut client = self.connect_from(from);
        client.read_banner();
        client.send(&format!("{nick}#\n"));
        client.expect_prefix(&format!("* Welcome, {nick}! "));
        client
    }

    /// Connects, reads the banner, registers `nick` and reads the welcome line.
    pub fn join(&self, nick: &str) -> Client {
        let mut client = self.connect();
        client.read_banner();
        client.send(&format!("{nick}#\n"));
        client.expect_prefix(&format!("* Welcome, {nick}! "));
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The process may have exited already; then there is nothing to kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The config's directory is this server's own (see `temp_dir`); a
        // failure to remove it leaves litter, not a wrong result.
        if let Some(dir) = self.config_path.parent()
            && dir.starts_with(std::env::temp_dir())
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sends signal `name` (`"TERM"`, `"INT"`, …) to process `pid` with `kill(1)`.
pub fn send_signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// `base` with each key that `extra` sets removed, then `extra`.
pub fn merge_config(base: &str, extra: &str) -> String {
    let key = |line: &str| line.split('=').next().unwrap_or("").trim().to_owned();
    let overridden: Vec<String> = extra
        .lines()
        .filter(|l| l.contains('=') && !l.trim_start().starts_with('#'))
        .map(key)
        .collect();
    let mut out: String = base
        .lines()
        .filter(|l| !overridden.contains(&key(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(extra);
    out.push('\n');
    out
}

/// What a `chatd` run that is expected to end by itself printed, and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// The config file it was given (`None` with [`Chatd::no_config`]).
    pub config_path: Option<PathBuf>,
}

/// Runs `chatd ctl --socket SOCKET ARGS…` to its end.
pub fn ctl(socket: &Path, args: &[&str]) -> Finished {
    let socket = socket.to_str().expect("UTF-8 path");
    let mut all = vec!["ctl", "--socket", socket];
    all.extend_from_slice(args);
    chatd().no_config().args(&all).run()
}

/// Starts chatd with a control socket (and `extra` settings); returns it and
/// the socket's path.
pub fn with_control(extra: &str) -> (Server, PathBuf) {
    let path = temp_dir().join("control.sock");
    let server = chatd()
        .config(&format!("control_socket = \"{}\"\n{extra}", path.display()))
        .start();
    (server, path)
}

/// `chatd ctl` succeeded; its output.
pub fn ctl_ok(path: &Path, args: &[&str]) -> String {
    let done = ctl(path, args);
    assert_eq!(done.status.code(), Some(0), "ctl {args:?}: {done:?}");
    done.stdout
}

/// Reads `source` to its end on a thread; the channel gets everything at once.
fn spawn_reader(mut source: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error ends the output early; the test sees what came before it.
        let _ = source.read_to_end(&mut bytes);
        // The test may have given up waiting already.
        let _ = tx.send(bytes);
    });
    rx
}

/// Writes `text` to a new file called `name` in a fresh temporary directory.
pub fn write_temp_file(name: &str, text: &str) -> PathBuf {
    let path = temp_dir().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

/// Reads lines from `source` on a thread and hands them over a channel.
pub fn spawn_line_reader(source: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A replayed history line without the time it was said (`[14:05] `, or
/// `[2026-12-02 14:05] ` on another day); None if it does not start with one.
pub fn replayed_text(line: &str) -> Option<&str> {
    line.strip_prefix('[')
        .and_then(|l| l.split_once("] "))
        .filter(|(time, _)| {
            let clock = time.rsplit(' ').next().unwrap_or("");
            clock.len() == 5 && clock.as_bytes()[2] == b':'
        })
        .map(|(_, rest)| rest)
}

/// A test client over a real TCP connection.
pub struct Client {
    /// The connection (for raw writes and shutdowns).
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr` with [`TIMEOUT`] on every read.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        Client::over(stream)
    }

    /// Connects to `addr` from the local address `from`: on loopback any of
    /// 127.0.0.0/8 will do, so that a test's clients can come from addresses of
    /// their own (bans and mutes bind to addresses).
    pub fn connect_from(addr: SocketAddr, from: &str) -> Client {
        use rustix::net::{AddressFamily, SocketType};
        let from: std::net::IpAddr = from.parse().expect("a local address");
        let family = if from.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let socket = rustix::net::socket(family, SocketType::STREAM, None).expect("socket");
        rustix::net::bind(&socket, &SocketAddr::new(from, 0)).expect("bind the local address");
        // On loopback a connect is answered at once; no timeout needed.
        rustix::net::connect(&socket, &addr).expect("connect");
        Client::over(TcpStream::from(socket))
    }

    /// A client over `stream`, with [`TIMEOUT`] on every read and write.
    fn over(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Client { stream, reader }
    }

    /// Sends raw text.
    pub fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes());
    }

    /// Sends raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads one line; it must end in `\r\n`, which is removed. Panics on EOF or timeout.
    pub fn read_line(&mut self) -> String {
        let bytes = self.read_raw_line();
        assert!(bytes.ends_with(b"\r\n"), "line without CRLF: {bytes:?}");
        String::from_utf8(bytes[..bytes.len() - 2].to_vec()).expect("server sent invalid UTF-8")
    }

    /// Reads one line's raw bytes including its terminator.
    pub fn read_raw_line(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self.reader.read_until(b'\n', &mut bytes) {
            Ok(0) => panic!("connection closed while waiting for a line"),
            Ok(_) => bytes,
            Err(e) => panic!("no line within {TIMEOUT:?}: {e} (partial: {bytes:?})"),
        }
    }

    /// Reads one line and checks it exactly.
    pub fn expect_line(&mut self, expected: &str) {
        let line = self.read_line();
        assert_eq!(line, expected);
    }

    /// Reads one replayed history line, which starts with when it was said
    /// (`[14:05] `, or `[2026-12-02 14:05] ` on another day), and checks the rest.
    pub fn expect_replayed(&mut self, expected: &str) {
        let line = self.read_line();
        assert_eq!(
            replayed_text(&line),
            Some(expected),
            "replayed line {line:?}"
        );
    }

    /// Reads one line and checks its start; returns the line.
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let line = self.read_line();
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}..., got {line:?}"
        );
        line
    }

    /// Reads lines until one contains `pattern`; returns the lines read, that one last.
    pub fn read_until(&mut self, pattern: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line();
            let found = line.contains(pattern);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }

    /// Reads the three banner lines (English).
    pub fn read_banner(&mut self) {
        self.expect_prefix("> Welcome to ");
        self.expect_prefix("> ");
        self.expect_line("> Please type your nickname followed by '#' and press Enter");
    }

    /// Reads until the server closes the connection; returns everything read.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => rest,
            Err(e) => panic!("connection not closed within {TIMEOUT:?}: {e}; read {rest:?}"),
        }
    }

    /// Half-closes: the server sees EOF.
    pub fn shutdown_write(&self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }
}

/// Connects, registers `nick` and reads the welcome, with `colors = true`.
pub fn join_in_color(server: &Server, nick: &str) -> Client {
    let mut client = server.connect();
    client.read_banner();
    client.send(&format!("{nick}#\n"));
    client.expect_prefix(&format!("* Welcome, \x1b[33m{nick}\x1b[39m! Online ("));
    client
}

/// A room with these users: a server on [`BASE_CONFIG`] and `names` registered
/// there in order (see [`Server::users`]).
pub fn room<const N: usize>(names: [&str; N]) -> (Server, [Client; N]) {
    let server = chatd().start();
    let users = server.users(names);
    (server, users)
}

impl Server {
    /// Registers `names` in order on a server where nobody else is registered,
    /// checking each welcome and the join notice that everyone before gets, so
    /// that each client returned has nothing left to read. English, no colors
    /// (as [`BASE_CONFIG`] has it).
    pub fn users<const N: usize>(&self, names: [&str; N]) -> [Client; N] {
        let mut joined: Vec<Client> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            // The room lists names in case-insensitive order.
            let mut online = names[..=i].to_vec();
            online.sort_by_key(|n| n.to_lowercase());
            let (count, list) = (i + 1, online.join(", "));
            let mut client = self.connect();
            client.read_banner();
            client.send(&format!("{name}#\n"));
            client.expect_line(&format!("* Welcome, {name}! Online ({count}): {list}"));
            for earlier in &mut joined {
                earlier.expect_line(&format!("* {name} joined ({count} online: {list})"));
            }
            joined.push(client);
        }
        joined.try_into().ok().expect("one client per name")
    }
}

// Helpers for the session, limits and sanitize tests.

impl Server {
    /// Joins `n` users named `{prefix}00`, `{prefix}01`, … in that order.
    pub fn join_many(&self, prefix: &str, n: usize) -> Vec<Client> {
        (0..n)
            .map(|i| self.join(&format!("{prefix}{i:02}")))
            .collect()
    }

    /// Connects and reads the banner, connecting again while the server turns the
    /// connection away: a slot freed by a close is handed back only after that
    /// connection's task has finished, a moment after the room logs the leave.
    /// Polls for at most [`TIMEOUT`].
    pub fn connect_admitted(&self) -> Client {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let mut client = self.connect();
            let first = client.read_line();
            if first.starts_with("> Welcome to ") {
                client.expect_prefix("> ");
                client.expect_line("> Please type your nickname followed by '#' and press Enter");
                return client;
            }
            assert!(
                first.starts_with("! "),
                "neither banner nor rejection: {first:?}"
            );
            client.expect_closed();
            assert!(
                Instant::now() < deadline,
                "still rejected after {TIMEOUT:?}: {first:?}"
            );
            std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
        }
    }

    /// Collects the log lines that have arrived by now, without waiting, and
    /// returns every log line read so far.
    pub fn log_so_far(&mut self) -> &[String] {
        while let Ok(line) = self.log.try_recv() {
            self.log_lines.push(line);
        }
        &self.log_lines
    }

    /// A memory figure of the server process in KiB from `/proc/PID/status`:
    /// `"VmRSS"` (resident now) or `"VmHWM"` (peak resident so far).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let prefix = format!("{field}:");
        let line = status
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"));
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad {line:?}"))
    }
}

impl Client {
    /// Reads `n` lines and returns their raw bytes, terminators included.
    pub fn read_raw_lines(&mut self, n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| self.read_raw_line()).collect()
    }

    /// Checks that the server closes the connection without sending anything more.
    pub fn expect_closed(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "expected the connection to close, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// A child process (an external client such as `nc`) killed when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // It may have exited by itself; then there is nothing to kill.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fails the test unless `program` is installed (on `PATH`). A test that calls
/// it carries `#[cfg_attr(not(has_PROGRAM), ignore = "…")]` (see build.rs), so
/// outside CI it is ignored where the tool is missing, visibly; under `CI=true`
/// it runs, and fails here.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "this test needs {program}, which is not installed (.ci/run installs it)"
    );
}

// Helpers for the robustness and abuse tests.

impl Server {
    /// How many file descriptors the server process has open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// How many file descriptors the server holds while idle: measured after one
    /// connection has come and gone, so that the event loop's own descriptors
    /// (created lazily, after "listening on" is logged) are counted.
    pub fn idle_fds(&self) -> usize {
        let mut probe = self.connect();
        probe.read_banner();
        let with_probe = self.open_fds();
        drop(probe);
        self.wait_open_fds_at_most(with_probe - 1)
    }

    /// Polls (at most [`TIMEOUT`]) until the server has at most `fds` descriptors
    /// open, as it closes the sockets of connections that ended; returns how many it
    /// has then.
    pub fn wait_open_fds_at_most(&self, fds: usize) -> usize {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let open = self.open_fds();
            if open <= fds || Instant::now() >= deadline {
                return open;
            }
            std::thread::sleep(Duration::from_millis(20)); // polling, not synchronizing
        }
    }
}

/// A loopback port that was free a moment ago, for tests that need a fixed port.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
    probe.local_addr().expect("probe address").port()
}
