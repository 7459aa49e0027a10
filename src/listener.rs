//! The listening socket: the one systemd passed (socket activation), or one bound
//! here to the configured address, retrying for a while when the address is in use.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::config::Config;
use crate::{info, systemd, warn};

/// When the address is in use, retry this many times, a second apart: a chatd
/// restarted at once finds its old socket still closing, as the tutorial's server did.
pub const BIND_RETRIES: u32 = 5;

/// The listen backlog asked of the kernel, which caps it at `net.core.somaxconn`
/// (4096 on current kernels). The standard library listens with 128: in a burst
/// of connections the kernel then drops handshakes beyond it, and those clients
/// sit half-open with no answer ever. systemd's socket unit asks for SOMAXCONN
/// the same way (`Backlog=`), so a passed socket is left as systemd made it.
pub const LISTEN_BACKLOG: i32 = 65535;

/// The socket systemd passed, if it passed one, else the configured address bound
/// (see [`bind`]). The error is one line for the log.
pub fn open(config: &Config) -> Result<TcpListener, String> {
    match systemd::listener_from_systemd() {
        Ok(Some(listener)) => {
            info!("using the socket passed by systemd");
            Ok(listener)
        }
        Ok(None) => bind(config),
        Err(err) => Err(format!("socket activation: {err}")),
    }
}

/// Binds the configured address; while it is in use, retries once a second up to
/// [`BIND_RETRIES`] times.
pub fn bind(config: &Config) -> Result<TcpListener, String> {
    let ip = config
        .address
        .parse()
        .map_err(|_| format!("bad address {:?}", config.address))?;
    let addr = SocketAddr::new(ip, config.port);
    let mut attempt = 0;
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                // Listening again on a listening socket only changes its backlog.
                if let Err(err) = rustix::net::listen(&listener, LISTEN_BACKLOG) {
                    warn!("cannot raise the listen backlog of {addr}: {err}; keeping 128");
                }
                return Ok(listener);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && attempt < BIND_RETRIES => {
                attempt += 1;
                warn!("address {addr} in use, retrying in 1s ({attempt} of {BIND_RETRIES})");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(format!(
                    "cannot listen on {addr}: {err}; another program has that port \
                     (`ss -ltnp` names it): stop it, or pick another port with \
                     --port N or `port = N` in the config"
                ));
            }
            Err(err) => return Err(format!("cannot listen on {addr}: {err}")),
        }
    }
}
