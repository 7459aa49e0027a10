//! The server: accepts connections, enforces the connection limits, runs the hub,
//! and carries out the shutdown order.
//!
//! [`run`] takes what it needs as arguments (a bound listener, the config, and a
//! channel of [`Order`] messages that `main` feeds from signals), so tests and
//! socket activation can hand it any listener. Where things live:
//! - the client limit is `clients: Arc<Semaphore>` in
//!   `Server::accept_until_shutdown`: a permit per connection, taken with
//!   `try_acquire` so a full server answers "server full" at once instead of
//!   making the client wait;
//! - the per-address limit is `AddressSlots` (`server/admit.rs`, with the
//!   one line a turned-away client gets);
//! - the bounds on each client's send queue are the hub's (`hub/backlog.rs`),
//!   enforced by [`crate::outbox`]'s byte count; input waits on the bounded hub
//!   channel ([`HUB_QUEUE`]);
//! - the shutdown order is spelled out in [`run`], one method of the server
//!   per step.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use async_lock::Semaphore;
use smol::future;
use smol::{Async, Task, Timer};

use crate::bans::Bans;
use crate::config::{Config, LiveConfig, Source};
use crate::control::{self, ReloadRequest, Reply, ServerRequests, UpgradeRequest};
use crate::hub::{ClientId, Event, Rejection, ReloadResult, SharedCounters, Summary};
use crate::outbox::Outbox;
use crate::text::Texts;
use crate::{connection, error, info, motd, warn};

mod admit;
mod upgrade;

use admit::{AddressSlot, AddressSlots, accept_failed, listener_broken};

pub use upgrade::{Resumption, read_state, resumed_sockets};

/// Events that may wait between the readers and the hub. When it is full, readers
/// wait (input pauses) rather than any queue growing: with `max_line_bytes` lines
/// this bounds the channel at `HUB_QUEUE * max_line_bytes` bytes.
pub const HUB_QUEUE: usize = 1024;

/// After the final notice, how long the server waits for every client's queue
/// to be written before it exits anyway.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the daemon orders a running server to do (from signals, through
/// [`Orders`]).
#[derive(Debug)]
pub enum Order {
    /// SIGTERM/SIGINT: the first begins a graceful shutdown, a second ends its grace.
    Shutdown,
    /// SIGHUP: re-read the config file, apply it, and answer on the request's
    /// channel once the new settings are in force (or with the file's errors).
    Reload(ReloadRequest),
    /// SIGUSR2 or `chatd ctl upgrade`: a live upgrade (see `upgrade.rs`).
    Upgrade(UpgradeRequest),
}

/// The sending side of a server's [`Order`]s, for whoever turns outside events
/// into them (the signal thread). Blocking calls: the signal thread is a plain
/// thread.
#[derive(Debug, Clone)]
pub struct Orders(Sender<Order>);

/// A channel for [`Order`]s: the sending side for signals, the receiving side
/// for [`run`].
pub fn orders() -> (Orders, Receiver<Order>) {
    let (sender, receiver) = async_channel::bounded(16);
    (Orders(sender), receiver)
}

impl Orders {
    /// Begins a graceful shutdown (or, the second time, ends its grace);
    /// false once the server has finished.
    pub fn shutdown(&self) -> bool {
        self.0.send_blocking(Order::Shutdown).is_ok()
    }

    /// Asks for a live upgrade to the binary chatd was started from (SIGUSR2);
    /// the outcome is logged. False once the server has finished.
    pub fn upgrade(&self) -> bool {
        // Nobody waits for the answer: the server logs it.
        let (reply, _) = async_channel::bounded(1);
        let request = UpgradeRequest {
            path: None,
            reply,
            asker: None,
        };
        self.0.send_blocking(Order::Upgrade(request)).is_ok()
    }

