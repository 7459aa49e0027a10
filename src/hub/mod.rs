//! The hub: the one owner of everything the server knows about its users —
//! every connection, who is signed in under which nickname, the rooms they are
//! in with their histories and topics, operators, bans and mutes — and the
//! fan-out of every line to every recipient's [`Outbox`].
//!
//! One task ([`dispatch`]) owns all of it and is fed [`Event`]s over a bounded
//! async-channel by the accept loop, the client readers, the control socket
//! and the server's timers. Nothing else touches the hub, so it needs no lock.
//! It never awaits a socket. Its concerns live in one file each:
//! - `members`: connections and the nickname index;
//! - `rooms`: the rooms users are in (the lobby and those `/join` makes), each
//!   with its members, history, topic and round; `joins`: moving between
//!   them, and `/rooms`, `/who`, `/topic`;
//! - `round`: how a round's lines become each member's block; `delivery`:
//!   sending them, per room, through `try_push` into bounded outboxes;
//! - `backlog`: the send queue's soft and hard bounds, and when a client that
//!   fell behind is dropped;
//! - `commands`: what each input line does (sign-in, chat, each command handed
//!   to its group's handler, and the session and talk groups' own: `/help`,
//!   `/nick`, `/quit`, `/me`, `/msg`);
//! - `comfort`: `/reply`, `/away`, `/back`, `/ignore`, `/bell`, `/colors`,
//!   `/timestamps`;
//! - `moderation`: kick, purge, op, the control socket's requests, and
//!   answers that wait for a change to reach the disk;
//! - `keep`: kept rooms (`keep`, `unkeep`), the rooms the start read back,
//!   and what goes to the history savers;
//! - `sanctions`: bans and mutes, which bind to addresses, and what a mute
//!   keeps from the room;
//! - `timers`: the once-a-second tick (login timeouts, clients stalled over the
//!   soft bound, presence summaries, the health line, the systemd heartbeat);
//! - `counts`: what the hub counts for the health line and the metrics, and
//!   the snapshot it answers a request for the metrics with.
//!
//! This file holds the events, the hub's state, and its life: connect, leave,
//! shutdown.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Receiver;

use crate::bans::Bans;
use crate::config::Config;
use crate::history::Disk;
use crate::metrics::Snapshot;
use crate::nick::nick_key;
use crate::outbox::{Block, Outbox};
use crate::text::{LeaveReason, Texts};
use crate::{debug, info, warn};

mod backlog;
mod comfort;
mod commands;
mod counts;
mod delivery;
mod handover;
mod joins;
mod keep;
mod members;
mod moderation;
mod rooms;
mod round;
mod sanctions;
mod timers;

#[cfg(test)]
mod handover_tests;
#[cfg(test)]
mod tests;

use backlog::{Overflow, QueueBounds};
use counts::Counts;
pub use counts::{Rejection, ReloadResult, SharedCounters};
use handover::Upgrade;
pub use handover::{Frozen, NotRestored, Restored, Resumed, restore};
use members::Members;

pub use rooms::MAX_ROOM_NAME_CHARS;
use rooms::Rooms;
use round::Fanout;

/// Identifies one connection for its whole life; never reused.
pub type ClientId = u64;

/// Identifies a room: its slot in [`Rooms`], so that a member's
/// room is an index, not a name to look up on every delivery.
type RoomId = u32;

/// The lobby's slot; it is never removed.
const LOBBY: RoomId = 0;

/// A round handles at most this many events before its broadcasts go out, so
/// that under a steady flood of events lines still leave every few milliseconds
/// (a round of chat lines takes about 0.5 µs each). As many as the hub's queue
/// holds (`HUB_QUEUE`): in a burst a bigger round is a bigger write per
/// recipient, and the burst's CPU per delivery fell from 0.022–0.045 to
/// 0.019–0.025 µs when it went from 256 to 1024 (docs/performance.md).
pub const ROUND_EVENTS: usize = 1024;

/// A round's broadcasts go out early once they add up to this many bytes: each
/// recipient then gets blocks of a bounded size.
pub const ROUND_BYTES: usize = 64 * 1024;

/// Join lines carry the whole list of names only while the room is at most this
/// big: in a room of thousands a list in every join line would be most of the traffic.
pub const JOIN_LIST_MAX_ROOM: usize = 20;

