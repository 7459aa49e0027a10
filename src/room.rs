//! The room: who is connected, who is registered under which nickname, the
//! history, and fan-out of every line to every recipient's [`Outbox`].
//!
//! One task ([`dispatch`]) owns all of it and is fed [`Event`]s over a bounded
//! async-channel by the accept loop, the client readers and the server's timers.
//! Nothing else touches the room, so it needs no lock. The fan-out only ever
//! `try_push`es into a client's bounded outbox: a full outbox means that client
//! is dropped as too slow, never that the room waits for it. It never awaits a
//! socket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_channel::Receiver;

use crate::config::Config;
use crate::outbox::{Line, Outbox, PushError};
use crate::protocol::{self, Input};
use crate::text::{LeaveReason, MAX_LISTED_NAMES, Texts};
use crate::{debug, info, warn};

/// Identifies one connection for its whole life; never reused.
pub type ClientId = u64;

/// Join lines carry the whole list of names only while the room is at most this
/// big: in a room of thousands a list in every join line would be most of the traffic.
pub const JOIN_LIST_MAX_ROOM: usize = 20;

/// What the room reacts to.
#[derive(Debug)]
pub enum Event {
    /// The accept loop admitted a connection; the room owns its outbox from now on.
    Connected {
        /// The new connection.
        id: ClientId,
        /// Its remote address, for the log.
        peer: SocketAddr,
        /// Where lines for it go.
        outbox: Arc<Outbox>,
    },
    /// A complete line from a client, decoded but not yet sanitized.
    Line {
        /// Who sent it.
        id: ClientId,
        /// The line, without its terminator.
        text: String,
    },
    /// A client sent a line over `max_line_bytes`; it was discarded.
    TooLong {
        /// Who sent it.
        id: ClientId,
    },
    /// The client's connection ended (EOF or error).
    Disconnected {
        /// Whose.
        id: ClientId,
        /// How.
        reason: LeaveReason,
    },
    /// Once a second: login timeouts, the health line, systemd status.
    Tick,
    /// A shutdown signal: tell everyone, start the grace period.
    BeginShutdown,
    /// The grace period is over (its timer fired, or a second signal came).
    EndGrace,
    /// The config file was re-read.
    Reload(Arc<Config>),
}

/// Counters shared with the accept loop, which rejects connections the room never sees.
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Connections turned away (server full, per-address limit).
    pub rejections: AtomicU64,
}

/// What the room did over its life, for the shutdown summary.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Clients still connected when the room closed; each got the final notice.
    pub clients_at_close: usize,
    /// Chat lines and commands received from registered users.
    pub lines_in: u64,
    /// Lines queued to recipients.
    pub deliveries: u64,
    /// Clients dropped because their outbox overflowed.
    pub slow_drops: u64,
}

/// Pushes lines into outboxes and keeps count; who overflowed is collected in
/// `too_slow` and dropped after the current event.
#[derive(Default)]
struct Fanout {
    deliveries: u64,
    peak_queue_bytes: usize,
    too_slow: Vec<ClientId>,
}

impl Fanout {
    fn push(&mut self, id: ClientId, outbox: &Outbox, msg: Line, limit: usize) {
        match outbox.try_push(msg, limit) {
            Ok(bytes) => {
                self.deliveries += 1;
                self.peak_queue_bytes = self.peak_queue_bytes.max(bytes);
            }
            Err(PushError::Full) => self.too_slow.push(id),
            // The writer already gave up on this connection; the reader's
            // Disconnected event is on its way and will remove it.
            Err(PushError::Closed) => {}
        }
    }
}

struct Member {
    outbox: Arc<Outbox>,
    peer: SocketAddr,
    /// None until the client registers.
    /// Shared, so that handling a line can hold it without copying it.
    nick: Option<Arc<str>>,
}

struct Room {
    config: Arc<Config>,
    texts: Texts,
    members: HashMap<ClientId, Member>,
    /// Registered nicknames by [`protocol::nick_key`], for case-insensitive uniqueness.
    /// Ordered, so that listing names in case-insensitive order costs no sort:
    /// a join in a room of thousands must not sort thousands of names.
    nicks: BTreeMap<String, ClientId>,
    history: VecDeque<Line>,
    /// Unregistered connections in the order they must have registered by.
    login_deadlines: VecDeque<(Instant, ClientId)>,
    fanout: Fanout,
    /// A shutdown has begun; the server's grace timer sends `EndGrace`.
    shutting_down: bool,
    started: Instant,
    last_health: Instant,
    summary: Summary,
    shared: Arc<SharedCounters>,
    /// Status and watchdog pings to systemd, sent from the tick.
    heartbeat: crate::systemd::Heartbeat,
}