    /// Asks for a reload and waits until it is applied or refused (the server
    /// logs the outcome), so that reloads happen one at a time; false once the
    /// server has finished.
    pub fn reload_and_wait(&self) -> bool {
        let (reply, answer) = async_channel::bounded(1);
        if self
            .0
            .send_blocking(Order::Reload(ReloadRequest { reply }))
            .is_err()
        {
            return false;
        }
        // An error means the server dropped the request unanswered as it ended.
        let _ = answer.recv_blocking();
        true
    }
}

/// What `run` needs besides the listener and the config.
pub struct Extras {
    /// The bans, loaded from `state_dir` (or kept in memory).
    pub bans: Bans,
    /// The kept rooms, topics and histories read from `state_dir`, and their
    /// savers (or nothing on disk).
    pub history: crate::history::Disk,
    /// The control socket, bound (`control_socket`), if configured.
    pub control_socket: Option<UnixListener>,
    /// Where the settings came from; reloads read it again.
    pub source: Source,
    /// The message of the day as read at start.
    pub motd: Option<String>,
    /// The metrics endpoint's socket, bound (`metrics_address`), if configured.
    pub metrics: Option<TcpListener>,
    /// A new image resuming after a live upgrade: what the old one handed
    /// over, or why it cannot be read (then every client it held is told so).
    pub resume: Option<Result<Resumption, String>>,
    /// The control connection that asked for the upgrade, if one did: the
    /// new image answers it.
    pub asker: Option<std::os::unix::net::UnixStream>,
    /// The binary a live upgrade execs by default, and the arguments it gets
    /// (this process's own, read at start).
    pub exe: Option<std::path::PathBuf>,
    /// This process's arguments, without the program's name.
    pub args: Vec<std::ffi::OsString>,
}

/// A connection, for [`Server::spawn_conn`].
struct Conn {
    id: ClientId,
    peer: SocketAddr,
    stream: Arc<Async<TcpStream>>,
    outbox: Arc<Outbox>,
    /// Its reader's state, when a live upgrade handed it over (boxed: a
    /// connection's task keeps its arguments all its life).
    input: Option<Box<crate::input::Input>>,
}

/// A running server: the hub it feeds and everything the shutdown steps need.
/// [`run`] takes it through those steps in order, one method each.
struct Server {
    /// The hub's event channel (the bounded [`HUB_QUEUE`]).
    hub: Sender<Event>,
    /// Sends the hub its once-a-second tick; dropped (cancelled) with the server.
    _ticker: Task<()>,
    /// Serves `chatd ctl` until the server is dropped, so operators can still
    /// act during the grace period.
    _control_task: Option<Task<()>>,
    /// Serves the metrics endpoint until the server is dropped.
    _metrics_task: Option<Task<()>>,
    /// The settings in force, replaced by reloads.
    live: Arc<LiveConfig>,
    /// Where reloads read the settings from.
    source: Source,
    /// What main orders (signals).
    orders: Receiver<Order>,
    /// Reloads asked for over the control socket.
    ctl_reloads: Receiver<ReloadRequest>,
    /// Upgrades asked for over the control socket.
    ctl_upgrades: Receiver<UpgradeRequest>,
    /// The client limit: one permit per connection. Changing `max_clients`
    /// needs a restart, because a semaphore cannot take permits back.
    clients: Arc<Semaphore>,
    /// Connections per address, for `max_clients_per_ip`.
    addresses: Arc<AddressSlots>,
    /// The last connection id given out.
    last_id: std::sync::atomic::AtomicU64,
    /// What a live upgrade needs besides the hub's state.
    upgrade: upgrade::Upgrades,
    /// Connections turned away before the hub saw them, for the health line.
    counters: Arc<SharedCounters>,
    /// Cloned into every connection task; when the server's copy and every
    /// clone are gone, every connection has finished writing (mini-redis's
    /// "all handlers done"). None once the server has dropped its copy.
    all_done: Option<Sender<()>>,
    /// Closes when every `all_done` sender has been dropped.
    all_done_rx: Receiver<()>,
}

