//! Live upgrade: what travels from a running chatd to the new image it execs,
//! and how — everything but the state's contents, which each owner writes and
//! reads itself (the hub in `hub/handover.rs`, a connection's reader in
//! [`crate::connection`], the sockets in [`crate::server`]).
//!
//! The way over, in order (the server runs it; see `server.rs`):
//! 1. [`check_binary`]: the new file runs (`--version` says it is chatd and
//!    which state versions it reads) and accepts the config (`--check-config`
//!    with the daemon's own options). Anything wrong: nothing changes.
//! 2. The hub stops every reader and writer, finishes its round and writes the
//!    state ([`format`](mod@format)) — the point of no return begins here.
//! 3. [`write_memfd`] puts it in a memory file; [`exec`] clears close-on-exec
//!    on it and on every socket that must survive, names them in the
//!    environment ([`ENV_FD`], [`ENV_SOCKETS`]) and execs the new image in the
//!    same process (same PID: systemd's `MAINPID` and watchdog stay valid).
//!    If the exec fails, the descriptors get close-on-exec back and the old
//!    image resumes as if nothing had happened.
//! 4. The new image ([`take_state`]) reads the memory file and closes it,
//!    takes each socket ([`adopt`]) and sets close-on-exec on it again, so
//!    that nothing leaks into the next upgrade's checks or exec. If it cannot
//!    read the state, [`turn_away`] tells every client it could not keep their
//!    session, and the server goes on with the sockets of [`ENV_SOCKETS`].

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Source;

pub mod format;

pub use format::{Clock, DecodeError, Decoder, Encoder};

/// The environment variable naming the memory file the state is in.
pub const ENV_FD: &str = "CHATD_HANDOVER_FD";

/// The environment variable naming the server's own sockets (see [`Sockets`]):
/// kept outside the state, so that a new image that cannot read the state
/// still finds its listening socket.
pub const ENV_SOCKETS: &str = "CHATD_HANDOVER_SOCKETS";

/// How long each check of the new binary may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's sockets as they cross the exec: descriptor numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sockets {
    /// The listening socket.
    pub listener: RawFd,
    /// The control socket's listener, if configured.
    pub control: Option<RawFd>,
    /// The metrics endpoint's listener, if configured.
    pub metrics: Option<RawFd>,
    /// The control connection that asked for the upgrade (SIGUSR2 has none).
    pub asker: Option<RawFd>,
}

impl Sockets {
    /// As [`ENV_SOCKETS`] carries them: `listener=3,control=4,metrics=-,asker=9`.
    pub fn render(&self) -> String {
        let opt = |fd: Option<RawFd>| fd.map_or("-".to_owned(), |fd| fd.to_string());
        format!(
            "listener={},control={},metrics={},asker={}",
            self.listener,
            opt(self.control),
            opt(self.metrics),
            opt(self.asker)
        )
    }

    /// Reads what [`render`](Self::render) wrote.
    ///
    /// # Errors
    /// Anything else, quoted.
    pub fn parse(text: &str) -> Result<Sockets, String> {
        let bad = || format!("{ENV_SOCKETS}={text:?} is not what a chatd writes");
        let mut fields = text.split(',').map(|field| field.split_once('='));
        let mut next = |name: &str| -> Result<Option<RawFd>, String> {
            match fields.next().flatten() {
                Some((key, "-")) if key == name => Ok(None),
                Some((key, fd)) if key == name => fd.parse().map(Some).map_err(|_| bad()),
                _ => Err(bad()),
            }
        };
        let listener = next("listener")?.ok_or_else(bad)?;
        Ok(Sockets {
            listener,
            control: next("control")?,
            metrics: next("metrics")?,
            asker: next("asker")?,
        })
    }

    fn all(&self) -> impl Iterator<Item = RawFd> {
        [Some(self.listener), self.control, self.metrics, self.asker]
            .into_iter()
            .flatten()
    }
}

/// What `--version` told about a binary that passed [`check_binary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `X.Y.Z` from its first line.
    pub version: String,
}

