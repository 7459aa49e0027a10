//! The control socket: a Unix stream socket where the operator's `chatd ctl` (or
//! anything that can write a line to a socket) sends one command and gets one
//! answer.
//!
//! # The protocol
//! A client connects, writes ONE request line (the command and its arguments as
//! the operator typed them: `kick troll spam`, `ban 203.0.113.0/24 12h spam`,
//! `who`), ended by `\n` (or by closing its sending side), of at most
//! [`MAX_REQUEST`] bytes of UTF-8 without the line break. The server answers and
//! closes. An answer is a status line, then text up to the close:
//!
//! ```text
//! ok\n        then the command's output, each line ending in \n (often nothing)
//! refused\n   then why, for people: `no user named "troll"\n`
//! usage\n     then why the request is not a command line at all
//! ```
//!
//! `ok` and `refused` are the [`Reply::Done`] and [`Reply::Refused`] a command
//! gets: an unknown command, a bad duration, a nick that is not there are all
//! refused (`chatd ctl` exits 1). `usage` ([`Reply::Usage`], exit 2, as for a bad
//! `chatd ctl` command line) is kept for requests that are not a command line: an
//! empty one, one too long, not UTF-8, or not sent within [`READ_TIMEOUT`].
//!
//! # Who answers
//! `reload` is the server's own: it re-reads the config file the way SIGHUP does,
//! and answers only once the new settings are in force (or with the file's
//! `file:line:` errors); [`serve`] hands it over as a [`ReloadRequest`]. `metrics`
//! is answered here, by [`crate::scrape::collect`]: the hub only hands over a copy
//! of its counts, and the text is written off the hub. Every other line goes to
//! the hub as [`Event::ControlRequest`], and the hub answers it exactly once.
//!
//! # Who may connect
//! [`bind`] creates the socket with mode 0600, so that only chatd's user and root
//! may connect: it is bound inside a fresh directory of mode 0700 and only then
//! renamed to its path, so it is never reachable with looser permissions. A stale
//! socket left by a chatd that died is replaced; a live one, or anything that is
//! not a socket, is an error. [`SocketFile`] removes it again at exit.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_channel::Sender;
use async_lock::Semaphore;
use smol::future;
use smol::{Async, Timer};

use crate::hub::Event;
pub use crate::reply::Reply;
use crate::{debug, info, warn};

/// The longest request line, in bytes without its line break.
pub const MAX_REQUEST: usize = 4096;

/// How long a client has to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client has to take the answer, and then to close, before the
/// server closes anyway.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this many control connections are served at once; more wait in the
/// socket's backlog. Only root and chatd's user can connect, so this guards
/// against a runaway script, not an attacker.
pub const MAX_CONNECTIONS: usize = 16;

/// Wait before accepting again after accept failed for want of resources.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// An `upgrade [PATH]` request (or SIGUSR2's): the server checks the new
/// binary and hands everything over to it; a refusal comes back on `reply`,
/// success from the new image, on `asker`.
#[derive(Debug)]
pub struct UpgradeRequest {
    /// The binary to exec; None: the one this chatd was started from.
    pub path: Option<PathBuf>,
    /// Where a refusal goes; the receiver may be gone.
    pub reply: Sender<Reply>,
    /// The control connection that asked (a second descriptor of it), which
    /// the new image answers; None for SIGUSR2.
    pub asker: Option<UnixStream>,
}

/// A `reload` request: the server re-reads its config file the way SIGHUP does,
/// applies it, and only then sends the answer on `reply` (Done, or Refused with
/// the file's `file:line:` errors).
#[derive(Debug)]
pub struct ReloadRequest {
    /// Where the answer goes; the receiver may be gone if the client left.
    pub reply: Sender<Reply>,
}

/// The control socket's file; removed when dropped, unless another socket has
/// replaced it meanwhile (a newer chatd's).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The socket file at `path` as it is now: one a live upgrade handed
    /// over with its listener, to be removed at exit like one [`bind`] made.
    ///
    /// # Errors
    /// Nothing is at `path`.
    pub fn adopt(path: &Path) -> Result<SocketFile, String> {
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| format!("control socket {}: {e}", path.display()))?;
        Ok(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino);
        if ours {
            // At exit there is nobody to tell; a socket file left behind is
            // replaced by the next start anyway.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates the control socket at `path` with mode 0600, replacing a stale socket
/// file; the error says why it cannot, with the path.
pub fn bind(path: &Path) -> Result<(UnixListener, SocketFile), String> {
    let fail = |why: String| format!("cannot create the control socket {}: {why}", path.display());
    remove_stale(path).map_err(fail)?;
    let listener = bind_private(path).map_err(|e| fail(e.to_string()))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail(e.to_string()))?;
    let file = SocketFile {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    Ok((listener, file))
}

/// Removes a socket file nobody listens on; refuses to touch a live socket or
/// anything else.
fn remove_stale(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err.to_string()),
    };
    if !meta.file_type().is_socket() {
        return Err("it exists and is not a socket".to_owned());
    }
    match UnixStream::connect(path) {
        Ok(_) => Err("another process is listening on it (is chatd running already?)".to_owned()),
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
            info!("removing the stale control socket {}", path.display());
            std::fs::remove_file(path).map_err(|e| format!("cannot remove the stale socket: {e}"))
        }
        Err(err) => Err(format!("cannot tell whether it is in use: {err}")),
    }
}