/// Runs the server on `listener` until a shutdown completes.
///
/// Shutdown order, on the first [`Order::Shutdown`], each step a method of
/// the server:
/// 1. stop accepting at once: the listener is dropped, so new connects are
///    refused (`Server::accept_until_shutdown` returns);
/// 2. the hub tells every client the server is shutting down and when
///    (`Server::announce_shutdown`);
/// 3. users keep chatting until they all leave or `shutdown_grace_secs` passes
///    (a second `Shutdown` ends the grace now) (`Server::grace`);
/// 4. the hub sends the final notice and closes every outbox after its queue
///    (the hub's task ends with the summary, in `Server::grace`);
/// 5. wait (at most [`FLUSH_TIMEOUT`]) for every writer to flush and close
///    (`Server::wait_for_writers`);
/// 6. log the summary and return it.
///
/// If the listening socket itself fails, the same order runs and `run` then
/// returns that error.
pub async fn run(
    listener: TcpListener,
    config: Config,
    orders: Receiver<Order>,
    extras: Extras,
) -> io::Result<Summary> {
    let listener = Async::new(listener)?;
    let (mut server, hub_task) = Server::start(config, orders, extras).await?;
    let fatal = server.accept_until_shutdown(listener).await;
    info!("shutdown begun: no longer accepting connections");
    server.announce_shutdown().await;
    let summary = server.grace(hub_task).await;
    server.wait_for_writers().await;
    info!(
        "shutdown finished: {} clients notified, {} lines in, {} deliveries, {} slow drops",
        summary.clients_at_close, summary.lines_in, summary.deliveries, summary.slow_drops
    );
    match fatal {
        Some(err) => Err(err),
        None => Ok(summary),
    }
}

impl Server {
    /// Starts the hub, its ticker and the control socket's task; returns the
    /// server and the hub's task, which ends with the summary once the grace
    /// is over.
    async fn start(
        config: Config,
        orders: Receiver<Order>,
        extras: Extras,
    ) -> io::Result<(Server, Task<Summary>)> {
        let Extras {
            bans,
            history,
            control_socket,
            source,
            motd,
            metrics,
            resume,
            asker,
            exe,
            args,
        } = extras;
        let upgrades = upgrade::Upgrades {
            exe,
            args,
            control: control_socket.as_ref().map(|s| s.as_raw_fd()),
            metrics: metrics.as_ref().map(|s| s.as_raw_fd()),
        };
        let max_clients = config.max_clients;
        let config = Arc::new(config);
        let live = Arc::new(LiveConfig::new(Arc::clone(&config)));
        let counters = Arc::new(SharedCounters::default());
        let (hub, hub_rx) = async_channel::bounded(HUB_QUEUE);
        let (hub_task, resumed) = upgrade::start_hub(
            hub_rx,
            config,
            Arc::clone(&counters),
            (bans, history),
            resume,
            asker,
        );
        // The ticker ends when the hub does (its send fails); dropping it with
        // the server cancels it in any case.
        let ticker = crate::exec::spawn(tick(hub.clone()));
        // Fails only if the hub has already closed, which it cannot have yet.
        let _ = hub.send(Event::Motd(motd.map(Arc::from))).await;
        let (ctl_reload_tx, ctl_reloads) = async_channel::bounded(4);
        let (ctl_upgrade_tx, ctl_upgrades) = async_channel::bounded(4);
        let requests = ServerRequests {
            reload: ctl_reload_tx,
            upgrade: ctl_upgrade_tx,
        };
        let control_task = match control_socket {
            Some(socket) => Some(crate::exec::spawn(control::serve(
                Async::new(socket)?,
                hub.clone(),
                requests,
            ))),
            None => None,
        };
        let metrics_task = match metrics {
            Some(listener) => Some(crate::exec::spawn(crate::scrape::serve(
                Async::new(listener)?,
                hub.clone(),
            ))),
            None => None,
        };
        let (all_done, all_done_rx) = async_channel::bounded::<()>(1);
        let mut server = Server {
            hub,
            _ticker: ticker,
            _control_task: control_task,
            _metrics_task: metrics_task,
            live,
            source,
            orders,
            ctl_reloads,
            ctl_upgrades,
            counters,
            all_done: Some(all_done),
            all_done_rx,
            clients: Arc::new(Semaphore::new(max_clients)),
            addresses: Arc::new(AddressSlots::default()),
            last_id: std::sync::atomic::AtomicU64::new(0),
            upgrade: upgrades,
        };
        if let Some(resumed) = resumed {
            server.resume(resumed).await;
        }
        Ok((server, hub_task))
    }