/// Checks that `path` is a chatd this one can hand over to: it can be run,
/// says it is chatd and reads this chatd's state version, and accepts the
/// config as `source` names it. Blocking (it runs the binary twice); each run
/// is bounded by ten seconds (`CHECK_TIMEOUT`).
///
/// # Errors
/// Why not, for the operator, naming the path.
pub fn check_binary(path: &Path, source: &Source) -> Result<Checked, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a file"));
    }
    if meta.permissions().mode() & 0o111 == 0
        || rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_err()
    {
        return Err(format!("{shown}: not executable"));
    }
    let (ok, stdout, stderr) = run_bounded(Command::new(path).arg("--version"))
        .map_err(|e| format!("{shown} --version: {e}"))?;
    let first = stdout.lines().next().unwrap_or_default();
    let version = first.strip_prefix("chatd ").filter(|_| ok);
    let Some(version) = version else {
        let said = if first.is_empty() {
            stderr.lines().next().unwrap_or_default()
        } else {
            first
        };
        return Err(format!("{shown} is not chatd (`--version` said {said:?})"));
    };
    let reads: Vec<u32> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("handover versions: "))
        .map(|list| {
            list.split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if !reads.contains(&format::VERSION) {
        let list = if reads.is_empty() {
            "none".to_owned()
        } else {
            reads
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "{shown} reads handover versions {list}, this chatd writes {}",
            format::VERSION
        ));
    }
    let mut check = Command::new(path);
    check.arg("--check-config").args(source.args());
    let (ok, _, stderr) = run_bounded(&mut check).map_err(|e| format!("{shown}: {e}"))?;
    if !ok {
        let why = stderr.trim().replace('\n', "; ");
        return Err(format!("{shown} rejects the config: {why}"));
    }
    Ok(Checked {
        version: version.trim().to_owned(),
    })
}

