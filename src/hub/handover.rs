//! The hub's part of a live upgrade: stopping every connection, writing
//! everything the hub owns into the handover state, and reading it back in
//! the new image.
//!
//! Freezing ([`Hub::begin_freeze`]): the round so far goes out, every
//! member's outbox is frozen (its writer puts back what it has not written
//! and stops), and each connection's task then hands its socket and its
//! reader's state to the hub ([`Event::Frozen`](super::Event::Frozen), after every line that
//! reader sent, so the hub has handled them all). Once every member has
//! (or has left), the hub ends the round and writes the state: what is
//! written is exactly what users have been sent or will be, nothing in
//! between. Until the server execs (or, if the exec fails, thaws it), the
//! hub changes nothing: control requests are refused, ticks wait.
//!
//! The layout, in order: counters, bans and mutes, rooms (each in its slot,
//! with history, topic, maker and pending presence), members (each with its
//! socket's descriptor, nickname, room, operator flag, comfort, queued
//! output, backlog watch and reader state), login deadlines.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use async_channel::Sender;

use crate::bans::{AddressList, Bans, Kind};
use crate::config::Config;
use crate::handover::{Clock, DecodeError, Decoder, Encoder};
use crate::history::{Disk, Said};
use crate::input::{Handed, Input};
use crate::nick::nick_key;
use crate::outbox::Outbox;

use super::backlog::Backlog;
use super::members::{Comfort, IdMap};
use super::rooms::{HistoryEntry, Presence, Room, Rooms};
use super::{ClientId, Hub, SharedCounters, block};

/// What the hub hands the server once every connection is frozen.
#[derive(Debug)]
pub struct Frozen {
    /// The hub's part of the state.
    pub state: Vec<u8>,
    /// Every member's socket and reader state: the sockets must outlive the
    /// exec, and if it fails the server starts their tasks again from these.
    pub conns: Vec<(ClientId, Box<Handed>)>,
}

/// A live upgrade under way, as the hub sees it.
pub(super) enum Upgrade {
    /// Waiting for these members' connections to hand themselves over.
    Freezing {
        reply: Sender<Frozen>,
        waiting: HashSet<ClientId>,
        handed: Vec<(ClientId, Box<Handed>)>,
    },
    /// The state is written; the server execs, or thaws the hub.
    Frozen,
}

/// A connection as a new image restores it: the server adopts its socket
/// and starts its task.
#[derive(Debug)]
pub struct Resumed {
    /// Its id, as before.
    pub id: ClientId,
    /// Its socket's descriptor, inherited across the exec.
    pub fd: RawFd,
    /// Its outbox, holding what it had not been sent.
    pub outbox: Arc<Outbox>,
    /// Its reader's state.
    pub input: Input,
}

/// Reads a hub back from a handover state (what `Hub::encode` wrote): the
/// hub [`dispatch_restored`](super::dispatch_restored) runs.
///
/// # Errors
/// A damaged or truncated state, or one that contradicts itself; with
/// the bans back (whatever of the old lists was read already in them),
/// for a hub that starts afresh.
pub fn restore(
    state: &[u8],
    config: Arc<Config>,
    shared: Arc<SharedCounters>,
    bans: Bans,
    disk: Disk,
) -> Result<Restored, Box<NotRestored>> {
    let mut hub = Hub::new(config, shared, bans, disk);
    match hub.read_state(state) {
        Ok(conns) => {
            // The state is newer than the disk, which an exec may have
            // cut mid-write: what the start read is dropped, and every
            // kept room's history and the kept rooms file are written
            // again from what the hub holds.
            drop(hub.disk.take_found());
            hub.attach_disk();
            hub.rewrite_histories();
            hub.save_kept();
            Ok(Restored { hub, conns })
        }
        Err(error) => Err(Box::new(NotRestored {
            error,
            bans: hub.bans,
            disk: hub.disk,
        })),
    }
}

/// Why a hub could not be read back, and the bans it was given (with
/// whatever of the old lists was read already in them), for a hub that
/// starts afresh.
pub struct NotRestored {
    /// What is wrong with the state.
    pub error: DecodeError,
    /// The bans, back.
    pub bans: Bans,
    /// The disk, back, with what the start read of it still in it.
    pub disk: Disk,
}

/// A hub read back from a handover state, ready for [`super::dispatch_restored`].
pub struct Restored {
    pub(super) hub: Hub,
    /// The connections, for the server to adopt.
    pub conns: Vec<Resumed>,
}

impl Hub {
    /// Starts freezing for a live upgrade; `reply` gets the state.
    pub(super) fn begin_freeze(&mut self, reply: Sender<Frozen>) {
        if self.upgrade.is_some() || self.shutting_down {
            return; // Dropping `reply` tells the server no.
        }
        self.flush();
        let waiting: HashSet<ClientId> = self.members.iter().map(|(id, _)| id).collect();
        for (_, member) in self.members.iter() {
            member.outbox.freeze();
        }
        self.upgrade = Some(Upgrade::Freezing {
            reply,
            waiting,
            handed: Vec::new(),
        });
    }

