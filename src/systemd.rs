//! The little of systemd's protocols chatd speaks, without extra crates:
//! notifications to the service manager (`sd_notify`: readiness, reloads,
//! stopping, status and the watchdog), socket activation (`sd_listen_fds`), and
//! recognizing the journal on stderr (`$JOURNAL_STREAM`).
//!
//! Everything here is a silent no-op when chatd was not started by systemd. The
//! environment is read once; the parsing is in pure functions, tested below.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::warn;

/// A connection to systemd's notification socket (`$NOTIFY_SOCKET`).
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// A notifier for a `$NOTIFY_SOCKET` value: an absolute path, or `@name` for
    /// a socket in Linux's abstract namespace.
    pub fn new(notify_socket: &OsStr) -> io::Result<Notifier> {
        let addr = notify_address(notify_socket)?;
        let socket = UnixDatagram::unbound()?;
        // A send must never block: the hub sends from its task, and stalling the
        // hub because the service manager is not reading would stall every client.
        // A notification that does not fit now is dropped (and reported); status
        // and watchdog messages are sent again anyway.
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, addr })
    }

    /// Sends `state`: one or more `KEY=VALUE` lines, such as `"READY=1"`.
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.addr)?;
        Ok(())
    }
}

/// The socket address a `$NOTIFY_SOCKET` value names. Like libsystemd, only an
/// absolute path or an abstract name (`@name`) is accepted.
fn notify_address(value: &OsStr) -> io::Result<SocketAddr> {
    let bytes = value.as_encoded_bytes();
    match bytes.split_first() {
        Some((b'@', name)) if !name.is_empty() => SocketAddr::from_abstract_name(name),
        Some((b'/', rest)) if !rest.is_empty() => SocketAddr::from_pathname(value),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={value:?} is neither an absolute path nor an @abstract name"),
        )),
    }
}

/// The notifier for this process, made on first use from `$NOTIFY_SOCKET`:
/// `Ok(None)` when it is unset, `Err` (with the reason) when it is unusable.
fn notifier() -> &'static Result<Option<Notifier>, String> {
    static NOTIFIER: OnceLock<Result<Option<Notifier>, String>> = OnceLock::new();
    NOTIFIER.get_or_init(|| match std::env::var_os("NOTIFY_SOCKET") {
        None => Ok(None),
        Some(value) => Notifier::new(&value).map(Some).map_err(|e| e.to_string()),
    })
}

/// Sends `state` (e.g. `"READY=1"`) to systemd if chatd runs under it, and does
/// nothing otherwise. Errors are for the caller to log: systemd not listening
/// must never stop the daemon.
pub fn notify(state: &str) -> io::Result<()> {
    match notifier() {
        Ok(None) => Ok(()),
        Ok(Some(notifier)) => notifier.send(state),
        Err(reason) => Err(io::Error::new(io::ErrorKind::InvalidInput, reason.clone())),
    }
}

/// [`notify`], where failing is worth a warning, never an exit.
pub fn notify_or_warn(state: &str) {
    if let Err(err) = notify(state) {
        crate::warn!("sd_notify {state:?} failed: {err}");
    }
}

/// The watchdog interval systemd asked for (`WatchdogSec=` in the unit), if any.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    parse_watchdog(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// `WATCHDOG_USEC` as a duration, when it is set, positive, and meant for this
/// process: `WATCHDOG_PID` is `own_pid` or unset.
fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    match usec?.trim().parse::<u64>() {
        Ok(0) | Err(_) => None,
        Ok(usec) => Some(Duration::from_micros(usec)),
    }
}

/// What the hub tells systemd as it runs: a `STATUS=` line whenever the number
/// of clients changes (shown by `systemctl status chatd`) and `WATCHDOG=1` at half
/// the watchdog interval. Driven by the hub's once-a-second tick, so a watchdog
/// ping proves that the hub itself, the heart of the daemon, is still turning.
#[derive(Debug)]
pub struct Heartbeat {
    /// False when there is no `$NOTIFY_SOCKET`: then [`tick`](Self::tick) costs nothing.
    enabled: bool,
    /// Ping at least this often; `None` without a watchdog.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
    last_status: Option<Status>,
    /// Whether the last send failed; only the first failure in a row is logged.
    failing: bool,
}

/// The numbers in the `STATUS=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    clients: usize,
    registered: usize,
    /// Rooms besides the lobby.
    rooms: usize,
    stopping: bool,
}

impl Heartbeat {
    /// A heartbeat for this process: enabled when `$NOTIFY_SOCKET` is usable, with
    /// the watchdog when systemd set one.
    pub fn from_env() -> Heartbeat {
        let enabled = matches!(notifier(), Ok(Some(_)));
        Heartbeat::new(enabled, watchdog_interval())
    }

