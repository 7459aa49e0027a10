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

/// A round handles at most this many events before its broadcasts go out, so
/// that under a steady flood of events lines still leave every few milliseconds.
pub const ROUND_EVENTS: usize = 256;

/// A round's broadcasts go out early once they add up to this many bytes: each
/// recipient then gets blocks of a bounded size.
pub const ROUND_BYTES: usize = 64 * 1024;

/// Join lines carry the whole list of names only while the room is at most this
/// big: in a room of thousands a list in every join line would be most of the traffic.
pub const JOIN_LIST_MAX_ROOM: usize = 20;

/// What the room reacts to.
#[derive(Debug, Clone)]
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
    /// Queues `msg`, which holds `lines` lines, for one client.
    fn push(&mut self, id: ClientId, outbox: &Outbox, msg: Line, lines: u64, limit: usize) {
        match outbox.try_push(msg, limit) {
            Ok(bytes) => {
                self.deliveries += lines;
                self.peak_queue_bytes = self.peak_queue_bytes.max(bytes);
            }
            Err(PushError::Full) => self.too_slow.push(id),
            // The writer already gave up on this connection; the reader's
            // Disconnected event is on its way and will remove it.
            Err(PushError::Closed) => {}
        }
    }
}

/// The broadcasts of the current round, not yet queued to anyone.
///
/// While events keep coming, the room handles a round of them before it queues
/// their broadcasts, and then queues them as one block per recipient: a round of
/// 100 joins in a room of 10,000 is 10,000 pushes, not a million. Each recipient
/// still gets exactly the lines it would have got one by one, in the same order
/// relative to what is sent to it alone.
#[derive(Default)]
struct Round {
    /// Each broadcast, and the one registered member it is not for.
    lines: Vec<(Line, Option<ClientId>)>,
    bytes: usize,
    /// Registered members for whom the round is not simply all of `lines`, with
    /// the first line that is for them: they registered mid-round, were caught up
    /// mid-round (before a line sent to them alone), or are the exception of a
    /// line (skipped when their block is built).
    partial: HashMap<ClientId, usize>,
}

