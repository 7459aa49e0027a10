//! The server's part of a live upgrade (the way over is told in
//! [`crate::handover`]): checking the new binary off the executor while
//! everything goes on, freezing the hub, writing the state with the
//! server's own part (when the pause began, the last connection id, this
//! version), the exec, carrying on if it fails; and in the new image,
//! starting the hub from the state and every connection's task again, and
//! answering whoever asked.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_channel::Receiver;
use smol::{Async, Task};

use crate::bans::Bans;
use crate::config::Config;
use crate::control::{Reply, UpgradeRequest};
use crate::handover::{self, Clock, DecodeError, Decoder, Encoder, Sockets};
use crate::history::Disk;
use crate::hub::{self, Event, NotRestored, SharedCounters, Summary};
use crate::text::Texts;
use crate::{error, info, warn};

use super::{Conn, Server};

/// What a live upgrade needs that the server has from its start.
pub(super) struct Upgrades {
    /// The binary this process was started from (read at start: after a
    /// package upgrade the file at that path is the new version).
    pub(super) exe: Option<PathBuf>,
    /// This process's arguments, for the new image.
    pub(super) args: Vec<OsString>,
    /// The control socket's and the metrics endpoint's listeners.
    pub(super) control: Option<RawFd>,
    pub(super) metrics: Option<RawFd>,
}

/// A request, and what checking its binary found.
pub(super) struct Checked {
    request: UpgradeRequest,
    path: PathBuf,
    outcome: Result<handover::Checked, String>,
}

/// What an old chatd handed over, as its server part says.
#[derive(Debug)]
pub struct Resumption {
    /// When the pause began (monotonic nanoseconds).
    began: i64,
    /// The last connection id given out.
    last_id: u64,
    /// The old chatd's version.
    from: String,
    /// The hub's part.
    hub: Vec<u8>,
    /// The whole state's size, for the answer.
    size: usize,
}

/// Reads the server's part of a handover state (the rest is the hub's).
///
/// # Errors
/// A truncated, damaged or unknown state.
pub fn read_state(state: &[u8]) -> Result<Resumption, DecodeError> {
    let mut dec = Decoder::open(state)?;
    let resumption = Resumption {
        began: dec.i64("the pause's start")?,
        last_id: dec.u64("the last connection id")?,
        from: dec.str("the old version")?.to_owned(),
        hub: dec.bytes("the hub's state")?.to_vec(),
        size: state.len(),
    };
    dec.end()?;
    Ok(resumption)
}

/// Writes the whole state: the server's part around the hub's.
fn write_state(began: i64, last_id: u64, hub: &[u8]) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.i64(began);
    enc.u64(last_id);
    enc.str(env!("CARGO_PKG_VERSION"));
    enc.bytes(hub);
    enc.finish()
}

/// A new image's sockets: those the old chatd handed over (see [`handover`]): the
/// listener, and the control socket, the metrics endpoint and the control
/// connection that asked, where there are; the state goes into `extras`.
///
/// # Errors
/// A descriptor the environment names is not open, or the environment is
/// not what a chatd writes.
pub fn resumed_sockets(
    config: &Config,
    state: Result<Vec<u8>, String>,
    extras: &mut super::Extras,
) -> Result<(std::net::TcpListener, Option<crate::control::SocketFile>), String> {
    let sockets = handover::sockets_from_env()?.ok_or_else(|| {
        format!(
            "{} is set but {} is not",
            handover::ENV_FD,
            handover::ENV_SOCKETS
        )
    })?;
    let take = |fd: i32| handover::adopt(fd).map_err(|e| format!("handover: descriptor {fd}: {e}"));
    let listener = std::net::TcpListener::from(take(sockets.listener)?);
    let mut socket_file = None;
    if let Some(fd) = sockets.control {
        extras.control_socket = Some(std::os::unix::net::UnixListener::from(take(fd)?));
        if let Some(path) = &config.control_socket {
            socket_file = Some(crate::control::SocketFile::adopt(std::path::Path::new(
                path,
            ))?);
            info!("control socket at {path} (kept)");
        }
    }
    if let Some(fd) = sockets.metrics {
        extras.metrics = Some(std::net::TcpListener::from(take(fd)?));
    }
    if let Some(fd) = sockets.asker {
        extras.asker = Some(std::os::unix::net::UnixStream::from(take(fd)?));
    }
    extras.resume = Some(state.and_then(|state| read_state(&state).map_err(|e| e.to_string())));
    info!("upgrade: resuming with the sockets of the old chatd");
    Ok((listener, socket_file))
}