/// Runs the room until shutdown completes (or every event sender is gone).
pub async fn dispatch(
    events: Receiver<Event>,
    config: Arc<Config>,
    shared: Arc<SharedCounters>,
) -> Summary {
    let now = Instant::now();
    let mut room = Room {
        texts: texts_for(&config),
        config,
        members: HashMap::new(),
        nicks: BTreeMap::new(),
        history: VecDeque::new(),
        login_deadlines: VecDeque::new(),
        fanout: Fanout::default(),
        shutting_down: false,
        started: now,
        last_health: now,
        summary: Summary::default(),
        shared,
        heartbeat: crate::systemd::Heartbeat::from_env(),
    };
    // No yielding between events: while events keep coming the room works
    // through them all, and each writer then finds a long run of lines to send
    // in one write. Under load that batching is what keeps a delivery cheap; the
    // bounded room queue makes the readers, not the outboxes, wait.
    while let Ok(event) = events.recv().await {
        let done = room.handle(event);
        room.drop_too_slow();
        if done {
            room.close_all();
            break;
        }
    }
    room.summary.deliveries = room.fanout.deliveries;
    room.summary
}

fn texts_for(config: &Config) -> Texts {
    Texts {
        language: config.language,
        colors: config.colors,
    }
}

fn line(text: String) -> Line {
    Arc::from(text.into_bytes().into_boxed_slice())
}

impl Room {
    fn registered(&self) -> usize {
        self.nicks.len()
    }