    /// A connection handed itself over.
    pub(super) fn frozen_conn(&mut self, id: ClientId, handed: Box<Handed>) {
        if let Some(Upgrade::Freezing {
            waiting,
            handed: all,
            ..
        }) = &mut self.upgrade
            && waiting.remove(&id)
        {
            all.push((id, handed));
        }
        // Otherwise it left meanwhile: dropping it closes the socket.
    }

    /// A member left while the hub waits for it to freeze.
    pub(super) fn unfreeze_wait(&mut self, id: ClientId) {
        if let Some(Upgrade::Freezing { waiting, .. }) = &mut self.upgrade {
            waiting.remove(&id);
        }
    }

    /// Once every member is in: ends the round, writes the state and hands
    /// it to the server.
    pub(super) fn finish_freeze_if_done(&mut self) {
        let done =
            matches!(&self.upgrade, Some(Upgrade::Freezing { waiting, .. }) if waiting.is_empty());
        if !done {
            return;
        }
        // Leave lines of those who left meanwhile, and what the last lines
        // handled said, go into the outboxes (and so into the state).
        self.end_round();
        let Some(Upgrade::Freezing { reply, handed, .. }) = self.upgrade.replace(Upgrade::Frozen)
        else {
            return;
        };
        let conns: Vec<_> = handed
            .into_iter()
            .filter(|(id, _)| self.members.get(*id).is_some())
            .collect();
        let state = self.encode(&conns);
        if let Err(err) = reply.try_send(Frozen { state, conns }) {
            // The server gave up on the upgrade (it cannot, while it waits):
            // the connections' tasks have ended and their sockets close with
            // the state dropped here, so their members go too.
            self.upgrade = None;
            for (id, _) in err.into_inner().conns {
                let why = "the live upgrade was abandoned".to_owned();
                self.remove(id, crate::text::LeaveReason::Error(why));
            }
        }
    }

    /// The exec failed: events are handled as ever again. The server thaws
    /// each outbox itself, before it starts that connection's task again.
    pub(super) fn thaw(&mut self) {
        self.upgrade = None;
    }

    /// Writes the hub's state; `conns` give each member's socket and reader.
    pub(super) fn encode(&self, conns: &[(ClientId, Box<Handed>)]) -> Vec<u8> {
        let clock = Clock::now();
        let mut enc = Encoder::new();
        enc.i64(clock.encode(self.started));
        enc.i64(clock.encode(self.last_health));
        enc.u64(self.summary.lines_in);
        enc.u64(self.summary.slow_drops);
        enc.u64(self.fanout.deliveries);
        enc.u64(self.fanout.delivered_bytes);
        enc.usize(self.fanout.peak_queue_bytes);
        let (plain, actions) = self.counts.values();
        enc.usize(plain.len());
        plain.iter().for_each(|&n| enc.u64(n));
        enc.usize(actions.len());
        for (name, n) in actions {
            enc.str(name);
            enc.u64(n);
        }
        let shared = self.shared.values();
        enc.usize(shared.len());
        shared.iter().for_each(|&n| enc.u64(n));
        for kind in Kind::ALL {
            enc.str(&self.bans.list(kind).render());
        }
        // Rooms.
        let rooms: Vec<_> = self.rooms.iter().collect();
        enc.usize(rooms.len());
        for (id, room) in rooms {
            enc.u32(id);
            enc.opt_str(room.name().map(|n| &**n));
            enc.opt_str(room.topic.as_deref());
            enc.opt_u64(room.creator);
            enc.bool(room.kept);
            enc.u64(room.said());
            enc.u64(room.presence.joined);
            enc.u64(room.presence.left);
            enc.bool(room.presence.since.is_some());
            if let Some(since) = room.presence.since {
                enc.i64(clock.encode(since));
            }
            enc.usize(room.history.len());
            for entry in &room.history {
                enc.opt_u64(entry.author);
                enc.u8(match entry.said {
                    Said::Chat => 0,
                    Said::Action => 1,
                });
                enc.str(&entry.nick);
                enc.bytes(&entry.line);
                enc.str(entry.text.as_str());
                enc.u64(entry.at);
                enc.u64(entry.seq);
            }
        }
        // Members, with their connections.
        enc.usize(conns.len());
        for (id, handed) in conns {
            let Some(member) = self.members.get(*id) else {
                continue;
            };
            enc.u64(*id);
            enc.i64(i64::from(handed.stream.get_ref().as_raw_fd()));
            enc.str(&member.peer.to_string());
            enc.opt_str(member.nick.as_deref());
            enc.u32(member.room);
            enc.i64(clock.encode(member.since));
            enc.i64(clock.encode(member.last_input));
            enc.bool(member.op);
            enc.u64(member.lobby_seen);
            encode_comfort(&mut enc, member.own());
            let (queued, written) = member.outbox.contents();
            enc.bytes(&queued);
            enc.u64(written);
            let backlog = self.fanout.backlogs.get(id);
            enc.bool(backlog.is_some());
            if let Some(backlog) = backlog {
                let (over_since, written, moved_at) = backlog.parts();
                enc.i64(clock.encode(over_since));
                enc.u64(written);
                enc.i64(clock.encode(moved_at));
            }
            handed.input.encode(&mut enc, &clock);
        }
        enc.usize(self.login_deadlines.len());
        for &(deadline, id) in &self.login_deadlines {
            enc.i64(clock.encode(deadline));
            enc.u64(id);
        }
        enc.finish()
    }