/// What a new image resumes once its hub runs.
pub(super) struct Resumed {
    conns: Vec<hub::Resumed>,
    last_id: u64,
    asker: Option<UnixStream>,
    began: i64,
    size: usize,
    from: String,
}

/// Starts the hub: afresh, or from what an old chatd handed over. A state
/// that cannot be read is not the users' loss to bear in silence: every
/// client the old chatd held is told to reconnect, the log says why, and
/// the hub starts afresh on the same sockets.
pub(super) fn start_hub(
    events: Receiver<Event>,
    config: Arc<Config>,
    counters: Arc<SharedCounters>,
    (bans, disk): (Bans, Disk),
    resume: Option<Result<super::Resumption, String>>,
    asker: Option<UnixStream>,
) -> (Task<Summary>, Option<Resumed>) {
    let fresh = |bans: Bans, disk: Disk| {
        crate::exec::spawn(hub::dispatch(
            events.clone(),
            Arc::clone(&config),
            Arc::clone(&counters),
            bans,
            disk,
        ))
    };
    let resumption = match resume {
        None => return (fresh(bans, disk), None),
        Some(Ok(resumption)) => resumption,
        Some(Err(why)) => {
            not_kept(&why, asker);
            return (fresh(bans, disk), None);
        }
    };
    match hub::restore(
        &resumption.hub,
        Arc::clone(&config),
        Arc::clone(&counters),
        bans,
        disk,
    ) {
        Ok(mut restored) => {
            let conns = std::mem::take(&mut restored.conns);
            let task = crate::exec::spawn(hub::dispatch_restored(events.clone(), restored));
            let resumed = Resumed {
                conns,
                last_id: resumption.last_id,
                asker,
                began: resumption.began,
                size: resumption.size,
                from: resumption.from,
            };
            (task, Some(resumed))
        }
        Err(not) => {
            let NotRestored { error, bans, disk } = *not;
            not_kept(&error.to_string(), asker);
            (fresh(bans, disk), None)
        }
    }
}

/// The state could not be read: every client is told, and whoever asked.
fn not_kept(why: &str, asker: Option<UnixStream>) {
    let told = handover::turn_away(Texts::session_not_kept());
    error!(
        "handover: cannot read the state the old chatd handed over: {why}; \
         {told} clients told to reconnect, serving afresh"
    );
    if let Some(mut asker) = asker {
        let answer = Reply::Refused(format!(
            "upgrade failed: the new chatd could not read the state: {why}; \
             {told} clients were told to reconnect\n"
        ));
        let _ = asker.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = asker.write_all(answer.encode().as_bytes());
    }
}

impl Server {
    /// Starts checking the binary `request` names (or the one chatd was
    /// started from), off the executor: chat goes on meanwhile.
    pub(super) fn check_upgrade(&self, request: UpgradeRequest) -> Task<Checked> {
        let path = request.path.clone().or_else(|| self.upgrade.exe.clone());
        let source = self.source.clone();
        crate::exec::spawn(async move {
            let Some(path) = path else {
                let why =
                    "cannot tell which binary this chatd was started from; name one: upgrade PATH";
                return Checked {
                    request,
                    path: PathBuf::new(),
                    outcome: Err(why.to_owned()),
                };
            };
            info!("upgrade: checking {}", path.display());
            let checked = path.clone();
            let outcome = smol::unblock(move || handover::check_binary(&checked, &source)).await;
            Checked {
                request,
                path,
                outcome,
            }
        })
    }