/// What the hub reacts to.
#[derive(Debug, Clone)]
pub enum Event {
    /// The accept loop admitted a connection; the hub owns its outbox from now on.
    Connected {
        /// The new connection.
        id: ClientId,
        /// Its remote address, for the log.
        peer: SocketAddr,
        /// Where lines for it go.
        outbox: Arc<Outbox>,
    },
    /// A complete input line from a client, decoded but not sanitized.
    Line {
        /// The sender.
        id: ClientId,
        /// The line, without its terminator.
        text: String,
        /// When it arrived: read, and let through by flood control (for the
        /// line-latency metric).
        at: Instant,
    },
    /// A client sent a line over `max_line_bytes`; it was discarded.
    TooLong {
        /// The sender.
        id: ClientId,
    },
    /// Flood control began holding a client's lines back (once per burst):
    /// the client is told how many wait, and why.
    FloodHeld {
        /// The sender.
        id: ClientId,
        /// Its lines read and not yet handed on, this one included.
        waiting: usize,
    },
    /// The client's connection ended (EOF or error).
    Disconnected {
        /// The connection that ended.
        id: ClientId,
        /// EOF, or the error that ended it.
        reason: LeaveReason,
    },
    /// Once a second, from the server's ticker: login timeouts, clients
    /// stalled over the soft bound, expired bans, presence summaries, the
    /// health line, and systemd's status and watchdog (see `timers.rs`).
    Tick,
    /// A shutdown signal: tell everyone, start the grace period.
    BeginShutdown,
    /// The grace period is over (its timer fired, or a second signal came).
    EndGrace,
    /// The config file was re-read.
    Reload(Arc<Config>),
    /// The message of the day (protocol lines), read at start and on reload.
    Motd(Option<Arc<str>>),
    /// A request line from the control socket (`kick troll spam`, `who`, …), not
    /// yet parsed; the hub answers it on `reply` exactly once.
    ControlRequest {
        /// The request, without its line break.
        line: String,
        /// Where the one answer goes.
        reply: async_channel::Sender<crate::reply::Reply>,
    },
    /// The ban or mute file was written, or a write failed: the answers
    /// waiting for it go out. The hub makes this event itself, when
    /// [`Bans::saved_signal`] wakes it.
    Saved,
    /// A request for the metrics (`chatd ctl metrics`, the HTTP endpoint):
    /// the hub answers on `reply` with a copy of its counts, and the asker
    /// writes the text.
    Metrics {
        /// Where the snapshot goes.
        reply: async_channel::Sender<Snapshot>,
    },
    /// A live upgrade begins: stop every connection, then send the state
    /// (see `hub/handover.rs`). No answer means no (a shutdown has begun).
    Freeze {
        /// Where the state goes.
        reply: async_channel::Sender<Frozen>,
    },
    /// A connection stopped for the upgrade, after its last line: its socket
    /// and reader's state.
    Frozen {
        /// The connection.
        id: ClientId,
        /// Its socket and reader's state.
        handed: Box<crate::input::Handed>,
    },
    /// The upgrade's exec failed: carry on (the server restarts the
    /// connections' tasks).
    Thaw,
}

/// What the hub did over its life, for the shutdown summary.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Clients still connected when the hub closed; each got the final notice.
    pub clients_at_close: usize,
    /// Chat lines and commands received from signed-in users.
    pub lines_in: u64,
    /// Lines queued to recipients.
    pub deliveries: u64,
    /// Clients dropped because their outbox overflowed.
    pub slow_drops: u64,
}