/// Binds `path` so that it is never reachable before its mode is 0600: bind in a
/// new directory only we can enter, set the mode, rename it into place.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let private = dir.join(format!(".chatd-{}", std::process::id()));
    let temp = private.join("s");
    match std::fs::DirBuilder::new().mode(0o700).create(&private) {
        Ok(()) => {}
        // Left by an earlier process with our pid that died while binding.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&temp);
            std::fs::remove_dir(&private)?;
            std::fs::DirBuilder::new().mode(0o700).create(&private)?;
        }
        Err(err) => return Err(err),
    }
    let bound = (|| -> io::Result<UnixListener> {
        let listener = UnixListener::bind(&temp)?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&temp, path)?;
        Ok(listener)
    })();
    // Whatever happened, the private directory goes; it is empty after the rename.
    let _ = std::fs::remove_file(&temp);
    let _ = std::fs::remove_dir(&private);
    match bound {
        // The temporary path is longer than `path` and may not fit in a socket
        // address even though `path` does: bind in place, then set the mode. The
        // socket has the umask's mode for that moment; under the usual umask 022
        // nobody else may connect to it even then.
        Err(err) if err.kind() == ErrorKind::InvalidInput => {
            let listener = UnixListener::bind(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(listener)
        }
        other => other,
    }
}

/// Serves the control socket until the task running it is dropped (the server
/// does so when it has shut down): one task per connection, at most
/// [`MAX_CONNECTIONS`] at once, each bounded by [`READ_TIMEOUT`] and
/// [`WRITE_TIMEOUT`].
pub async fn serve(listener: Async<UnixListener>, hub: Sender<Event>, server: ServerRequests) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.acquire_arc().await;
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // EBADF, EINVAL, ENOTSOCK: the socket itself is unusable.
                if matches!(err.raw_os_error(), Some(9 | 22 | 88)) {
                    warn!("control socket: accept failed: {err}; no longer serving it");
                    return;
                }
                // Out of descriptors or memory, or one connection's trouble:
                // pause, so that a persistent failure does not spin.
                debug!("control socket: accept failed: {err}");
                Timer::after(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let hub = hub.clone();
        let server = server.clone();
        // Detached: each ends within its timeouts, and at exit an unanswered
        // control client only sees the connection close.
        crate::exec::spawn(async move {
            let _slot = slot;
            answer(stream, &hub, &server).await;
        })
        .detach();
    }
}

/// The requests the server answers itself: `reload` and `upgrade`.
#[derive(Debug, Clone)]
pub struct ServerRequests {
    /// Where `reload` goes.
    pub reload: Sender<ReloadRequest>,
    /// Where `upgrade` goes.
    pub upgrade: Sender<UpgradeRequest>,
}

/// Reads one request, answers it, closes.
async fn answer(stream: Async<UnixStream>, hub: &Sender<Event>, server: &ServerRequests) {
    let reply = match read_request(&stream).await {
        Ok(line) => carry_out(line, hub, server, &stream).await,
        Err(reply) => reply,
    };
    write_answer(stream, reply).await;
}

/// Writes `reply` and closes; public for the new image of a live upgrade,
/// which answers the control connection that asked for it.
pub async fn write_answer(stream: Async<UnixStream>, reply: Reply) {
    let sent = async {
        let mut writer = &stream;
        smol::io::AsyncWriteExt::write_all(&mut writer, reply.encode().as_bytes()).await?;
        stream.get_ref().shutdown(std::net::Shutdown::Write)?;
        // Read until the client closes: closing with unread input (the rest of
        // an over-long request) would reset the connection, and the client might
        // lose the answer before reading it.
        let mut sink = [0u8; 4096];
        let mut reader = &stream;
        while smol::io::AsyncReadExt::read(&mut reader, &mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let outcome = future::or(sent, async {
        Timer::after(WRITE_TIMEOUT).await;
        Err(io::Error::new(ErrorKind::TimedOut, "timed out"))
    })
    .await;
    if let Err(err) = outcome {
        debug!("control socket: answer not delivered: {err}");
    }
}

/// The request line without its line break, or the answer that refuses it.
async fn read_request(stream: &Async<UnixStream>) -> Result<String, Reply> {
    let mut buffer = Vec::with_capacity(256);
    let read = async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                buffer.truncate(end);
                return Ok(());
            }
            if buffer.len() > MAX_REQUEST {
                return Err(Reply::Usage(format!(
                    "request line too long: at most {MAX_REQUEST} bytes\n"
                )));
            }
            // Never more than one byte past the limit: enough to tell.
            let room = (MAX_REQUEST + 1 - buffer.len()).min(chunk.len());
            let mut reader = stream;
            match smol::io::AsyncReadExt::read(&mut reader, &mut chunk[..room]).await {
                // The client closed its side: what it sent is the request.
                Ok(0) => return Ok(()),
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                Err(err) => return Err(Reply::Usage(format!("cannot read the request: {err}\n"))),
            }
        }
    };
    future::or(read, async {
        Timer::after(READ_TIMEOUT).await;
        Err(Reply::Usage(format!(
            "no request line within {}s\n",
            READ_TIMEOUT.as_secs()
        )))
    })
    .await?;
    if buffer.len() > MAX_REQUEST {
        return Err(Reply::Usage(format!(
            "request line too long: at most {MAX_REQUEST} bytes\n"
        )));
    }
    if buffer.last() == Some(&b'\r') {
        buffer.pop();
    }
    let line = String::from_utf8(buffer)
        .map_err(|_| Reply::Usage("the request is not valid UTF-8\n".to_owned()))?;
    if line.trim().is_empty() {
        return Err(Reply::Usage(
            "empty request: send a command, such as who\n".to_owned(),
        ));
    }
    Ok(line)
}