    /// Carries out a checked upgrade: freezes the hub, writes the state,
    /// execs. Returns only if the upgrade did not happen (refused, or the
    /// exec failed: then everything carries on as before).
    pub(super) async fn upgrade(&self, checked: Checked, listener: &Async<std::net::TcpListener>) {
        let Checked {
            request,
            path,
            outcome,
        } = checked;
        let refuse = |why: String| {
            let _ = request.reply.try_send(Reply::Refused(format!("{why}\n")));
        };
        let version = match outcome {
            Ok(checked) => checked.version,
            Err(why) => {
                warn!("upgrade refused: {why}");
                refuse(format!("upgrade refused: {why}"));
                return;
            }
        };
        let began = Clock::now().monotonic();
        crate::systemd::notify_or_warn("RELOADING=1");
        let (reply, frozen) = async_channel::bounded(1);
        let _ = self.hub.send(Event::Freeze { reply }).await;
        let Ok(frozen) = frozen.recv().await else {
            // The hub said no: a shutdown has begun.
            crate::systemd::notify_or_warn("READY=1");
            refuse("upgrade refused: chatd is shutting down".to_owned());
            return;
        };
        let state = write_state(began, self.last_id.load(Ordering::Relaxed), &frozen.state);
        let shown = path.display();
        let err = match handover::write_memfd(&state) {
            Ok(memfd) => {
                info!(
                    "upgrade: handing {} connections and {} bytes of state to {shown} (chatd {version})",
                    frozen.conns.len(),
                    state.len()
                );
                let keep: Vec<BorrowedFd<'_>> = frozen
                    .conns
                    .iter()
                    .map(|(_, handed)| handed.stream.get_ref().as_fd())
                    .collect();
                let sockets = Sockets {
                    listener: listener.get_ref().as_raw_fd(),
                    control: self.upgrade.control,
                    metrics: self.upgrade.metrics,
                    asker: request.asker.as_ref().map(AsRawFd::as_raw_fd),
                };
                let err = handover::exec(&path, &self.upgrade.args, &memfd, &keep, &sockets);
                format!("exec {shown}: {err}")
            }
            Err(err) => format!("memory file: {err}"),
        };
        error!("upgrade failed: {err}; carrying on as before");
        self.carry_on(frozen.conns).await;
        crate::systemd::notify_or_warn("READY=1");
        refuse(format!("upgrade failed: {err}"));
    }

    /// After a failed exec: every connection's task starts again from where
    /// it froze, and the hub takes events as ever.
    async fn carry_on(&self, conns: Vec<(hub::ClientId, Box<crate::input::Handed>)>) {
        for (id, handed) in conns {
            let handed = *handed;
            // Before the task starts: a writer finding its outbox frozen
            // would hand itself over again.
            handed.outbox.thaw();
            let peer = handed
                .stream
                .get_ref()
                .peer_addr()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
            let conn = Conn {
                id,
                peer,
                stream: handed.stream,
                outbox: handed.outbox,
                input: Some(Box::new(handed.input)),
            };
            self.adopt_conn(conn);
        }
        let _ = self.hub.send(Event::Thaw).await;
    }

    /// Starts the task of a connection handed over, with a permit and an
    /// address slot if there are any left (it is in, limits or not).
    fn adopt_conn(&self, conn: Conn) {
        let permit = self.clients.try_acquire_arc();
        let slot = self.addresses.try_take(conn.peer.ip(), usize::MAX);
        self.spawn_conn(conn, permit, slot);
    }

    /// In a new image: takes every connection's socket, starts its task,
    /// and answers whoever asked for the upgrade.
    pub(super) async fn resume(&mut self, resumed: Resumed) {
        self.last_id.store(resumed.last_id, Ordering::Relaxed);
        let kept = resumed.conns.len();
        for conn in resumed.conns {
            let stream = handover::adopt(conn.fd)
                .map(std::net::TcpStream::from)
                .and_then(|stream| {
                    let peer = stream.peer_addr()?;
                    Ok((Async::new(stream)?, peer))
                });
            match stream {
                Ok((stream, peer)) => self.adopt_conn(Conn {
                    id: conn.id,
                    peer,
                    stream: Arc::new(stream),
                    outbox: conn.outbox,
                    input: Some(Box::new(conn.input)),
                }),
                Err(err) => {
                    warn!(
                        "handover: client {}'s socket (descriptor {}): {err}; it is gone",
                        conn.id, conn.fd
                    );
                    let gone = Event::Disconnected {
                        id: conn.id,
                        reason: crate::text::LeaveReason::Error(err.to_string()),
                    };
                    let _ = self.hub.send(gone).await;
                }
            }
        }
        let paused = Clock::now().since(resumed.began).as_secs_f64();
        let version = env!("CARGO_PKG_VERSION");
        info!(
            "upgraded to chatd {version}: {kept} connections kept, paused {paused:.2} s, state {} bytes",
            resumed.size
        );
        info!("upgrade: resumed from chatd {}", resumed.from);
        if let Some(asker) = resumed.asker
            && let Ok(asker) = Async::new(asker)
        {
            let answer = Reply::Done(format!(
                "upgraded to chatd {version}: {kept} connections kept, paused {paused:.2} s\nstate: {} bytes\n",
                resumed.size
            ));
            crate::exec::spawn(crate::control::write_answer(asker, answer)).detach();
        }
    }
}