    fn new(enabled: bool, watchdog: Option<Duration>) -> Heartbeat {
        Heartbeat {
            enabled,
            // Half the interval, as sd_watchdog_enabled(3) recommends, so one late
            // tick does not get chatd killed.
            ping_every: watchdog.map(|interval| interval / 2),
            last_ping: None,
            last_status: None,
            failing: false,
        }
    }

    /// Called on every hub tick with the current counts; sends what is due.
    pub fn tick(
        &mut self,
        now: Instant,
        clients: usize,
        registered: usize,
        rooms: usize,
        stopping: bool,
    ) {
        let status = Status {
            clients,
            registered,
            rooms,
            stopping,
        };
        let Some(message) = self.due(now, status) else {
            return;
        };
        match notify(&message) {
            Ok(()) => self.failing = false,
            Err(err) => {
                if !self.failing {
                    warn!("sd_notify {message:?} failed: {err}");
                }
                self.failing = true;
            }
        }
    }

    /// The message to send at `now`, if any, and records it as sent.
    fn due(&mut self, now: Instant, status: Status) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let mut lines = Vec::new();
        if let Some(every) = self.ping_every
            && self
                .last_ping
                .is_none_or(|last| now.duration_since(last) >= every)
        {
            self.last_ping = Some(now);
            lines.push("WATCHDOG=1".to_owned());
        }
        if self.last_status != Some(status) {
            self.last_status = Some(status);
            let Status {
                clients,
                registered,
                rooms,
                stopping,
            } = status;
            let stopping = if stopping { "shutting down: " } else { "" };
            let rooms = match rooms {
                0 => String::new(),
                1 => ", 1 room".to_owned(),
                n => format!(", {n} rooms"),
            };
            lines.push(format!(
                "STATUS={stopping}{clients} connected, {registered} registered{rooms}"
            ));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// The listening socket systemd passed, if `LISTEN_FDS` is set and `LISTEN_PID` is
/// this process. Passing more than one socket is an error: chatd listens on one.
///
/// The socket is taken as it is. Dropping it later closes only chatd's copy; it
/// must never be shut down, since the listening socket is shared with systemd,
/// which keeps it open for the next start.
pub fn listener_from_systemd() -> io::Result<Option<TcpListener>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let count = parse_listen_fds(pid.as_deref(), fds.as_deref(), std::process::id())
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    if count == 0 {
        return Ok(None);
    }
    check_listen_fd()?;
    let listener = take_listen_fd();
    // A socket of another family (a Unix socket, say) has no IP address.
    listener.local_addr().map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("fd {LISTEN_FDS_START} is not a TCP socket: {err}"),
        )
    })?;
    Ok(Some(listener))
}

/// How many sockets systemd passed to the process `own_pid`: 0 when the variables
/// are unset or meant for another process (the parent that exec'd us, say).
fn parse_listen_fds(pid: Option<&str>, fds: Option<&str>, own_pid: u32) -> Result<u32, String> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(0);
    };
    if pid.trim().parse::<u32>().ok() != Some(own_pid) {
        return Ok(0);
    }
    match fds.trim().parse::<u32>() {
        Ok(count @ (0 | 1)) => Ok(count),
        Ok(_) => Err(format!(
            "LISTEN_FDS={fds:?}: chatd takes exactly one listening socket"
        )),
        Err(_) => Err(format!("LISTEN_FDS={fds:?} is not a number")),
    }
}

/// Checks, where `/proc` lets us, that fd 3 is an open socket before it is taken,
/// and not one chatd cannot accept on: a wrong `LISTEN_FDS` or a `ListenDatagram=`
/// unit should be an error message at start, not a misused descriptor or an
/// accept loop failing forever.
fn check_listen_fd() -> io::Result<()> {
    let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    let fd = LISTEN_FDS_START;
    let path = format!("/proc/self/fd/{fd}");
    let is_socket = match std::fs::metadata(&path) {
        Ok(meta) => meta.file_type().is_socket(),
        Err(err)
            if err.kind() == io::ErrorKind::NotFound
                && std::path::Path::new("/proc/self/fd").is_dir() =>
        {
            return invalid(format!("LISTEN_FDS is set but fd {fd} is not open"));
        }
        // No /proc to ask: trust the protocol.
        Err(_) => return Ok(()),
    };
    if !is_socket {
        return invalid(format!("fd {fd} is not a socket"));
    }
    // The link reads `socket:[INODE]`; the kernel's socket tables say what it is.
    let Some(inode) = std::fs::read_link(&path)
        .ok()
        .and_then(|target| socket_inode(target.to_str()?))
    else {
        return Ok(());
    };
    let table = |name: &str| std::fs::read_to_string(format!("/proc/self/net/{name}"));
    for name in ["tcp", "tcp6"] {
        if let Ok(text) = table(name)
            && let Some(state) = socket_state(&text, inode)
        {
            if state == TCP_LISTEN {
                return Ok(());
            }
            return invalid(format!("fd {fd} is a TCP socket that is not listening"));
        }
    }
    for name in ["udp", "udp6"] {
        if let Ok(text) = table(name)
            && socket_state(&text, inode).is_some()
        {
            return invalid(format!(
                "fd {fd} is a datagram socket; chatd needs a stream socket (ListenStream=)"
            ));
        }
    }
    // Listening, or in no table we can read (a socket from another network
    // namespace, say): the checks after taking it have the last word.
    Ok(())
}