    /// The next order from main (signals) or from the control socket
    /// (`reload`); None once main has hung up.
    async fn next_order(&self) -> Option<Order> {
        let ctl = async {
            future::or(
                async { self.ctl_reloads.recv().await.ok().map(Order::Reload) },
                async { self.ctl_upgrades.recv().await.ok().map(Order::Upgrade) },
            )
            .await
        };
        future::or(async { self.orders.recv().await.ok() }, async {
            match ctl.await {
                Some(order) => Some(order),
                // No control socket: only main speaks.
                None => future::pending().await,
            }
        })
        .await
    }

    /// Step 2: the hub tells everyone; the server's own `all_done` goes, so
    /// that only the connections' copies keep the channel open.
    async fn announce_shutdown(&mut self) {
        self.all_done = None;
        // The hub has not closed yet, so this cannot fail; if it had, there
        // would be nobody left to tell.
        let _ = self.hub.send(Event::BeginShutdown).await;
    }

    /// Steps 3 and 4: the grace, ended by its timer, a second shutdown order or
    /// the last user leaving; reloads are still applied meanwhile. Returns the
    /// hub's summary once it has sent the final notice and closed every outbox.
    async fn grace(&self, hub_task: Task<Summary>) -> Summary {
        let grace = Duration::from_secs(self.live.get().1.shutdown_grace_secs);
        let hub_done = async { Some(hub_task.await) };
        // Sends of EndGrace below fail only once the hub has closed, when the
        // grace is over anyway.
        let second_signal = async {
            loop {
                match self.next_order().await {
                    Some(Order::Shutdown) => {
                        let _ = self.hub.send(Event::EndGrace).await;
                    }
                    // A reload during the grace is applied without telling
                    // systemd: once STOPPING=1 is sent, READY=1 would say the opposite.
                    Some(Order::Reload(request)) => self.reload(request, false).await,
                    Some(Order::Upgrade(request)) => {
                        let why = "upgrade refused: chatd is shutting down\n";
                        let _ = request.reply.try_send(Reply::Refused(why.to_owned()));
                    }
                    // main is gone; let the grace run its course.
                    None => future::pending::<()>().await,
                }
            }
        };
        let grace_over = async {
            Timer::after(grace).await;
            let _ = self.hub.send(Event::EndGrace).await;
            future::pending::<()>().await
        };
        future::or(hub_done, async {
            future::or(second_signal, grace_over).await;
            None
        })
        .await
        .unwrap_or_default()
    }

    /// Step 5: waits (at most [`FLUSH_TIMEOUT`]) for every connection's writer
    /// to have written its last lines and closed.
    async fn wait_for_writers(&self) {
        let flushed = future::or(
            async {
                // Err means every connection task has dropped its sender: all done.
                let _ = self.all_done_rx.recv().await;
                true
            },
            async {
                Timer::after(FLUSH_TIMEOUT).await;
                false
            },
        )
        .await;
        if !flushed {
            warn!(
                "shutdown: some clients did not take their last lines within {}s; closing anyway",
                FLUSH_TIMEOUT.as_secs()
            );
        }
    }