/// Runs `command` with no input and without the handover's variables, for at
/// most [`CHECK_TIMEOUT`]: whether it exited 0, its stdout and its stderr.
fn run_bounded(command: &mut Command) -> io::Result<(bool, String, String)> {
    let mut child = command
        .env_remove(ENV_FD)
        .env_remove(ENV_SOCKETS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Read both pipes on threads of their own, so that a chatty child cannot
    // fill one and stall.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("did not finish within {} s", CHECK_TIMEOUT.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    Ok((status.success(), out, err))
}

/// A memory file holding `state`, close-on-exec until [`exec`] says otherwise.
///
/// # Errors
/// The kernel refused the memory file or its size.
pub fn write_memfd(state: &[u8]) -> io::Result<File> {
    let fd = rustix::fs::memfd_create("chatd-handover", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(state)?;
    Ok(file)
}

/// Execs `path` with `args` in this process, handing over `state` and the
/// descriptors `keep` (the clients' sockets) and `sockets`. Returns only if
/// the exec failed: then every descriptor has its close-on-exec flag back,
/// and the caller resumes.
pub fn exec(
    path: &Path,
    args: &[OsString],
    state: &File,
    keep: &[BorrowedFd<'_>],
    sockets: &Sockets,
) -> io::Error {
    let memfd = state.as_fd();
    let set = |inherit: bool| -> io::Result<()> {
        let flags = if inherit {
            rustix::io::FdFlags::empty()
        } else {
            rustix::io::FdFlags::CLOEXEC
        };
        rustix::io::fcntl_setfd(memfd, flags)?;
        for fd in keep {
            rustix::io::fcntl_setfd(fd, flags)?;
        }
        for fd in sockets.all() {
            // The number names a socket the server holds open for as long
            // as this call runs (see `borrow`).
            rustix::io::fcntl_setfd(borrow(fd), flags)?;
        }
        Ok(())
    };
    if let Err(err) = set(true) {
        let _ = set(false);
        return err;
    }
    let err = Command::new(path)
        .args(args)
        .env(ENV_FD, memfd.as_raw_fd().to_string())
        .env(ENV_SOCKETS, sockets.render())
        // systemd's sockets were taken at the first start; the new image
        // takes the listener from the state instead.
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .exec();
    let _ = set(false);
    err
}

/// A descriptor the caller holds open, borrowed by number.
#[allow(unsafe_code)]
fn borrow<'a>(fd: RawFd) -> BorrowedFd<'a> {
    // SAFETY: only called on the numbers of sockets the server holds open
    // until `exec` returns, which is longer than the borrow is used.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The state handed over, if this process is a new image resuming: None
/// when [`ENV_FD`] is not set (an ordinary start). The memory file is read
/// from its start and closed.
///
/// # Errors
/// The variable names no open file, or it cannot be read.
pub fn take_state() -> Option<Result<Vec<u8>, String>> {
    let value = std::env::var(ENV_FD).ok()?;
    Some((|| {
        let fd: RawFd = value
            .parse()
            .map_err(|_| format!("{ENV_FD}={value:?} is not a descriptor number"))?;
        let file = File::from(adopt(fd).map_err(|e| format!("{ENV_FD}={fd}: {e}"))?);
        let size = file
            .metadata()
            .map_err(|e| format!("handover memory file: {e}"))?
            .len();
        let mut state = vec![0; size as usize];
        file.read_exact_at(&mut state, 0)
            .map_err(|e| format!("handover memory file: {e}"))?;
        Ok(state)
    })())
}

/// The sockets named in [`ENV_SOCKETS`], if set.
///
/// # Errors
/// The variable holds something no chatd wrote.
pub fn sockets_from_env() -> Result<Option<Sockets>, String> {
    match std::env::var(ENV_SOCKETS) {
        Ok(text) => Sockets::parse(&text).map(Some),
        Err(_) => Ok(None),
    }
}

/// Takes ownership of descriptor `fd`, inherited across the exec, and sets
/// its close-on-exec flag again. Each number must be adopted once: the
/// callers take each from the state or [`ENV_SOCKETS`], which name each once
/// (the hub's restore checks that no two clients share one).
///
/// # Errors
/// `fd` is not open.
#[allow(unsafe_code)]
pub fn adopt(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is standard input, output or error"),
        ));
    }
    // Fails with EBADF when the number is not open: then it is not ours.
    rustix::io::fcntl_getfd(borrow(fd))?;
    // SAFETY: the descriptor is open, was left open across the exec for this
    // process to take, and nothing else in this process owns it (see above).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(owned)
}

/// For a new image that could not read the state: every client connection
/// the old image left open for this one (a connected TCP socket without
/// close-on-exec: everything this image took itself has the flag) gets
/// `line` and is closed. Returns how many were told.
pub fn turn_away(line: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut told = 0;
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        let Ok(flags) = rustix::io::fcntl_getfd(borrow(fd)) else {
            continue;
        };
        if flags.contains(rustix::io::FdFlags::CLOEXEC) {
            continue;
        }
        let connected_tcp = rustix::net::getpeername(borrow(fd))
            .ok()
            .flatten()
            .is_some_and(|addr| {
                matches!(
                    addr.address_family(),
                    rustix::net::AddressFamily::INET | rustix::net::AddressFamily::INET6
                )
            });
        if !connected_tcp {
            continue;
        }
        let Ok(owned) = adopt(fd) else {
            continue;
        };
        let mut stream = std::net::TcpStream::from(owned);
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = stream.write_all(line.as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
        told += 1;
    }
    told
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_travel_as_text() {
        let sockets = Sockets {
            listener: 3,
            control: Some(4),
            metrics: None,
            asker: Some(12),
        };
        assert_eq!(sockets.render(), "listener=3,control=4,metrics=-,asker=12");
        assert_eq!(Sockets::parse(&sockets.render()), Ok(sockets));
        for bad in [
            "",
            "listener=-",
            "listener=3",
            "control=4,listener=3",
            "listener=x,control=-,metrics=-,asker=-",
        ] {
            assert!(Sockets::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_that_is_not_chatd_is_refused_before_it_runs() {
        let source = Source {
            path: None,
            port_override: None,
        };
        let err = check_binary(Path::new("/nonexistent/chatd"), &source).unwrap_err();
        assert!(err.starts_with("/nonexistent/chatd: "), "{err}");
        let plain = std::env::temp_dir().join(format!("chatd-plain-{}", std::process::id()));
        std::fs::write(&plain, "not a program\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check_binary(&plain, &source).unwrap_err();
        let _ = std::fs::remove_file(&plain);
        assert_eq!(err, format!("{}: not executable", plain.display()));
        let err = check_binary(Path::new("/bin/true"), &source).unwrap_err();
        assert!(err.contains("is not chatd"), "{err}");
    }
}