/// The state column's value for a listening socket in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// The inode in a socket's `/proc/self/fd` link target, `socket:[INODE]`.
fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The state column (`st`, hexadecimal) of the socket with `inode` in a table in
/// the format of `/proc/net/tcp` and `/proc/net/udp`, if it is there.
fn socket_state(table: &str, inode: u64) -> Option<&str> {
    // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let found = fields.get(9)?.parse::<u64>().ok()? == inode;
        found.then(|| fields.get(3).copied()).flatten()
    })
}

/// Takes ownership of fd 3.
#[allow(unsafe_code)]
fn take_listen_fd() -> TcpListener {
    use std::os::fd::FromRawFd;
    // SAFETY: systemd's socket-activation protocol says fd 3 is an open socket
    // handed to this process (LISTEN_PID is our pid, and `check_listen_fd` saw an
    // open socket there), and nothing in chatd opens or owns fd 3 before this
    // runs, once, at start-up; so taking ownership is sound. When the listener is
    // dropped only our copy closes; systemd keeps its own and the socket stays bound.
    unsafe { TcpListener::from_raw_fd(LISTEN_FDS_START) }
}

/// Whether stderr is connected to the journal: `$JOURNAL_STREAM` is set and
/// names stderr's device and inode. Checking the inode, as systemd.exec(5)
/// advises, keeps journal prefixes out of a file or terminal that a program
/// started from a service (a shell in a terminal emulator, say) writes to
/// after inheriting the variable.
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some(value) = value.to_str() else {
        return false;
    };
    // fstat on a duplicate of fd 2: std offers no safe fstat on a borrowed fd.
    let stat = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| File::from(fd).metadata());
    match stat {
        Ok(meta) => journal_stream_matches(value, meta.dev(), meta.ino()),
        Err(_) => false,
    }
}