/// Hands the request to whoever answers it and waits for that answer.
async fn carry_out(
    line: String,
    hub: &Sender<Event>,
    server: &ServerRequests,
    stream: &Async<UnixStream>,
) -> Reply {
    if line.split_whitespace().next() == Some("metrics") {
        if line.split_whitespace().nth(1).is_some() {
            return Reply::Refused("metrics takes no arguments\n".to_owned());
        }
        debug!("control socket: metrics");
        return match crate::scrape::collect(hub).await {
            Some(text) => Reply::Done(text),
            None => Reply::Refused("chatd is shutting down\n".to_owned()),
        };
    }
    let (reply, answer) = async_channel::bounded(1);
    // A failed send drops `reply` with the request, so the wait below ends at once.
    let mut words = line.split_whitespace();
    if words.next() == Some("reload") {
        if words.next().is_some() {
            return Reply::Refused("reload takes no arguments\n".to_owned());
        }
        info!("control socket: reload");
        let _ = server.reload.send(ReloadRequest { reply }).await;
    } else if line.split_whitespace().next() == Some("upgrade") {
        let path = line
            .trim()
            .strip_prefix("upgrade")
            .unwrap_or_default()
            .trim();
        info!("control socket: upgrade {path}");
        let asker = match stream.get_ref().try_clone() {
            Ok(asker) => asker,
            Err(err) => return Reply::Refused(format!("upgrade refused: {err}\n")),
        };
        let request = UpgradeRequest {
            path: (!path.is_empty()).then(|| PathBuf::from(path)),
            reply,
            asker: Some(asker),
        };
        let _ = server.upgrade.send(request).await;
    } else {
        debug!("control socket: {line:?}");
        let _ = hub.send(Event::ControlRequest { line, reply }).await;
    }
    // No answer means the answerer is gone: the hub has closed at the end of
    // a shutdown (and the server's reload handling with it).
    answer
        .recv()
        .await
        .unwrap_or_else(|_| Reply::Refused("chatd is shutting down\n".to_owned()))
}

/// What `chatd ctl` got: the answer, or why there is none.
#[derive(Debug)]
pub enum RequestError {
    /// Cannot connect to the socket.
    Connect(io::Error),
    /// Connected, but no complete answer came (the connection broke, closed
    /// early, or the answer took too long).
    NoAnswer(io::Error),
    /// An answer that is not in this protocol (not a chatd at the other end?).
    BadAnswer(String),
}

/// Sends `line` to the control socket at `path` and waits at most `timeout` for
/// the answer: the client side of the protocol, blocking, for `chatd ctl`.
pub fn request(path: &Path, line: &str, timeout: Duration) -> Result<Reply, RequestError> {
    let mut stream = UnixStream::connect(path).map_err(RequestError::Connect)?;
    let exchange = (|| {
        stream.set_write_timeout(Some(timeout))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(format!("{line}\n").as_bytes())?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(answer)
    })();
    let answer = exchange.map_err(RequestError::NoAnswer)?;
    if answer.is_empty() {
        return Err(RequestError::NoAnswer(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the connection closed without an answer",
        )));
    }
    let text = String::from_utf8_lossy(&answer);
    Reply::decode(&text).ok_or_else(|| RequestError::BadAnswer(text.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_encode_and_decode() {
        for reply in [
            Reply::Done(String::new()),
            Reply::Done("alice 127.0.0.1:5000\nbob 127.0.0.1:5001\n".to_owned()),
            Reply::Refused("no user named \"troll\"\n".to_owned()),
            Reply::Refused("a.conf:1: x\na.conf:2: y\n".to_owned()),
            Reply::Usage("empty request\n".to_owned()),
        ] {
            assert_eq!(Reply::decode(&reply.encode()), Some(reply));
        }
        assert_eq!(Reply::Done(String::new()).encode(), "ok\n");
        assert_eq!(Reply::Refused("no".to_owned()).encode(), "refused\nno\n");
        assert_eq!(Reply::decode("ok"), None);
        assert_eq!(Reply::decode("OK\n"), None);
        assert_eq!(Reply::decode("error: x\n"), None);
    }
}