struct Hub {
    /// The settings in force; replaced on reload, together with what is
    /// derived from them below (never recomputed per line).
    config: Arc<Config>,
    /// The server's voice: `language` and `colors`.
    texts: Texts,
    /// The send queue's bounds: `send_queue_bytes`, its hard bound and grace.
    bounds: QueueBounds,
    members: Members,
    /// The lobby and the rooms made with `/join`, each with its members,
    /// history, topic and round.
    rooms: Rooms,
    /// Who may not connect, and who may not be heard; kept on disk with
    /// `state_dir`.
    bans: Bans,
    /// What is kept on disk about rooms (histories, kept rooms, topics) and
    /// its savers; dropped with the hub, which writes what waits.
    disk: Disk,
    /// Answers about changes to the bans or mutes, waiting for their file to
    /// be written.
    pending: Vec<moderation::Pending>,
    /// Shown to each user after sign-in.
    motd: Option<Arc<str>>,
    /// Connections not signed in yet, in the order they must have signed in by.
    login_deadlines: VecDeque<(Instant, ClientId)>,
    fanout: Fanout,
    /// A shutdown has begun; the server's grace timer sends `EndGrace`.
    shutting_down: bool,
    started: Instant,
    last_health: Instant,
    summary: Summary,
    /// What the hub counts (lines, sign-ins, moderation actions, rounds, …).
    counts: Counts,
    /// When the line being handled arrived (`Event::Line`).
    line_arrived: Instant,
    /// The time (Unix seconds) when this round began: when its lines are
    /// said, for timestamps and the history. Read once a round, not once a
    /// line; a round is over within milliseconds.
    round_time: u64,
    /// Where a chat or action line is joined before it becomes its block
    /// (`joined_block`); kept, so that a line costs one allocation. As long
    /// as the longest line said since the start.
    line_buffer: String,
    /// What others count and the hub reads (rejections, flood holds, reloads).
    shared: Arc<SharedCounters>,
    /// Status and watchdog pings to systemd, sent from the tick.
    heartbeat: crate::systemd::Heartbeat,
    /// A live upgrade under way: connections freezing, or the state written.
    upgrade: Option<Upgrade>,
}

/// Runs the hub until shutdown completes (or every event sender is gone).
pub async fn dispatch(
    events: Receiver<Event>,
    config: Arc<Config>,
    shared: Arc<SharedCounters>,
    bans: Bans,
    disk: Disk,
) -> Summary {
    let mut hub = Hub::new(config, shared, bans, disk);
    // What the disk kept (topics, kept rooms, histories) comes back now.
    let found = hub.disk.take_found();
    hub.put_back(found);
    run(hub, events).await
}

/// Runs a hub a live upgrade handed over (see [`restore`]) until
/// shutdown: every client first hears that the server was upgraded.
pub async fn dispatch_restored(events: Receiver<Event>, restored: Restored) -> Summary {
    let mut hub = restored.hub;
    hub.announce_upgrade();
    run(hub, events).await
}

async fn run(mut hub: Hub, events: Receiver<Event>) -> Summary {
    let saved = hub.bans.saved_signal();
    // Whatever was queued before the first event (a restored hub's notices)
    // goes out now, not with the first round.
    hub.end_round();
    let threads = crate::exec::running();
    // No yielding between events: while events keep coming the hub works
    // through a round of them, queues the round's broadcasts as one block per
    // recipient, and each writer then finds a long run of lines to send in one
    // write. Under load that batching is what keeps a delivery cheap; the
    // bounded hub queue makes the readers, not the outboxes, wait. Between
    // rounds it also listens for the ban and mute savers (events first).
    loop {
        let next = smol::future::or(async { events.recv().await.ok() }, async {
            // `Bans` keeps a sender, so this never fails; if it did, no
            // answer would be waiting for a saver any more.
            let _ = saved.recv().await;
            Some(Event::Saved)
        });
        let Some(event) = next.await else {
            break;
        };
        let began = Instant::now();
        hub.round_time = round::unix_now();
        let mut done = hub.handle(event);
        let mut handled = 1;
        while !done && handled < ROUND_EVENTS {
            let Ok(event) = events.try_recv() else {
                break;
            };
            done = hub.handle(event);
            handled += 1;
        }
        // A full round, and events waiting still: the hub is what holds the
        // clients up (a burst, not a chat), so with other threads to run the
        // writers it leaves the writes to them (in parallel, and in bigger
        // batches) and gets back to the events.
        hub.fanout.to_writers = threads > 1 && handled >= ROUND_EVENTS / 2 && !events.is_empty();
        hub.end_round();
        hub.round_ended(began);
        if done {
            hub.close_all();
            break;
        }
    }
    hub.summary.deliveries = hub.fanout.deliveries;
    // Dropping the hub stops the savers, which write what waits first: a
    // graceful stop loses no line of history.
    hub.summary
}

/// Whether a live upgrade under way changes how `event` is handled: lines,
/// leaves and the like, sent before their reader froze, are handled as
/// ever; what would change the state after it is written waits or is
/// refused.
fn upgrade_holds(event: &Event) -> bool {
    matches!(
        event,
        Event::Frozen { .. }
            | Event::Thaw
            | Event::ControlRequest { .. }
            | Event::Tick
            | Event::Metrics { .. }
            | Event::Saved
            | Event::Freeze { .. }
    )
}