    /// Reads the state into this new hub; the connections, for the server.
    fn read_state(&mut self, state: &[u8]) -> Result<Vec<Resumed>, DecodeError> {
        let hub = self;
        let clock = Clock::now();
        let mut dec = Decoder::open(state)?;
        let dec = &mut dec;
        hub.started = clock.decode(dec.i64("the start time")?);
        hub.last_health = clock.decode(dec.i64("the health line's time")?);
        hub.summary.lines_in = dec.u64("lines in")?;
        hub.summary.slow_drops = dec.u64("slow drops")?;
        hub.fanout.deliveries = dec.u64("deliveries")?;
        hub.fanout.delivered_bytes = dec.u64("delivered bytes")?;
        hub.fanout.peak_queue_bytes = dec.usize("the peak queue")?;
        let n = dec.count("counters", 8)?;
        let plain = (0..n)
            .map(|_| dec.u64("a counter"))
            .collect::<Result<Vec<_>, _>>()?;
        let n = dec.count("moderation counters", 16)?;
        let mut actions = Vec::with_capacity(n);
        for _ in 0..n {
            actions.push((
                dec.str("an action")?.to_owned(),
                dec.u64("an action count")?,
            ));
        }
        hub.counts.restore(&plain, &actions);
        let n = dec.count("shared counters", 8)?;
        let values = (0..n)
            .map(|_| dec.u64("a counter"))
            .collect::<Result<Vec<_>, _>>()?;
        hub.shared.add_values(&values);
        for kind in Kind::ALL {
            let text = dec.str("a ban or mute list")?;
            let list = AddressList::parse(kind, text)
                .map_err(|e| dec.bad("a ban or mute list", &e.to_string()))?;
            hub.bans.adopt(list);
        }

        let n = dec.count("rooms", 8)?;
        let mut rooms = Vec::with_capacity(n);
        for _ in 0..n {
            let id = dec.u32("a room's slot")?;
            let name = dec.opt_str("a room's name")?.map(Arc::from);
            let topic = dec.opt_str("a topic")?.map(str::to_owned);
            let creator = dec.opt_u64("a room's maker")?;
            let kept = dec.bool("a kept flag")?;
            let said = dec.u64("a room's line count")?;
            let mut presence = Presence {
                joined: dec.u64("joins")?,
                left: dec.u64("leaves")?,
                since: None,
            };
            if dec.bool("a presence time")? {
                presence.since = Some(clock.decode(dec.i64("a presence time")?));
            }
            let count = dec.count("history", 32)?;
            let mut history = VecDeque::with_capacity(count);
            for _ in 0..count {
                let author = dec.opt_u64("a line's author")?;
                let said = match dec.u8("a line's kind")? {
                    0 => Said::Chat,
                    1 => Said::Action,
                    tag => return Err(dec.bad("a line's kind", &format!("tag {tag}"))),
                };
                let nick: Arc<str> = Arc::from(dec.str("a line's author")?);
                let line = block_of(dec.bytes("a history line")?);
                let text = dec.str("a line's words")?;
                if !line.ends_with(format!("{text}\r\n").as_bytes()) {
                    return Err(dec.bad("a history line", "its words are not its end"));
                }
                let at = dec.u64("a line's time")?;
                let mut entry = HistoryEntry::new(author, said, &nick, line, text, at);
                entry.seq = dec.u64("a line's place")?;
                history.push_back(entry);
            }
            let mut room = Room::restored(name, topic, creator, history, presence, said);
            room.kept = kept;
            rooms.push((id, room));
        }
        hub.rooms = Rooms::restored(rooms).map_err(|e| dec.bad("the rooms", &e))?;

        let n = dec.count("connections", 64)?;
        let mut conns = Vec::with_capacity(n);
        let mut fds = HashSet::with_capacity(n);
        let mut backlogs: IdMap<Backlog> = IdMap::default();
        for _ in 0..n {
            let id = dec.u64("a connection")?;
            let fd = dec.i64("a descriptor")?;
            let fd = RawFd::try_from(fd)
                .ok()
                .filter(|&fd| fd > 2 && fds.insert(fd))
                .ok_or_else(|| dec.bad("a descriptor", &fd.to_string()))?;
            let peer: SocketAddr = dec
                .str("an address")?
                .parse()
                .map_err(|_| dec.bad("an address", "not an address"))?;
            let nick = dec.opt_str("a nickname")?.map(str::to_owned);
            let room = dec.u32("a member's room")?;
            let since = clock.decode(dec.i64("a connect time")?);
            let last_input = clock.decode(dec.i64("an input time")?);
            let op = dec.bool("an operator flag")?;
            let lobby_seen = dec.u64("the lobby's line count")?;
            let own = decode_comfort(dec)?;
            let queued = dec.bytes("queued output")?.to_vec();
            let written = dec.u64("bytes written")?;
            if dec.bool("a backlog")? {
                let over_since = clock.decode(dec.i64("a backlog time")?);
                let written = dec.u64("a backlog count")?;
                let moved_at = clock.decode(dec.i64("a backlog time")?);
                backlogs.insert(id, Backlog::from_parts(over_since, written, moved_at));
            }
            let input = Input::decode(dec, &clock)?;
            if hub.members.get(id).is_some() || hub.rooms.get(room).is_none() {
                return Err(dec.bad("a connection", &format!("client {id} in room {room}")));
            }
            let outbox = Arc::new(Outbox::restored(queued, written));
            hub.members.connect(id, peer, Arc::clone(&outbox));
            if let Some(nick) = &nick {
                if !hub.members.set_nick(id, nick) {
                    return Err(dec.bad("a nickname", &format!("{nick:?} twice")));
                }
                hub.rooms.add(room, nick_key(nick), id);
            }
            let member = hub.members.get_mut(id).expect("connected above");
            member.room = room;
            member.since = since;
            member.last_input = last_input;
            member.op = op;
            member.lobby_seen = lobby_seen;
            member.set_own(own);
            conns.push(Resumed {
                id,
                fd,
                outbox,
                input,
            });
        }
        hub.fanout.backlogs = backlogs;
        let n = dec.count("login deadlines", 16)?;
        for _ in 0..n {
            let deadline = clock.decode(dec.i64("a login deadline")?);
            let id = dec.u64("a login deadline's client")?;
            hub.login_deadlines.push_back((deadline, id));
        }
        dec.end()?;
        Ok(conns)
    }