    /// Carries out a reload (SIGHUP or `chatd ctl reload`): re-reads the file
    /// and the MOTD off the executor, applies them, and only then answers, so
    /// that whoever asked knows the new settings are in force. `tell_systemd`:
    /// wrap it in `RELOADING=1` … `READY=1`.
    async fn reload(&self, request: ReloadRequest, tell_systemd: bool) {
        if self.source.path().is_none() {
            info!("reload: no config file (running on built-in defaults), nothing to reload");
            let why = "no config file (running on built-in defaults), nothing to reload\n";
            self.counters.reloaded(ReloadResult::Refused);
            // The asker may have given up; then nobody waits for the answer.
            let _ = request.reply.try_send(Reply::Refused(why.to_owned()));
            return;
        }
        if tell_systemd {
            crate::systemd::notify_or_warn("RELOADING=1");
        }
        let source = self.source.clone();
        let current = self.live.get().1;
        let read = smol::unblock(move || {
            let (new, kept) = source.reload(&current)?;
            let motd = motd::read(&new)?;
            Ok::<_, String>((new, kept, motd))
        })
        .await;
        let reply = match read {
            Ok((new, kept, motd)) => {
                // Logged before the new level applies, so that a reload to "warn" still says so.
                info!("config reloaded");
                self.counters.reloaded(ReloadResult::Applied);
                crate::log::set_level(new.log_level);
                let new = Arc::new(new);
                self.live.replace(Arc::clone(&new));
                // The hub takes these before any event sent after them (a new
                // connection's, say). They fail only once the hub has closed, when
                // there is nothing left to configure.
                let _ = self.hub.send(Event::Reload(new)).await;
                let _ = self.hub.send(Event::Motd(motd.map(Arc::from))).await;
                // What the file changed but a reload cannot apply is said,
                // not only logged: the answer must not claim it took effect.
                Reply::Done(if kept.is_empty() {
                    "config reloaded\n".to_owned()
                } else {
                    format!(
                        "config reloaded, except what needs a restart (kept as it was): {}\n",
                        kept.join(", ")
                    )
                })
            }
            Err(err) => {
                for line in err.to_string().lines() {
                    warn!("config reload refused, keeping the old settings: {line}");
                }
                self.counters.reloaded(ReloadResult::Refused);
                Reply::Refused(format!("{err}\n"))
            }
        };
        if tell_systemd {
            crate::systemd::notify_or_warn("READY=1");
        }
        let _ = request.reply.try_send(reply);
    }