/// A block holding the server's text `text` (one or more whole lines).
fn block(text: String) -> Block {
    Arc::from(text.into_bytes().into_boxed_slice())
}

/// A block holding `parts` joined, joined in `buffer` (emptied first): the
/// block is the line's one allocation (a `String` made into a block would be
/// a second, and a copy).
fn joined_block(buffer: &mut String, parts: &[&str]) -> Block {
    buffer.clear();
    for part in parts {
        buffer.push_str(part);
    }
    Arc::from(buffer.as_bytes())
}

impl Hub {
    /// A hub with no connections and no rooms but the lobby; what the disk
    /// kept is put back by [`dispatch`] (a live upgrade brings its own).
    fn new(config: Arc<Config>, shared: Arc<SharedCounters>, bans: Bans, disk: Disk) -> Hub {
        let now = Instant::now();
        Hub {
            texts: Texts::of(&config),
            bounds: QueueBounds::of(&config),
            config,
            members: Members::default(),
            rooms: Rooms::default(),
            bans,
            disk,
            pending: Vec::new(),
            motd: None,
            login_deadlines: VecDeque::new(),
            fanout: Fanout::default(),
            shutting_down: false,
            started: now,
            last_health: now,
            summary: Summary::default(),
            counts: Counts::new(now),
            line_arrived: now,
            round_time: round::unix_now(),
            line_buffer: String::new(),
            shared,
            heartbeat: crate::systemd::Heartbeat::from_env(),
            upgrade: None,
        }
    }

    /// Handles one event; returns true when the hub should close.
    fn handle(&mut self, event: Event) -> bool {
        let done = if self.upgrade.is_some() && upgrade_holds(&event) {
            self.handle_upgrading(event);
            false
        } else {
            self.handle_event(event)
        };
        // A live upgrade goes on once the last member has frozen (or left).
        if self.upgrade.is_some() {
            self.finish_freeze_if_done();
        }
        done
    }

    /// Handles one event as ever.
    fn handle_event(&mut self, event: Event) -> bool {
        match event {
            Event::Connected { id, peer, outbox } => self.connected(id, peer, outbox),
            Event::Line { id, text, at } => {
                self.line_arrived = at;
                self.input(id, &text);
            }
            Event::TooLong { id } => {
                let msg = self.texts.too_long(self.config.max_line_bytes);
                self.send(id, block(msg));
            }
            Event::FloodHeld { id, waiting } => {
                let config = &self.config;
                let msg =
                    self.texts
                        .flood_held(waiting, config.flood_burst, config.flood_lines_per_sec);
                self.send(id, block(msg));
            }
            Event::Disconnected { id, reason } => self.remove(id, reason),
            Event::Tick => self.tick(),
            Event::BeginShutdown => self.begin_shutdown(),
            Event::EndGrace => return true,
            Event::Reload(config) => {
                self.texts = Texts::of(&config);
                self.bounds = QueueBounds::of(&config);
                for (_, room_id) in self.rooms.iter_mut() {
                    while room_id.history.len() > config.history {
                        room_id.history.pop_front();
                    }
                }
                self.config = config;
            }
            Event::ControlRequest { line, reply } => self.control_request(&line, reply),
            Event::Saved => self.saves_settled(),
            Event::Motd(motd) => self.motd = motd,
            Event::Metrics { reply } => {
                // The asker may have given up; then nobody wants the numbers.
                let _ = reply.try_send(self.snapshot());
            }
            Event::Freeze { reply } => self.begin_freeze(reply),
            // Not upgrading: a stray handover closes its socket.
            Event::Frozen { .. } | Event::Thaw => {}
        }
        // During a shutdown the hub closes as soon as the last user has left:
        // connections that never signed in have nothing to finish.
        self.shutting_down && self.members.registered() == 0
    }

    /// Handles, during a live upgrade, an event [`upgrade_holds`].
    fn handle_upgrading(&mut self, event: Event) {
        match event {
            Event::Frozen { id, handed } => self.frozen_conn(id, handed),
            Event::Thaw => self.thaw(),
            Event::ControlRequest { reply, .. } => {
                let why = "chatd is upgrading; ask again in a moment\n".to_owned();
                let _ = reply.try_send(crate::reply::Reply::Refused(why));
            }
            // The clock, the metrics and the disk wait for the new image.
            _ => {}
        }
    }