/// Whether a `$JOURNAL_STREAM` value (`DEVICE:INODE`, in decimal) names the file
/// with `dev` and `ino`.
fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(clients: usize, registered: usize) -> Status {
        Status {
            clients,
            registered,
            rooms: 0,
            stopping: false,
        }
    }

    #[test]
    fn notify_address_takes_paths_and_abstract_names() {
        let path = notify_address(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let abstract_name = notify_address(OsStr::new("@chatd/notify")).unwrap();
        assert_eq!(abstract_name.as_abstract_name(), Some(&b"chatd/notify"[..]));
        assert_eq!(abstract_name.as_pathname(), None);
    }

    #[test]
    fn notify_address_rejects_relative_and_empty_values() {
        for bad in ["", "@", "/", "run/notify", "notify"] {
            let err = notify_address(OsStr::new(bad)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        let err = notify_address(OsStr::new("run/notify")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"NOTIFY_SOCKET="run/notify" is neither an absolute path nor an @abstract name"#
        );
    }

    #[test]
    fn notifier_sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("chatd-systemd-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path); // Left over from an earlier run, if any.
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let notifier = Notifier::new(path.as_os_str()).unwrap();
        notifier.send("READY=1\nSTATUS=up").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notifier_sends_to_an_abstract_socket() {
        let name = format!("chatd-systemd-unit-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let notifier = Notifier::new(OsStr::new(&format!("@{name}"))).unwrap();
        notifier.send("STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn notifier_reports_a_missing_socket() {
        let notifier = Notifier::new(OsStr::new("/nonexistent/chatd/notify")).unwrap();
        let err = notifier.send("READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn watchdog_needs_a_positive_interval_for_this_process() {
        let ten_secs = Some(Duration::from_secs(10));
        assert_eq!(parse_watchdog(Some("10000000"), None, 42), ten_secs);
        assert_eq!(parse_watchdog(Some("10000000"), Some("42"), 42), ten_secs);
        assert_eq!(parse_watchdog(Some("10000000"), Some("41"), 42), None);
        assert_eq!(parse_watchdog(Some("10000000"), Some("x"), 42), None);
        assert_eq!(parse_watchdog(None, Some("42"), 42), None);
        assert_eq!(parse_watchdog(Some("0"), None, 42), None);
        assert_eq!(parse_watchdog(Some("-5"), None, 42), None);
        assert_eq!(parse_watchdog(Some("10s"), None, 42), None);
    }

    #[test]
    fn heartbeat_is_silent_without_notify_socket() {
        let mut beat = Heartbeat::new(false, Some(Duration::from_secs(2)));
        assert_eq!(beat.due(Instant::now(), status(3, 2)), None);
    }

    #[test]
    fn heartbeat_sends_status_only_when_counts_change() {
        let mut beat = Heartbeat::new(true, None);
        let now = Instant::now();
        assert_eq!(
            beat.due(now, status(0, 0)).as_deref(),
            Some("STATUS=0 connected, 0 registered")
        );
        assert_eq!(beat.due(now, status(0, 0)), None);
        assert_eq!(
            beat.due(now, status(3, 2)).as_deref(),
            Some("STATUS=3 connected, 2 registered")
        );
        let stopping = Status {
            stopping: true,
            ..status(3, 2)
        };
        assert_eq!(
            beat.due(now, stopping).as_deref(),
            Some("STATUS=shutting down: 3 connected, 2 registered")
        );
    }

    #[test]
    fn heartbeat_pings_the_watchdog_at_half_the_interval() {
        let mut beat = Heartbeat::new(true, Some(Duration::from_secs(10)));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(
            beat.due(at(0), status(0, 0)).as_deref(),
            Some("WATCHDOG=1\nSTATUS=0 connected, 0 registered")
        );
        assert_eq!(beat.due(at(4), status(0, 0)), None);
        assert_eq!(beat.due(at(5), status(0, 0)).as_deref(), Some("WATCHDOG=1"));
        assert_eq!(
            beat.due(at(6), status(1, 0)).as_deref(),
            Some("STATUS=1 connected, 0 registered")
        );
        assert_eq!(beat.due(at(9), status(1, 0)), None);
        assert_eq!(
            beat.due(at(10), status(1, 0)).as_deref(),
            Some("WATCHDOG=1")
        );
    }

    #[test]
    fn listen_fds_must_be_for_this_process() {
        assert_eq!(parse_listen_fds(None, None, 42), Ok(0));
        assert_eq!(parse_listen_fds(Some("42"), None, 42), Ok(0));
        assert_eq!(parse_listen_fds(None, Some("1"), 42), Ok(0));
        assert_eq!(parse_listen_fds(Some("41"), Some("1"), 42), Ok(0));
        assert_eq!(parse_listen_fds(Some("x"), Some("1"), 42), Ok(0));
        assert_eq!(parse_listen_fds(Some("42"), Some("1"), 42), Ok(1));
        assert_eq!(parse_listen_fds(Some("42"), Some("0"), 42), Ok(0));
    }

    #[test]
    fn listen_fds_other_than_one_socket_are_errors() {
        assert_eq!(
            parse_listen_fds(Some("42"), Some("2"), 42),
            Err(r#"LISTEN_FDS="2": chatd takes exactly one listening socket"#.to_owned())
        );
        assert_eq!(
            parse_listen_fds(Some("42"), Some("one"), 42),
            Err(r#"LISTEN_FDS="one" is not a number"#.to_owned())
        );
        // Meant for another process: not ours to judge.
        assert_eq!(parse_listen_fds(Some("41"), Some("2"), 42), Ok(0));
    }

    #[test]
    fn socket_inode_reads_the_fd_link() {
        assert_eq!(socket_inode("socket:[31467]"), Some(31_467));
        assert_eq!(socket_inode("pipe:[31467]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn socket_state_finds_the_inode_in_a_proc_table() {
        let tcp = concat!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
            "   0: 0100007F:2002 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31467 1 0000000000000000 100 0 0 10 0\n",
            "   1: 0100007F:2002 0100007F:D8F2 01 00000000:00000000 00:00000000 00000000     0        0 31999 1 0000000000000000 20 4 30 10 -1\n",
        );
        assert_eq!(socket_state(tcp, 31_467), Some("0A"));
        assert_eq!(socket_state(tcp, 31_999), Some("01"));
        assert_eq!(socket_state(tcp, 1), None);
        assert_eq!(socket_state("", 31_467), None);
    }

    #[test]
    fn journal_stream_names_device_and_inode() {
        assert!(journal_stream_matches("8:123456", 8, 123_456));
        assert!(!journal_stream_matches("8:123456", 8, 123_457));
        assert!(!journal_stream_matches("9:123456", 8, 123_456));
        assert!(!journal_stream_matches("8", 8, 123_456));
        assert!(!journal_stream_matches("", 8, 123_456));
        assert!(!journal_stream_matches("8:123456:7", 8, 123_456));
        assert!(!journal_stream_matches("x:y", 8, 123_456));
    }
}