impl Round {
    /// The lines from `start` on that are for `who` (all of them for `None`), as
    /// one block, and how many lines it holds.
    fn block(&self, who: Option<ClientId>, start: usize) -> Option<(Line, u64)> {
        let mut mine = self.lines[start..]
            .iter()
            .filter(|(_, except)| who.is_none() || *except != who)
            .map(|(line, _)| line);
        let first = mine.next()?;
        let Some(second) = mine.next() else {
            // One line: share it, no copy.
            return Some((Arc::clone(first), 1));
        };
        let mut block = Vec::with_capacity(self.bytes);
        block.extend_from_slice(first);
        block.extend_from_slice(second);
        let mut count = 2;
        for line in mine {
            block.extend_from_slice(line);
            count += 1;
        }
        Some((Arc::from(block), count))
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
    round: Round,
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
    let mut room = Room::new(config, shared);
    // No yielding between events: while events keep coming the room works
    // through a round of them, queues the round's broadcasts as one block per
    // recipient, and each writer then finds a long run of lines to send in one
    // write. Under load that batching is what keeps a delivery cheap; the
    // bounded room queue makes the readers, not the outboxes, wait.
    while let Ok(event) = events.recv().await {
        let mut done = room.handle(event);
        let mut handled = 1;
        while !done && handled < ROUND_EVENTS {
            let Ok(event) = events.try_recv() else {
                break;
            };
            done = room.handle(event);
            handled += 1;
        }
        room.end_round();
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
    fn new(config: Arc<Config>, shared: Arc<SharedCounters>) -> Room {
        let now = Instant::now();
        Room {
            texts: texts_for(&config),
            config,
            members: HashMap::new(),
            nicks: BTreeMap::new(),
            history: VecDeque::new(),
            login_deadlines: VecDeque::new(),
            fanout: Fanout::default(),
            round: Round::default(),
            shutting_down: false,
            started: now,
            last_health: now,
            summary: Summary::default(),
            shared,
            heartbeat: crate::systemd::Heartbeat::from_env(),
        }
    }

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

    /// Queues `msg` for one client, after the round's broadcasts that came
    /// before it; an overflow marks it too slow.
    fn send(&mut self, id: ClientId, msg: Line) {
        self.catch_up(id);
        if let Some(member) = self.members.get(&id) {
            let limit = self.config.send_queue_bytes;
            self.fanout.push(id, &member.outbox, msg, 1, limit);
        }
    }

    /// Sends every registered client except `except` the line `msg`, with the
    /// rest of the round's broadcasts.
    fn broadcast(&mut self, msg: &Line, except: Option<ClientId>) {
        self.round.lines.push((Arc::clone(msg), except));
        self.round.bytes += msg.len();
        if let Some(id) = except {
            self.round.partial.entry(id).or_insert(0);
        }
        if self.round.bytes >= ROUND_BYTES {
            self.flush();
        }
    }

    /// Queues for `id` the round's broadcasts it has not got yet, so that a line
    /// sent to it alone comes after them, as it was sent.
    fn catch_up(&mut self, id: ClientId) {
        if self.round.lines.is_empty() {
            return;
        }
        let Some(member) = self.members.get(&id) else {
            return;
        };
        if member.nick.is_none() {
            return; // Broadcasts are for registered members only.
        }
        let start = self.round.partial.get(&id).copied().unwrap_or(0);
        if let Some((block, lines)) = self.round.block(Some(id), start) {
            let limit = self.config.send_queue_bytes;
            self.fanout.push(id, &member.outbox, block, lines, limit);
        }
        self.round.partial.insert(id, self.round.lines.len());
    }

    /// Queues the round's broadcasts: the whole round as one shared block for
    /// most members, a block of their own for the few in `partial`.
    fn flush(&mut self) {
        if self.round.lines.is_empty() {
            return;
        }
        let everything = self.round.block(None, 0);
        let limit = self.config.send_queue_bytes;
        for (&id, member) in &self.members {
            if member.nick.is_none() {
                continue;
            }
            let block = match self.round.partial.get(&id) {
                None => everything.clone(),
                Some(&start) => self.round.block(Some(id), start),
            };
            if let Some((block, lines)) = block {
                self.fanout.push(id, &member.outbox, block, lines, limit);
            }
        }
        self.round.lines.clear();
        self.round.bytes = 0;
        self.round.partial.clear();
    }

    /// Ends a round: queues its broadcasts and drops whoever that overflowed
    /// (which, announced, starts the next round).
    fn end_round(&mut self) {
        loop {
            self.flush();
            if self.fanout.too_slow.is_empty() {
                break;
            }
            self.drop_too_slow();
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
        // The round's broadcasts so far were sent before this member was registered.
        self.round.partial.insert(id, self.round.lines.len());

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
        if reason != LeaveReason::TooSlow {
            // What was said before this client left is written before the close.
            self.catch_up(id);
        }
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

    /// Drops every client whose outbox overflowed. Their leave lines join the
    /// round; [`end_round`](Self::end_round) queues them, which can overflow
    /// another outbox, and calls this again.
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
        // Everyone's notice comes after the round so far, in one pass.
        self.flush();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::net::{Ipv4Addr, SocketAddr};

    const CLIENTS: usize = 6;
    const NICKS: [&str; 4] = ["ann", "Bob", "carl", "ANN"];

    /// A room and its clients' outboxes, fed events directly (no sockets).
    struct Harness {
        room: Room,
        outboxes: Vec<Arc<Outbox>>,
    }

    impl Harness {
        fn new() -> Self {
            // The room logs every join; thousands of them would bury the test output.
            crate::log::set_level(crate::config::LogLevel::Error);
            let config = Config {
                history: 3,
                ..Config::default()
            };
            let mut harness = Harness {
                room: Room::new(Arc::new(config), Arc::default()),
                outboxes: Vec::new(),
            };
            for i in 0..CLIENTS {
                let outbox = Arc::new(Outbox::new());
                harness.outboxes.push(Arc::clone(&outbox));
                let id = i as ClientId;
                let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000 + i as u16));
                harness.room.handle(Event::Connected { id, peer, outbox });
                harness.room.end_round();
            }
            harness
        }

        /// Everything queued for each client so far.
        fn output(&self) -> Vec<String> {
            self.outboxes
                .iter()
                .map(|outbox| {
                    let mut got = Vec::new();
                    while let Some(Some(lines)) =
                        smol::block_on(smol::future::poll_once(outbox.next_lines()))
                    {
                        for line in lines {
                            got.extend_from_slice(&line);
                            outbox.written(line.len());
                        }
                    }
                    String::from_utf8(got).unwrap()
                })
                .collect()
        }
    }

    fn random_event(rng: &mut Rng) -> Event {
        let id = rng.below(CLIENTS) as ClientId;
        let nick = NICKS[rng.below(NICKS.len())];
        // Leaving is rare, so that most cases keep a room to talk in.
        let text = match rng.below(40) {
            0..=5 => nick.to_owned(),
            6..=21 => format!("hello {}", rng.below(100)),
            22..=24 => "/me waves".to_owned(),
            25..=28 => format!("/msg {nick} psst"),
            29..=31 => format!("/nick {nick}"),
            32..=33 => "/who".to_owned(),
            34 => "/quit".to_owned(),
            35..=37 => return Event::TooLong { id },
            _ => {
                let reason = LeaveReason::Closed;
                return Event::Disconnected { id, reason };
            }
        };
        Event::Line { id, text }
    }

    /// Coalescing a round's broadcasts must not change what anyone receives:
    /// the same events, handled in rounds of random length, give every client
    /// byte for byte what handling them one at a time gives.
    #[test]
    fn rounds_deliver_what_single_events_deliver() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut cases_with_chat = 0;
        for case in 0..300 {
            let events: Vec<Event> = (0..80).map(|_| random_event(&mut rng)).collect();

            let mut one_by_one = Harness::new();
            for event in &events {
                one_by_one.room.handle(event.clone());
                one_by_one.room.end_round();
            }

            let mut in_rounds = Harness::new();
            let mut rest = &events[..];
            while !rest.is_empty() {
                let (round, later) = rest.split_at(1 + rng.below(rest.len()));
                for event in round {
                    in_rounds.room.handle(event.clone());
                }
                in_rounds.room.end_round();
                rest = later;
            }

            let expected = one_by_one.output();
            // A chat line that reached someone other than its sender.
            let heard = expected
                .iter()
                .filter(|out| out.contains(": hello"))
                .count();
            cases_with_chat += usize::from(heard > 0);
            assert_eq!(in_rounds.output(), expected, "case {case}");
            assert_eq!(
                in_rounds.room.fanout.deliveries, one_by_one.room.fanout.deliveries,
                "case {case}"
            );
        }
        // Otherwise the cases would prove little.
        assert!(
            cases_with_chat > 250,
            "{cases_with_chat} of 300 cases had chat"
        );
    }

    /// A big round goes out in blocks of about `ROUND_BYTES`, not as one block
    /// that could by itself exceed a client's queue bound.
    #[test]
    fn a_big_round_is_flushed_in_bounded_blocks() {
        let mut harness = Harness::new();
        for (i, nick) in ["ann", "bob"].into_iter().enumerate() {
            let id = i as ClientId;
            harness.room.handle(Event::Line {
                id,
                text: nick.into(),
            });
        }
        harness.room.end_round();
        harness.output();
        let text = "x".repeat(1000);
        let lines = 3 * ROUND_BYTES / text.len();
        for _ in 0..lines {
            let text = text.clone();
            harness.room.handle(Event::Line { id: 0, text });
        }
        harness.room.end_round();
        let bob = &harness.outboxes[1];
        let batch = smol::block_on(bob.next_lines()).unwrap();
        assert!(batch.len() >= 3, "{} blocks", batch.len());
        let largest = batch.iter().map(|b| b.len()).max().unwrap();
        assert!(
            largest < ROUND_BYTES + 2 * text.len(),
            "block of {largest} bytes"
        );
        let total: usize = batch.iter().map(|b| b.len()).sum();
        assert!(total >= lines * text.len(), "only {total} bytes");
    }
}