    fn connected(&mut self, id: ClientId, peer: SocketAddr, outbox: Arc<Outbox>) {
        if self.refuse_if_banned(peer, &outbox) {
            return;
        }
        let banner = self
            .texts
            .banner(&self.config.room_name, self.members.registered());
        self.counts.accepted += 1;
        self.members.connect(id, peer, outbox);
        let deadline = Instant::now() + Duration::from_secs(self.config.login_timeout_secs);
        self.login_deadlines.push_back((deadline, id));
        self.send(id, block(banner));
    }

    /// Removes a client: closes its outbox (after what is queued) and tells its room.
    fn remove(&mut self, id: ClientId, reason: LeaveReason) {
        if reason != LeaveReason::TooSlow {
            // What was said before this client left is written before the close.
            self.catch_up(id);
        }
        // A muted user comes and goes unannounced (their nickname is their
        // own words); a kick or ban is the operator's, and is told.
        let quiet = self.is_muted(id)
            && !matches!(
                reason,
                LeaveReason::Kicked { .. } | LeaveReason::Banned { .. }
            );
        let Some(member) = self.members.remove(id) else {
            return;
        };
        self.unfreeze_wait(id);
        self.fanout.backlogs.remove(&id);
        if reason == LeaveReason::TooSlow {
            member.outbox.abort();
        } else {
            member.outbox.close();
        }
        let Some(nick) = member.nick else {
            debug!(
                "{} left before registering: {}",
                member.peer,
                reason.describe()
            );
            return;
        };
        let online = self.members.registered();
        info!(
            "left {nick:?} from {}: {} ({online} online)",
            member.peer,
            reason.for_log(),
        );
        if let Some(typed) = reason.typed() {
            debug!("{nick:?} left saying: {typed}");
        }
        let room_id = member.room;
        if let Some(gone) = self.rooms.take_out(room_id, &nick_key(&nick)) {
            self.room_gone(&gone);
        }
        if !quiet {
            self.announce_leave(room_id, |texts, place, here, online| {
                texts.left_in(place, &nick, &reason, here, online)
            });
        }
    }

    /// Whether a join or leave in a room of `members` goes into the summary
    /// instead of a line of its own (`presence_summary_above`, 0: never).
    fn summarizes(&self, members: usize) -> bool {
        let above = self.config.presence_summary_above;
        above > 0 && members > above
    }

    /// Drops every client whose outbox overflowed or stalled. Their leave lines
    /// join the round; [`end_round`](Self::end_round) queues them, which can
    /// overflow another outbox, and calls this again.
    fn drop_too_slow(&mut self) {
        while let Some((id, overflow)) = self.fanout.too_slow.pop() {
            if let Some(member) = self.members.get(id) {
                let bounds = self.bounds;
                // The log names the bound, and the key that sets it.
                let why = match overflow {
                    Overflow::Hard => format!(
                        "more than {} bytes queued: send_queue_hard_bytes",
                        bounds.hard
                    ),
                    Overflow::Stalled => format!(
                        "over {} bytes queued and nothing read for {} s: send_queue_grace_secs",
                        bounds.soft,
                        bounds.grace.as_secs()
                    ),
                };
                warn!(
                    "slow client dropped: {} {:?} ({why})",
                    member.peer,
                    member.nick.as_deref().unwrap_or(""),
                );
                self.summary.slow_drops += 1;
                self.counts.slow_dropped(overflow);
                self.remove(id, LeaveReason::TooSlow);
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        // Everyone's notice comes after the round so far, in one pass.
        self.flush();
        let grace = self.config.shutdown_grace_secs;
        let msg = block(self.texts.shutdown_begun(grace));
        // Everyone hears it, signed in or not, so it is not a broadcast.
        for id in self.members.ids() {
            self.send(id, Arc::clone(&msg));
        }
    }

    /// The end of a shutdown: the last notice to everyone, then close every outbox
    /// after what it holds has been written.
    fn close_all(&mut self) {
        let msg = block(self.texts.shutdown_now());
        self.summary.clients_at_close = self.members.len();
        for (_, member) in self.members.drain() {
            member.outbox.push_final(Arc::clone(&msg));
            member.outbox.close();
            if let Some(nick) = member.nick {
                info!(
                    "left {nick:?} from {}: {}",
                    member.peer,
                    LeaveReason::Shutdown.for_log()
                );
            }
        }
        // `stats_interval_secs = 0` turns the health line off, this last one included.
        if self.config.stats_interval_secs > 0 {
            self.log_health();
        }
    }
}
