//! The little of systemd's protocols chatd speaks, without extra crates:
//! readiness notification (`sd_notify`) and socket activation (`sd_listen_fds`).
//!
//! Both are silent no-ops when the process was not started by systemd.

use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `"READY=1"`) to `$NOTIFY_SOCKET`, if set. A path socket or
/// an abstract one (`@name`). Errors are returned for the caller to log; systemd
/// not listening must never stop the daemon.
pub fn notify(state: &str) -> io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), &path)?;
    }
    Ok(())
}

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// The listening socket systemd passed, if `LISTEN_FDS=1` and `LISTEN_PID` is this
/// process. Other `LISTEN_FDS` counts are an error: chatd listens on one socket.
pub fn listener_from_systemd() -> io::Result<Option<TcpListener>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None); // Meant for another process (our parent, say).
    }
    match fds.trim().parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(1) => Ok(Some(take_listen_fd())),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("LISTEN_FDS={fds:?}: chatd takes exactly one listening socket"),
        )),
    }
}

/// Takes ownership of fd 3.
#[allow(unsafe_code)]
fn take_listen_fd() -> TcpListener {
    use std::os::fd::FromRawFd;
    // SAFETY: systemd's socket-activation protocol says fd 3 is an open socket
    // handed to this process (we checked LISTEN_PID), and nothing else in chatd
    // opens or owns fd 3 before this runs at start-up, so taking ownership is
    // sound. When the listener is dropped only our copy closes; systemd keeps
    // its own and the socket stays bound.
    unsafe { TcpListener::from_raw_fd(LISTEN_FDS_START) }
}