    /// After a restore: every client hears, once, that the server was
    /// upgraded (`upgrade_notice`), after whatever it had not been sent.
    /// Within the hard bound: a client that stopped reading is not dropped
    /// for the notice.
    pub(super) fn announce_upgrade(&mut self) {
        if !self.config.upgrade_notice {
            return;
        }
        let notice = block(self.texts.upgraded());
        for (_, member) in self.members.iter() {
            let _ = member
                .outbox
                .try_push(Arc::clone(&notice), self.bounds.hard);
        }
    }
}

fn block_of(bytes: &[u8]) -> crate::outbox::Block {
    Arc::from(bytes)
}

fn encode_comfort(enc: &mut Encoder, own: Option<&Comfort>) {
    enc.bool(own.is_some());
    let Some(own) = own else {
        return;
    };
    enc.opt_str(own.away.as_deref());
    enc.bool(own.reply_to.is_some());
    if let Some((id, nick)) = &own.reply_to {
        enc.u64(*id);
        enc.str(nick);
    }
    enc.usize(own.ignored.len());
    for &id in &own.ignored {
        enc.u64(id);
    }
    enc.bool(own.no_bell);
    enc.bool(own.no_colors);
    enc.bool(own.timestamps);
}

fn decode_comfort(dec: &mut Decoder<'_>) -> Result<Option<Box<Comfort>>, DecodeError> {
    if !dec.bool("comfort settings")? {
        return Ok(None);
    }
    let away = dec.opt_str("an away message")?.map(str::to_owned);
    let reply_to = if dec.bool("a reply partner")? {
        Some((
            dec.u64("a reply partner")?,
            Arc::from(dec.str("a reply partner")?),
        ))
    } else {
        None
    };
    let n = dec.count("ignored users", 8)?;
    let mut ignored = HashSet::with_capacity(n);
    for _ in 0..n {
        ignored.insert(dec.u64("an ignored user")?);
    }
    Ok(Some(Box::new(Comfort {
        away,
        reply_to,
        ignored,
        no_bell: dec.bool("a bell setting")?,
        no_colors: dec.bool("a colors setting")?,
        timestamps: dec.bool("a timestamps setting")?,
    })))
}