    /// Handles one event; returns true when the room should close.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Connected { id, peer, outbox } => self.connected(id, peer, outbox),
            Event::Line { id, text } => self.line(id, &text),
            Event::TooLong { id } => {
                let msg = self.texts.too_long(self.config.max_line_bytes);
                self.send(id, line(msg));
            }
            Event::Disconnected { id, reason } => self.remove(id, reason),
            Event::Tick => self.tick(),
            Event::BeginShutdown => self.begin_shutdown(),
            Event::EndGrace => return true,
            Event::Reload(config) => {
                self.texts = texts_for(&config);
                while self.history.len() > config.history {
                    self.history.pop_front();
                }
                self.config = config;
            }
        }
        // During a shutdown the room closes as soon as the last user has left:
        // connections that never registered have nothing to finish.
        self.shutting_down && self.nicks.is_empty()
    }

    fn connected(&mut self, id: ClientId, peer: SocketAddr, outbox: Arc<Outbox>) {
        let banner = self.texts.banner(&self.config.room_name, self.registered());
        let member = Member {
            outbox,
            peer,
            nick: None,
        };
        self.members.insert(id, member);
        let deadline = Instant::now() + Duration::from_secs(self.config.login_timeout_secs);
        self.login_deadlines.push_back((deadline, id));
        self.send(id, line(banner));
    }

    /// Queues `msg` for one client; an overflow marks it too slow.
    fn send(&mut self, id: ClientId, msg: Line) {
        if let Some(member) = self.members.get(&id) {
            let limit = self.config.send_queue_bytes;
            self.fanout.push(id, &member.outbox, msg, limit);
        }
    }

    /// Queues `msg` for every registered client except `except`.
    fn broadcast(&mut self, msg: &Line, except: Option<ClientId>) {
        let limit = self.config.send_queue_bytes;
        for (&id, member) in &self.members {
            if member.nick.is_some() && Some(id) != except {
                self.fanout.push(id, &member.outbox, Arc::clone(msg), limit);
            }
        }
    }

    fn line(&mut self, id: ClientId, raw: &str) {
        let Some(member) = self.members.get(&id) else {
            // Lines can still arrive from a client the room already closed.
            return;
        };
        match member.nick.clone() {
            None => self.register(id, raw),
            Some(nick) => {
                let text = protocol::sanitize(raw);
                if text.trim().is_empty() {
                    return;
                }
                self.summary.lines_in += 1;
                let input = match protocol::parse_input(&text) {
                    // A new nickname is checked as typed, as at registration:
                    // sanitizing would silently drop the controls and bidi
                    // overrides that the nickname rules refuse.
                    Input::Nick(clean) => match protocol::parse_input(raw) {
                        Input::Nick(typed) => Input::Nick(typed),
                        _ => Input::Nick(clean),
                    },
                    input => input,
                };
                self.command(id, &nick, input);
            }
        }
    }

    fn register(&mut self, id: ClientId, raw: &str) {
        if raw.trim().is_empty() {
            return;
        }
        // `/quit` at the nickname prompt leaves (a nickname cannot start with '/').
        if let Input::Quit(_) = protocol::parse_input(&protocol::sanitize(raw)) {
            self.send(id, line(self.texts.bye_unregistered()));
            self.remove(id, LeaveReason::Quit(None));
            return;
        }
        let nick = match protocol::nick_from_registration(raw, self.config.max_nick_chars) {
            Ok(nick) => nick.to_owned(),
            Err(err) => {
                let msg = self.texts.nick_invalid(&err) + &self.texts.prompt();
                self.send(id, line(msg));
                return;
            }
        };
        let key = protocol::nick_key(&nick);
        if self.nicks.contains_key(&key) {
            let msg = self.texts.nick_taken(&nick) + &self.texts.prompt();
            self.send(id, line(msg));
            return;
        }
        self.nicks.insert(key, id);
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        member.nick = Some(Arc::from(nick.as_str()));
        let peer = member.peer;
        info!("registered {nick:?} from {peer}");

        let online = self.registered();
        let (names, total) = self.names(MAX_LISTED_NAMES);
        let mut welcome = self.texts.welcome(&nick, &names, total);
        if !self.history.is_empty() {
            welcome += &self.texts.history_header(self.history.len());
            for past in &self.history {
                welcome.push_str(&String::from_utf8_lossy(past));
            }
        }
        let list = (online <= JOIN_LIST_MAX_ROOM).then_some(names.as_slice());
        let joined = line(self.texts.joined(&nick, online, list));
        self.send(id, line(welcome));
        self.broadcast(&joined, Some(id));
    }

    /// Up to `max` registered nicknames, in case-insensitive order, and how many there are.
    fn names(&self, max: usize) -> (Vec<&str>, usize) {
        let names = self
            .nicks
            .values()
            .take(max)
            .map(|&id| self.nick_of(id))
            .collect();
        (names, self.nicks.len())
    }

    fn command(&mut self, id: ClientId, nick: &str, input: Input<'_>) {
        match input {
            Input::Chat(text) => {
                let msg = line(self.texts.chat(nick, text));
                self.remember(&msg);
                self.broadcast(&msg, Some(id));
            }
            Input::Me(action) => {
                let msg = line(self.texts.action(nick, action));
                self.remember(&msg);
                self.broadcast(&msg, Some(id));
            }
            Input::Msg { to, text } => match self.nicks.get(&protocol::nick_key(to)).copied() {
                Some(target) => {
                    let to_name = self.nick_of(target).to_owned();
                    self.send(target, line(self.texts.private_from(nick, text)));
                    self.send(id, line(self.texts.private_sent(&to_name, text)));
                }
                None => {
                    let msg = self.texts.no_such_user(to);
                    self.send(id, line(msg));
                }
            },
            Input::Nick(new) => self.rename(id, nick, new),
            Input::Who => {
                let (names, total) = self.names(MAX_LISTED_NAMES);
                let msg = self.texts.who(&names, total);
                self.send(id, line(msg));
            }
            Input::Help => self.send(id, line(self.texts.help())),
            Input::Quit(reason) => {
                self.send(id, line(self.texts.bye(nick)));
                self.remove(id, LeaveReason::Quit(reason.map(str::to_owned)));
            }
            Input::Usage(command) => self.send(id, line(self.texts.usage(command))),
            Input::Unknown(command) => self.send(id, line(self.texts.unknown_command(command))),
        }
    }

    fn nick_of(&self, id: ClientId) -> &str {
        self.members
            .get(&id)
            .and_then(|m| m.nick.as_deref())
            .unwrap_or_default()
    }

    fn remember(&mut self, msg: &Line) {
        if self.config.history == 0 {
            return;
        }
        if self.history.len() == self.config.history {
            self.history.pop_front();
        }
        self.history.push_back(Arc::clone(msg));
    }

    fn rename(&mut self, id: ClientId, old: &str, new: &str) {
        let new = match protocol::validate_nick(new, self.config.max_nick_chars) {
            Ok(new) => new.to_owned(),
            Err(err) => {
                let msg = self.texts.nick_invalid(&err);
                self.send(id, line(msg));
                return;
            }
        };
        let old_key = protocol::nick_key(old);
        let new_key = protocol::nick_key(&new);
        // Changing only the case of one's own name keeps the same key.
        if new_key != old_key && self.nicks.contains_key(&new_key) {
            let msg = self.texts.nick_taken(&new);
            self.send(id, line(msg));
            return;
        }
        self.nicks.remove(&old_key);
        self.nicks.insert(new_key, id);
        if let Some(member) = self.members.get_mut(&id) {
            member.nick = Some(Arc::from(new.as_str()));
            info!("renamed {old:?} to {new:?} from {}", member.peer);
        }
        let msg = line(self.texts.renamed(old, &new));
        self.broadcast(&msg, None);
    }

    /// Removes a client: closes its outbox (after what is queued) and tells the room.
    fn remove(&mut self, id: ClientId, reason: LeaveReason) {
        let Some(member) = self.members.remove(&id) else {
            return;
        };
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
        self.nicks.remove(&protocol::nick_key(&nick));
        info!(
            "left {nick:?} from {}: {} ({} online)",
            member.peer,
            reason.describe(),
            self.registered()
        );
        let msg = line(self.texts.left(&nick, &reason, self.registered()));
        self.broadcast(&msg, None);
    }

    /// Drops every client whose outbox overflowed. Announcing one drop can
    /// overflow another outbox, so this loops until nothing is left.
    fn drop_too_slow(&mut self) {
        while let Some(id) = self.fanout.too_slow.pop() {
            if let Some(member) = self.members.get(&id) {
                warn!(
                    "slow client dropped: {} {:?} (more than {} bytes queued)",
                    member.peer,
                    member.nick.as_deref().unwrap_or(""),
                    self.config.send_queue_bytes
                );
                self.summary.slow_drops += 1;
                self.remove(id, LeaveReason::TooSlow);
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, id)) = self.login_deadlines.front() {
            if deadline > now {
                break;
            }
            self.login_deadlines.pop_front();
            let Some(member) = self.members.get(&id) else {
                continue;
            };
            if member.nick.is_some() {
                continue;
            }
            info!(
                "rejected {}: no nickname after {}s",
                member.peer, self.config.login_timeout_secs
            );
            self.shared.rejections.fetch_add(1, Ordering::Relaxed);
            member.outbox.push_final(line(
                self.texts.login_timeout(self.config.login_timeout_secs),
            ));
            member.outbox.close();
            self.members.remove(&id);
        }
        let interval = self.config.stats_interval_secs;
        if interval > 0 && now.duration_since(self.last_health) >= Duration::from_secs(interval) {
            self.last_health = now;
            self.log_health();
        }
        let stopping = self.shutting_down;
        let (clients, registered) = (self.members.len(), self.registered());
        self.heartbeat.tick(now, clients, registered, stopping);
    }

    fn log_health(&self) {
        info!(
            "health: clients={} registered={} lines_in={} deliveries={} slow_drops={} rejections={} peak_queue_bytes={} uptime={}s",
            self.members.len(),
            self.registered(),
            self.summary.lines_in,
            self.fanout.deliveries,
            self.summary.slow_drops,
            self.shared.rejections.load(Ordering::Relaxed),
            self.fanout.peak_queue_bytes,
            self.started.elapsed().as_secs()
        );
    }

    fn begin_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        let grace = self.config.shutdown_grace_secs;
        let msg = line(self.texts.shutdown_begun(grace));
        // Everyone hears it, registered or not, so it is not a broadcast.
        let ids: Vec<ClientId> = self.members.keys().copied().collect();
        for id in ids {
            self.send(id, Arc::clone(&msg));
        }
    }

    /// The end of a shutdown: the last notice to everyone, then close every outbox
    /// after what it holds has been written.
    fn close_all(&mut self) {
        let msg = line(self.texts.shutdown_now());
        self.summary.clients_at_close = self.members.len();
        for (_, member) in self.members.drain() {
            member.outbox.push_final(Arc::clone(&msg));
            member.outbox.close();
            if let Some(nick) = member.nick {
                info!(
                    "left {nick:?} from {}: {}",
                    member.peer,
                    LeaveReason::Shutdown.describe()
                );
            }
        }
        self.nicks.clear();
        self.log_health();
    }
}