    /// Step 1: accepts connections until the first shutdown order, applying
    /// reloads meanwhile; the listener is dropped when this returns, so new
    /// connects are refused from then on. Returns the error if the listening
    /// socket itself failed; the server then shuts down gracefully as if
    /// signalled, and `run` reports the error.
    async fn accept_until_shutdown(&self, listener: Async<TcpListener>) -> Option<io::Error> {
        let rejects_in_flight = Arc::new(AtomicUsize::new(0));
        // A live upgrade's checks of the new binary, while they run.
        let mut checking: Option<Task<upgrade::Checked>> = None;

        enum Woke {
            Accepted(io::Result<(Async<TcpStream>, SocketAddr)>),
            Order(Option<Order>),
            Checked(upgrade::Checked),
        }
        loop {
            let checked = async {
                match checking.as_mut() {
                    Some(task) => Woke::Checked(task.await),
                    None => future::pending().await,
                }
            };
            let woke = future::or(
                async { Woke::Accepted(listener.accept().await) },
                future::or(async { Woke::Order(self.next_order().await) }, checked),
            )
            .await;
            let (stream, peer) = match woke {
                Woke::Accepted(Ok(accepted)) => accepted,
                Woke::Accepted(Err(err)) => {
                    if listener_broken(&err) {
                        error!("accept failed: {err}; the listening socket is unusable");
                        return Some(err);
                    }
                    accept_failed(&err).await;
                    continue;
                }
                Woke::Order(Some(Order::Reload(request))) => {
                    self.reload(request, true).await;
                    continue;
                }
                Woke::Order(Some(Order::Upgrade(request))) => {
                    if checking.is_some() {
                        // SIGUSR2 has nobody to answer: the log says it.
                        warn!("upgrade refused: already upgrading");
                        let why = "upgrade refused: already upgrading\n".to_owned();
                        let _ = request.reply.try_send(Reply::Refused(why));
                    } else {
                        checking = Some(self.check_upgrade(request));
                    }
                    continue;
                }
                Woke::Checked(checked) => {
                    checking = None;
                    // Returns only if the upgrade did not happen.
                    self.upgrade(checked, &listener).await;
                    continue;
                }
                // A shutdown, or main hung up: stop accepting either way.
                Woke::Order(Some(Order::Shutdown) | None) => return None,
            };
            let (_, config) = self.live.get();
            let texts = Texts::of(&config);
            let Some(permit) = self.clients.try_acquire_arc() else {
                info!(
                    "rejected {peer}: server full ({} clients)",
                    config.max_clients
                );
                self.reject(
                    stream,
                    Rejection::Full,
                    texts.server_full(),
                    &rejects_in_flight,
                );
                continue;
            };
            let Some(slot) = self
                .addresses
                .try_take(peer.ip(), config.max_clients_per_ip)
            else {
                info!(
                    "rejected {peer}: too many connections from {} (max {})",
                    peer.ip(),
                    config.max_clients_per_ip
                );
                self.reject(
                    stream,
                    Rejection::PerAddress,
                    texts.too_many_from_address(),
                    &rejects_in_flight,
                );
                continue;
            };
            // Lines are batched by the writer already; Nagle would only add latency.
            // Failing to set it costs latency, not correctness.
            let _ = stream.get_ref().set_nodelay(true);
            let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
            info!("connect {peer} (client {id})");
            let stream = Arc::new(stream);
            let outbox = Arc::new(Outbox::new());
            let connected = Event::Connected {
                id,
                peer,
                outbox: Arc::clone(&outbox),
            };
            if self.hub.send(connected).await.is_err() {
                return None;
            }
            let conn = Conn {
                id,
                peer,
                stream,
                outbox,
                input: None,
            };
            self.spawn_conn(conn, Some(permit), Some(slot));
        }
    }

    /// Starts a connection's task. Its permit and address slot go with it
    /// (None: a connection a live upgrade handed over past the limits).
    fn spawn_conn(
        &self,
        conn: Conn,
        permit: Option<async_lock::SemaphoreGuardArc>,
        slot: Option<AddressSlot>,
    ) {
        let Conn {
            id,
            peer: _,
            stream,
            outbox,
            input,
        } = conn;
        let hub = self.hub.clone();
        let live = Arc::clone(&self.live);
        let counters = Arc::clone(&self.counters);
        // The permit, the address slot and `done` go with the connection and
        // are dropped when it ends. Spawned as it is, not inside another
        // future: an async block awaiting a future it captured would keep it
        // twice, for the connection's whole life.
        let guards = (permit, slot, self.all_done.clone());
        let serve = connection::serve(id, stream, outbox, hub, live, counters, input, guards);
        crate::exec::spawn(serve).detach();
    }

    /// Tells a turned-away client why in one line, then closes.
    fn reject(
        &self,
        stream: Async<TcpStream>,
        reason: Rejection,
        why: String,
        in_flight: &Arc<AtomicUsize>,
    ) {
        self.counters.rejected(reason);
        admit::reject(stream, why, in_flight);
    }
}

async fn tick(hub: Sender<Event>) {
    loop {
        Timer::after(Duration::from_secs(1)).await;
        if hub.send(Event::Tick).await.is_err() {
            return;
        }
    }
}
